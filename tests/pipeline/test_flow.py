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

import importlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from aerofs_pipelines import cli, sample_data
from aerofs_pipelines.lake.storage import Storage, open_storage
from tests.pipeline.test_assets import BAD_ORDERS, assert_sample_outputs, snapshot
from tests.pipeline.test_sensor import evaluate_tick
from tests.pipeline.test_storage import s3_env  # noqa: F401  (fixture)

REPO = Path(__file__).resolve().parents[2]


def product_instance(home: Path) -> dg.DagsterInstance:
    """An instance loaded from the product's dagster.yaml in a fresh DAGSTER_HOME."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    return dg.DagsterInstance.from_config(str(home))


def product_defs() -> dg.Definitions:
    """``definitions.defs`` as the code location builds it from the current environment."""
    import aerofs_pipelines.definitions as module

    return importlib.reload(module).defs()


def tick(
    defs: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None
) -> tuple[list[dg.RunRequest], list[str], str | None]:
    """One tick of the product's ``landing_sensor``: its run requests, the batches it
    registered, its new cursor."""
    repo = defs.get_repository_def()
    data = evaluate_tick(instance, repo.get_sensor_def("landing_sensor"), repo, cursor)
    added: list[str] = []
    for request in data.dynamic_partitions_requests or []:
        assert isinstance(request, dg.AddDynamicPartitionsRequest)
        assert request.partitions_def_name == "batches"
        added.extend(request.partition_keys)
    return list(data.run_requests or []), added, data.cursor


def launch(
    defs: dg.Definitions, instance: dg.DagsterInstance, request: dg.RunRequest
) -> dg.ExecuteInJobResult:
    """Execute the run a request names, as the run worker would (in process here)."""
    job = defs.resolve_job_def(request.job_name or "process_batch")
    return job.execute_in_process(
        instance=instance,
        partition_key=request.partition_key,
        tags=dict(request.tags),
        raise_on_error=False,
    )


def check_results(instance: dg.DagsterInstance, run_id: str) -> dict[str, bool]:
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    out: dict[str, bool] = {}
    for record in records:
        event = record.event_log_entry.dagster_event
        assert event is not None
        evaluation = event.event_specific_data
        out[evaluation.check_name] = evaluation.passed  # type: ignore[union-attr]
    return out


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


@pytest.fixture
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dg.DagsterInstance]:
    for name in ("AEROFS_PG_URL", "DAGSTER_PG_HOST", "AEROFS_DATASETS", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AEROFS_LANDING", str(tmp_path / "landing"))
    monkeypatch.setenv("AEROFS_LAKE", str(tmp_path / "lake"))
    instance = product_instance(tmp_path / "home")
    try:
        yield instance
    finally:
        instance.dispose()


def test_embedded_defaults_flow(
    embedded: dg.DagsterInstance, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert type(embedded.run_storage).__name__ == "SqliteRunStorage"
    run_flow(embedded, open_storage(str(tmp_path / "lake")), tmp_path, capsys)


def test_s3_and_postgres_flow(
    s3_env: str,  # noqa: F811
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
