"""``lake_maintenance``: the daily job expires old snapshots of every lake table, then
removes unreferenced files (tests/lake/test_orphans.py covers which); and it removes the
landing zone's abandoned HTTP uploads (tests/landing/test_uploads.py covers which)."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import dagster as dg
import pytest

from aerofs_pipelines import kernels
from aerofs_pipelines.defs.maintenance import KEEP_LAST, lake_maintenance, lake_maintenance_job
from aerofs_pipelines.defs.resources import LakeStore, LakeTables
from aerofs_pipelines.lake.iceberg import commit_batch, open_catalog
from aerofs_pipelines.lake.storage import LocalStorage
from aerofs_pipelines.landing.uploads import UPLOADS_DIR, BatchUploads
from tests.support.lake_files import pre_table_file
from tests.support.pipeline import product_defs


@pytest.fixture(autouse=True)
def landing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The landing zone the job cleans: a temporary folder, never the default one."""
    monkeypatch.setenv("AEROFS_LANDING", str(tmp_path / "landing"))
    return tmp_path / "landing"


def test_the_schedule_is_on_and_targets_the_job() -> None:
    defs = product_defs()
    schedule = defs.get_schedule_def("lake_maintenance")
    assert schedule.job_name == lake_maintenance_job.name
    assert schedule.default_status.value == "RUNNING"
    assert lake_maintenance.cron_schedule == "0 3 * * *"


def test_the_job_expires_snapshots_past_retention(
    lake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    resources = {"lake_tables": LakeTables(), "lake": LakeStore(url=str(lake))}
    # no tables yet: nothing to do, no failure
    empty = lake_maintenance_job.execute_in_process(resources=resources)
    assert empty.success and empty.output_for_node("expire_lake_snapshots") == 0

    location = lake / "tables" / "orders"
    batches = KEEP_LAST + 3
    for n in range(batches):
        src = tmp_path / f"b{n}.csv"
        src.write_text(f"id\n{n}\n")
        dst = location / f"batch=b{n}" / "p.parquet"
        dst.parent.mkdir(parents=True)
        kernels.csv_to_parquet(src, dst, constant_columns={"batch_id": f"b{n}"})
        commit_batch(open_catalog(), "orders", f"b{n}", [str(dst)], location=str(location))

    monkeypatch.setenv("AEROFS_LAKE_SNAPSHOT_RETENTION_DAYS", "7")  # all younger: kept
    kept = lake_maintenance_job.execute_in_process(resources=resources)
    assert kept.output_for_node("expire_lake_snapshots") == 0

    monkeypatch.setenv("AEROFS_LAKE_SNAPSHOT_RETENTION_DAYS", "0")
    result = lake_maintenance_job.execute_in_process(resources=resources)
    assert result.success and result.output_for_node("expire_lake_snapshots") == 3
    # the expired snapshots' files are younger than three days: kept for now
    assert result.output_for_node("remove_lake_orphan_files") == 0
    table = open_catalog().load_table("aerofs.orders")
    assert len(table.snapshots()) == KEEP_LAST
    assert table.scan().to_arrow().num_rows == batches  # every batch's rows are still there


def test_the_job_removes_abandoned_uploads(
    lake: Path, landing: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uploads = BatchUploads(LocalStorage(landing), max_bytes=1024)
    for batch_id in ("abandoned", "active", "done"):
        with uploads.begin(batch_id, "a.csv", "client-1") as up:
            up.write(b"x\n1\n")
            up.finish()
    uploads.complete("done", "client-1")
    old = time.time() - 3 * 3600
    for path in [*(landing / "abandoned").iterdir(), *(landing / UPLOADS_DIR).rglob("*")]:
        if "abandoned" in path.parts:
            os.utime(path, (old, old))

    monkeypatch.setenv("AEROFS_UPLOAD_EXPIRY_HOURS", "2")
    resources = {"lake_tables": LakeTables(), "lake": LakeStore(url=str(lake))}
    result = lake_maintenance_job.execute_in_process(resources=resources)
    assert result.success
    assert result.output_for_node("remove_abandoned_uploads") == 1
    (output,) = [
        e
        for e in result.events_for_node("remove_abandoned_uploads")
        if e.event_type_value == "STEP_OUTPUT"
    ]
    metadata = output.step_output_data.metadata
    assert metadata["batches"].value == ["abandoned"]
    assert metadata["files"].value == 1
    assert metadata["landing"].value == str(landing)
    assert not (landing / "abandoned" / "a.csv").exists()
    assert uploads.state("abandoned").state == "absent"
    # an upload younger than the expiry, and a completed batch, stay as they were
    assert uploads.state("active").state == "uploading"
    assert (landing / "active" / "a.csv").read_bytes() == b"x\n1\n"
    assert uploads.state("done").state == "landed"

    again = lake_maintenance_job.execute_in_process(resources=resources)
    assert again.output_for_node("remove_abandoned_uploads") == 0


def test_the_job_keeps_batches_from_before_the_tables_and_says_how_to_adopt_them(
    lake: Path, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    old = pre_table_file(lake, "orders", "old", "orders", "id\n1\n", days_ago=30)
    location = lake / "tables" / "orders"
    src = tmp_path / "new.csv"
    src.write_text("id\n2\n")
    dst = location / "batch=new" / "p.parquet"
    dst.parent.mkdir(parents=True)
    kernels.csv_to_parquet(src, dst, constant_columns={"batch_id": "new"})
    commit_batch(open_catalog(), "orders", "new", [str(dst)], location=str(location))

    resources = {"lake_tables": LakeTables(), "lake": LakeStore(url=str(lake))}
    result = lake_maintenance_job.execute_in_process(resources=resources, instance=instance)
    assert result.success and result.output_for_node("remove_lake_orphan_files") == 0
    assert old.exists()
    warnings = [
        e.user_message
        for e in instance.all_logs(result.run_id)
        if e.level == logging.WARNING and "aerofs tables adopt" in e.user_message
    ]
    assert len(warnings) == 1 and "aerofs.orders: 1 data files" in warnings[0], warnings
