"""The landing sensor on a local folder: exactly once, restarts, refusals, order, paging."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from aerofs_pipelines.landing.scan import record_ready
from tests.support.pipeline import Daemon, land, sensor_for


def test_each_batch_once_across_ticks_and_restart(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    root = tmp_path / "landing"
    for b in ("b1", "b2"):
        land(root, b, journal=True)
    land(root, "b3")  # written by another tool: found by the sweep
    daemon = Daemon(instance, sensor_for(root, sweep_interval=0))
    assert sorted(daemon.tick()) == ["b1", "b2", "b3"]
    assert daemon.tick() == []
    # Restart: a new sensor object and context, only the stored cursor carries over.
    land(root, "b4", journal=True)
    restarted = Daemon(instance, sensor_for(root, sweep_interval=0))
    restarted.cursor = daemon.cursor
    assert restarted.tick() == ["b4"]
    assert restarted.tick() == []
    # Re-ingesting a known id, or the same journal line twice, requests nothing.
    record_ready(str(root), "b1")
    assert restarted.tick() == []
    assert sorted(instance.get_dynamic_partitions("batches")) == ["b1", "b2", "b3", "b4"]


def test_incomplete_batch_waits_for_its_marker(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    root = tmp_path / "landing"
    land(root, "late", complete=False)
    daemon = Daemon(instance, sensor_for(root, sweep_interval=0))
    assert daemon.tick() == []
    (root / "late" / "_SUCCESS").write_text("")  # does not change the landing folder's mtime
    assert daemon.tick() == ["late"]


def test_invalid_ids_refused_and_logged(
    tmp_path: Path, instance: dg.DagsterInstance, capfd: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "landing"
    land(root, "ok-1")
    for bad in ("-dash", "sp ace", "x" * 129, "_hidden"):
        land(root, bad)
    journal = root / "_aerofs" / "events"
    journal.mkdir(parents=True)
    (journal / "20200101.log").write_text("../../etc\nok-2\n")
    land(root, "ok-2")
    daemon = Daemon(instance, sensor_for(root, sweep_interval=0))
    assert sorted(daemon.drain()) == ["ok-1", "ok-2"]
    refused = capfd.readouterr().err  # the sensor's context.log (dagster's stderr handler)
    for bad in ("'-dash'", "'sp ace'", "'_hidden'", "'../../etc'"):
        assert f"refused landing entry {bad}" in refused
    assert "invalid batch id" in refused
    assert sorted(instance.get_dynamic_partitions("batches")) == ["ok-1", "ok-2"]


def test_out_of_order_ids_are_not_missed(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    root = tmp_path / "landing"
    daemon = Daemon(instance, sensor_for(root, sweep_interval=0, max_per_tick=2, sweep_page=2))
    for b in ("m", "n", "o"):
        land(root, b)
    assert sorted(daemon.drain()) == ["m", "n", "o"]
    # Ids sorting before and between the ones already seen (get_s3_keys' since_key misses these).
    for b in ("a", "n0", "z", "b"):
        land(root, b)
    land(root, "c", journal=True)
    assert sorted(daemon.drain()) == ["a", "b", "c", "n0", "z"]
    assert sorted(daemon.requested) == sorted(set(daemon.requested))


def test_paging_bounds_each_tick(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    root = tmp_path / "landing"
    ids = [f"batch-{i:03d}" for i in range(25)]
    for i, b in enumerate(ids):
        land(root, b, journal=i % 2 == 0)
    daemon = Daemon(instance, sensor_for(root, sweep_interval=0, max_per_tick=7, sweep_page=5))
    sizes = []
    while keys := daemon.tick():
        sizes.append(len(keys))
    assert max(sizes) <= 7 and sum(sizes) == 25
    assert sorted(daemon.requested) == ids


def test_nothing_new_skips_without_sweeping(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    root = tmp_path / "landing"
    land(root, "only", journal=True)
    daemon = Daemon(instance, sensor_for(root, sweep_interval=3600))
    assert daemon.tick() == ["only"]
    cursor = daemon.cursor
    assert daemon.tick() == []
    assert daemon.cursor == cursor  # a skip: the cursor is not rewritten
