"""The whole flow through the product's own pieces, on both configurations.

``aerofs ingest`` → a tick of the real ``landing_sensor`` of ``definitions.defs`` →
the dynamic partitions and run requests it returns → the ``process_batch`` runs they
name, on an instance loaded from the product's ``dagster_home/dagster.yaml`` →
Parquet, rejects, manifest and text statistics in the lake; the checks pass or fail as
the data says; a second tick finds nothing new; re-running a batch rewrites identical
bytes. Once on S3 (moto server) with PostgreSQL instance storage, once on the embedded
defaults (SQLite, local folders).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from aerofs_pipelines import cli, sample_data
from aerofs_pipelines.lake.storage import Storage, open_storage
from tests.support.pipeline import (
    BAD_ORDERS,
    assert_sample_outputs,
    check_results,
    launch,
    product_defs,
    product_instance,
    snapshot,
    tick,
)


def run_flow(instance: dg.DagsterInstance, lake: Storage, tmp_path: Path, capsys: Any) -> None:
    src = sample_data.write_sample_batch(tmp_path / "src", "sample")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "orders.csv").write_text(BAD_ORDERS)
    for batch in ("day-2", "day-1"):  # out of order on purpose
        assert cli.main(["ingest", str(src.directory), "--batch", batch]) == 0
    assert cli.main(["ingest", str(bad / "orders.csv"), "--batch", "day-bad"]) == 0
    capsys.readouterr()

    defs = product_defs()
    requests, added, cursor = tick(defs, instance, None)
    assert sorted(added) == ["day-1", "day-2", "day-bad"]
    by_batch = {r.partition_key: r for r in requests}
    assert sorted(by_batch) == ["day-1", "day-2", "day-bad"]
    assert len(requests) == 3  # one run per batch, each requested once

    results = {batch: launch(defs, instance, r) for batch, r in by_batch.items()}
    for batch in ("day-1", "day-2"):
        assert results[batch].success, batch
        assert_sample_outputs(lake, batch, src.bad_line)
        checks = check_results(instance, results[batch].run_id)
        assert checks["tables_match_schema"] is True
        assert checks["tables_have_no_rejected_rows"] is False  # the one bad row
    # the registry schema is violated: the blocking check fails, summary not written
    assert not results["day-bad"].success
    assert check_results(instance, results["day-bad"].run_id)["tables_match_schema"] is False
    assert lake.exists("manifests/day-bad.json")
    assert not lake.exists("_dagster/batch_summary/day-bad.parquet")

    # a second tick (same cursor, as after a daemon restart) finds nothing new
    again, added_again, cursor_after = tick(defs, instance, cursor)
    assert again == [] and added_again == []

    # re-running a processed batch rewrites identical bytes (the cross-batch catalog may
    # change: it now also lists the bad batch's table, written before its check failed)
    def batch_outputs() -> dict[str, bytes]:
        return {k: v for k, v in snapshot(lake).items() if not k.startswith("catalog/")}

    before = batch_outputs()
    assert launch(defs, instance, by_batch["day-1"]).success
    after = batch_outputs()
    assert after.keys() == before.keys()
    assert [key for key in before if before[key] != after[key]] == []

    # a batch landing later is picked up by the next tick, and only it
    assert cli.main(["ingest", str(src.directory), "--batch", "day-3"]) == 0
    later, added_later, _ = tick(defs, instance, cursor_after)
    assert added_later == ["day-3"]
    assert [r.partition_key for r in later] == ["day-3"]


def test_embedded_defaults_flow(
    embedded: dg.DagsterInstance, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert type(embedded.run_storage).__name__ == "SqliteRunStorage"
    run_flow(embedded, open_storage(str(tmp_path / "lake")), tmp_path, capsys)


def test_s3_and_postgres_flow(
    s3_env: str,
    pg_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("DAGSTER_PG_HOST", "AEROFS_DATASETS", "AEROFS_LANDING_QUEUE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AEROFS_PG_URL", pg_url)
    monkeypatch.setenv("AEROFS_SWEEP_INTERVAL", "0")  # no SQS queue: list on every tick
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AEROFS_LANDING", f"s3://{s3_env}/landing")
    monkeypatch.setenv("AEROFS_LAKE", f"s3://{s3_env}/lake")
    instance = product_instance(tmp_path / "home")
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        run_flow(instance, open_storage(f"s3://{s3_env}/lake"), tmp_path, capsys)
        manifest = json.loads(
            open_storage(f"s3://{s3_env}/lake").read_bytes("manifests/day-1.json")
        )
        assert manifest["counts"]["processed"] == 2
    finally:
        instance.dispose()
