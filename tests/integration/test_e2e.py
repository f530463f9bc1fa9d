"""End to end on real services: `aerofs ingest` into S3 (moto server) → batch assets on a
PostgreSQL-backed Dagster instance → Parquet, rejects, manifest, text stats in the S3 lake."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from aerofs_pipelines import cli, sample_data
from aerofs_pipelines.lake.storage import open_storage
from tests.support.pipeline import (
    BAD_ORDERS,
    assert_sample_outputs,
    checks_by_name,
    env_resources,
    materialization_metadata,
    run_batches,
    snapshot,
)


@pytest.fixture
def pg_instance(pg_url: str, tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    """A Dagster instance whose run, event log and schedule storage is PostgreSQL."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        f"storage:\n  postgres:\n    postgres_url: {json.dumps(pg_url)}\n"
        "telemetry:\n  enabled: false\n"
    )
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        yield instance
    finally:
        instance.dispose()


def test_s3_and_postgres_end_to_end(
    s3_env: str,
    pg_instance: dg.DagsterInstance,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    landing_url, lake_url = f"s3://{s3_env}/landing", f"s3://{s3_env}/lake"
    resources: dict[str, Any] = env_resources(monkeypatch, landing_url, lake_url)
    src = sample_data.write_sample_batch(tmp_path / "src", "sample")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "orders.csv").write_text(BAD_ORDERS)

    for batch in ("s3-a", "s3-b"):
        assert cli.main(["ingest", str(src.directory), "--batch", batch, "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert [f["name"] for f in out["files"]] == ["notes.txt", "orders.csv"]
    assert cli.main(["ingest", str(bad / "orders.csv"), "--batch", "s3-bad"]) == 0
    landing = open_storage(landing_url)
    assert landing.exists("s3-a/_SUCCESS")

    # two batches in one run, on S3 with PostgreSQL instance storage
    result = run_batches(pg_instance, resources, ["s3-a", "s3-b"])
    assert result.success
    lake = open_storage(lake_url)
    for batch in ("s3-a", "s3-b"):
        assert_sample_outputs(lake, batch, src.bad_line)
        assert materialization_metadata(pg_instance, "tables", batch)["rejected_rows"] == 1
    assert lake.exists("_dagster/batch_summary/s3-b.parquet")
    checks = checks_by_name(result)
    assert checks["tables_match_schema"].passed
    assert not checks["tables_have_no_rejected_rows"].passed

    # idempotent: re-running a batch rewrites identical bytes
    before = snapshot(lake)
    assert run_batches(pg_instance, resources, ["s3-a"]).success
    after = snapshot(lake)
    assert after.keys() == before.keys()
    assert [k for k in before if before[k] != after[k]] == []

    # data that breaks the registry schema: the blocking check fails with its reason
    failed = run_batches(pg_instance, resources, ["s3-bad"], raise_on_error=False)
    assert not failed.success
    check = checks_by_name(failed)["tables_match_schema"]
    assert not check.passed
    assert "s3-bad/orders.csv (orders)" in check.metadata["reason"].value
    assert "greater_than_or_equal_to(1)" in check.metadata["failures"].value
    stored = pg_instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("tables"), "tables_match_schema")]
    )
    latest = stored[dg.AssetCheckKey(dg.AssetKey("tables"), "tables_match_schema")]
    assert latest.status.value == "FAILED"  # visible in the UI from PostgreSQL
