"""The batch assets and checks on the embedded defaults: local folders, SQLite instance."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from aerofs_pipelines import sample_data
from aerofs_pipelines.defs.assets import BATCH_ASSETS
from aerofs_pipelines.defs.catalog import CATALOG_ASSETS
from aerofs_pipelines.defs.checks import BATCH_CHECKS
from aerofs_pipelines.defs.lake import LAKE_ASSETS
from aerofs_pipelines.lake.storage import open_storage
from aerofs_pipelines.registry import load_registry
from tests.support.pipeline import (
    BAD_ORDERS,
    assert_sample_outputs,
    checks_by_name,
    env_resources,
    materialization_metadata,
    run_batches,
    snapshot,
    table_output,
)

# --------------------------------------------------------------------------- helpers


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, dict[str, Any]]:
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    return landing, lake, env_resources(monkeypatch, str(landing), str(lake))


# --------------------------------------------------------------------------- tests


def test_sample_batch_end_to_end_and_idempotent(
    instance: dg.DagsterInstance, local: tuple[Path, Path, dict[str, Any]]
) -> None:
    landing, lake_dir, resources = local
    sample = sample_data.write_sample_batch(landing, "sample-1")
    lake = open_storage(str(lake_dir))

    result = run_batches(instance, resources, ["sample-1"])
    assert result.success
    assert_sample_outputs(lake, "sample-1", sample.bad_line)

    checks = checks_by_name(result)
    assert checks["tables_match_schema"].passed
    assert checks["tables_all_converted"].passed
    assert checks["batch_has_no_quarantined_files"].passed
    assert not checks["tables_have_no_rejected_rows"].passed  # the sample's one bad row
    assert checks["tables_have_no_rejected_rows"].severity == dg.AssetCheckSeverity.WARN
    assert not checks["text_is_valid_utf8"].passed  # the sample's stray byte

    md = materialization_metadata(instance, "tables", "sample-1")
    assert md["dagster/row_count"] == 199
    assert md["rejected_rows"] == 1
    assert md["bytes_read"] == 10487
    assert md["mb_per_s"] > 0
    assert [c.name for c in md["dagster/column_schema"].columns][:2] == ["order_id", "order_date"]
    assert "order_id" in md["preview"]
    summary = materialization_metadata(instance, "batch_summary", "sample-1")
    assert (summary["rows"], summary["rejected_rows"], summary["processed"]) == (199, 1, 2)

    before = snapshot(lake)
    assert not [k for k in before if ".tmp" in k]
    again = run_batches(instance, resources, ["sample-1"])
    assert again.success
    after = snapshot(lake)
    assert after.keys() == before.keys()
    assert [k for k in before if before[k] != after[k]] == []  # byte-identical re-run


def test_a_file_failing_after_intake_is_quarantined_in_the_manifest(
    instance: dg.DagsterInstance,
    local: tuple[Path, Path, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Intake's probe passed, the conversion failed: the manifest's final word agrees with
    the tables outcome and the summary (status, reason, no output)."""
    from aerofs_pipelines.batch import tables
    from aerofs_pipelines.kernels.errors import InputFormatError

    landing, lake_dir, resources = local
    sample_data.write_sample_batch(landing, "late-1")

    def failing(src: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise InputFormatError("unterminated quoted field", str(src), 170, 4)

    monkeypatch.setattr(tables.kernels, "csv_to_parquet", failing)
    result = run_batches(instance, resources, ["late-1"])
    assert result.success
    lake = open_storage(str(lake_dir))
    manifest = json.loads(lake.read_bytes("manifests/late-1.json"))
    files = {f["name"]: f for f in manifest["files"]}
    assert files["orders.csv"]["status"] == "quarantined"
    assert files["orders.csv"]["reason"] == (
        "conversion failed: orders.csv:170:4: unterminated quoted field"
    )
    assert files["orders.csv"]["output"] is None
    assert files["orders.csv"]["digest"]  # intake's record stays
    assert files["notes.txt"]["status"] == "processed"
    assert manifest["counts"] == {"processed": 1, "quarantined": 1, "skipped": 1}
    summary = materialization_metadata(instance, "batch_summary", "late-1")
    assert (summary["processed"], summary["quarantined"]) == (1, 1)
    assert not checks_by_name(result)["tables_all_converted"].passed


def test_schema_violation_blocks_downstream(
    instance: dg.DagsterInstance, local: tuple[Path, Path, dict[str, Any]]
) -> None:
    landing, _lake_dir, resources = local
    (landing / "bad").mkdir(parents=True)
    (landing / "bad" / "orders.csv").write_text(BAD_ORDERS)
    (landing / "bad" / "_SUCCESS").write_bytes(b"")

    result = run_batches(instance, resources, ["bad"], raise_on_error=False)
    assert not result.success
    check = checks_by_name(result)["tables_match_schema"]
    assert not check.passed
    assert check.severity == dg.AssetCheckSeverity.ERROR
    reason = check.metadata["reason"].value
    assert "bad/orders.csv (orders)" in reason
    failures = check.metadata["failures"].value
    assert "field_uniqueness" in failures
    assert "greater_than_or_equal_to(1)" in failures
    assert "schema_orders" in check.metadata
    # blocking: the summary never saw the bad data
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "tables" in materialized
    assert "batch_summary" not in materialized


def test_bad_files_fail_cleanly_and_are_recorded(
    instance: dg.DagsterInstance, local: tuple[Path, Path, dict[str, Any]], tmp_path: Path
) -> None:
    landing, lake_dir, resources = local
    batch = landing / "mixed"
    (batch / "sub").mkdir(parents=True)
    (batch / "Sales-2024.csv").write_text("region,total\nnorth,10\nsouth,oops\n")
    (batch / "orders_eu.tsv").write_text(
        "order_id\torder_date\tcustomer\tamount\tquantity\tnote\n7\t2024-02-01\tA\t1.5\t2\t\n"
        "8\t2024-02-31\tB\t2.0\t1\tnot a date: rejected by the registry type\n"
    )
    (batch / "empty.csv").write_bytes(b"")
    (batch / "binary.csv").write_bytes(bytes(range(256)) * 8)
    (batch / "wrong_columns_orders.csv").write_text("x,y\n1,2\n")
    (batch / "orders_bad_header.csv").write_text("a,b\n1,2\n")
    (batch / "photo.png").write_bytes(b"\x89PNG")
    (batch / ".DS_Store").write_bytes(b"junk")
    (batch / "sub" / "readme.md").write_text("# Hello\nsome words here\n")
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    os.symlink(secret, batch / "leak.txt")
    (batch / "_SUCCESS").write_bytes(b"")

    result = run_batches(instance, resources, ["mixed"], raise_on_error=False)
    assert result.success, "bad files must not fail the run"
    lake = open_storage(str(lake_dir))
    manifest = json.loads(lake.read_bytes("manifests/mixed.json"))
    files = {f["name"]: f for f in manifest["files"]}
    assert len(files) == 11  # nothing silently dropped
    status = {name: f["status"] for name, f in files.items()}
    assert status == {
        "Sales-2024.csv": "processed",
        "orders_eu.tsv": "processed",
        "empty.csv": "processed",  # an empty file is an empty table, not an error
        "binary.csv": "quarantined",
        "wrong_columns_orders.csv": "processed",
        "orders_bad_header.csv": "quarantined",
        "photo.png": "skipped",
        ".DS_Store": "skipped",
        "sub/readme.md": "processed",
        "leak.txt": "quarantined",
        "_SUCCESS": "skipped",
    }
    assert files["empty.csv"]["dialect"]["header_rows"] == 1
    assert files["orders_eu.tsv"]["dialect"]["delimiter"] == "\t"
    assert files["orders_eu.tsv"]["dialect"]["pinned"] == ["delimiter"]
    assert "binary" in files["binary.csv"]["reason"]
    assert "do not match" in files["orders_bad_header.csv"]["reason"]
    assert "outside" in files["leak.txt"]["reason"]
    assert files["leak.txt"]["digest"] is None
    assert "unsupported file type '.png'" in files["photo.png"]["reason"]
    assert files["Sales-2024.csv"]["dataset"] == "sales_2024"
    assert files["orders_eu.tsv"]["dataset"] == "orders"
    assert files["wrong_columns_orders.csv"]["dataset"] == "wrong_columns_orders"
    assert not any(str(tmp_path) in f["reason"] for f in files.values())  # no local paths

    assert lake.exists(table_output(lake, "mixed", "Sales-2024.csv"))
    assert lake.exists(table_output(lake, "mixed", "orders_eu.tsv"))
    with lake.local_path(table_output(lake, "mixed", "empty.csv")) as path:
        assert pq.read_table(path).num_rows == 0
    with lake.local_path("rejects/orders/batch=mixed/orders_eu.rejects.parquet") as path:
        (reject,) = pq.read_table(path).to_pylist()
    assert (reject["line"], reject["column_name"]) == (3, "order_date")
    assert "date" in reject["reason"]
    assert lake.exists("text_stats/batch=mixed/sub/readme.md.json")
    checks = checks_by_name(result)
    assert not checks["batch_has_no_quarantined_files"].passed
    assert "leak.txt" in checks["batch_has_no_quarantined_files"].metadata["files"].value
    assert checks["tables_match_schema"].passed


def test_many_batches_in_one_run(
    instance: dg.DagsterInstance, local: tuple[Path, Path, dict[str, Any]]
) -> None:
    landing, lake_dir, resources = local
    ids = ["b-001", "b-002", "b-003"]
    bad_lines = {b: sample_data.write_sample_batch(landing, b).bad_line for b in ids}
    # A fourth batch of another size: each batch's metadata must be its own.
    sample_data.write_sample_batch(landing, "b-004", rows=50)
    result = run_batches(instance, resources, [*ids, "b-004"])
    assert result.success
    steps = [e.step_key for e in result.all_events if e.is_step_success]
    assert len(steps) == len(set(steps)) == 11  # one step per asset/check, for all batches
    lake = open_storage(str(lake_dir))
    for b in ids:
        assert_sample_outputs(lake, b, bad_lines[b])
        assert lake.exists(table_output(lake, b, "orders.csv"))
        assert lake.exists(f"manifests/{b}.json")
        md = materialization_metadata(instance, "tables", b)
        assert md["dagster/row_count"] == 199
        assert md["rejected_rows"] == 1
        assert materialization_metadata(instance, "batch_summary", b)["rows"] == 199
    assert materialization_metadata(instance, "tables", "b-004")["dagster/row_count"] == 49
    assert materialization_metadata(instance, "batch_summary", "b-004")["rows"] == 49
    assert lake.exists("_dagster/batch_summary/b-003.parquet")


def test_catalog_updates_by_automation(
    instance: dg.DagsterInstance, local: tuple[Path, Path, dict[str, Any]]
) -> None:
    landing, lake_dir, resources = local
    defs = dg.Definitions(
        assets=[*BATCH_ASSETS, *LAKE_ASSETS, *CATALOG_ASSETS],
        asset_checks=BATCH_CHECKS,
        resources=resources,
    )
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert first.total_requested == 0
    sample_data.write_sample_batch(landing, "cat-1")
    run_batches(instance, resources, ["cat-1"])
    second = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert second.total_requested == 1
    assert dg.AssetKey("catalog") in {r.key for r in second.results if r.true_subset.size}

    result = dg.materialize(CATALOG_ASSETS, instance=instance, resources=resources)
    assert result.success
    lake = open_storage(str(lake_dir))
    doc = json.loads(lake.read_bytes("catalog/datasets.json"))
    assert doc["datasets"]["orders"]["batches"] == ["cat-1"]
    assert doc["datasets"]["orders"]["rows"] == 199
    assert doc["unregistered"] == {}
    with lake.local_path("catalog/files.parquet") as path:
        rows = pq.read_table(path).to_pylist()
    assert rows[0]["key"] == table_output(lake, "cat-1", "orders.csv")
    assert (rows[0]["rows"], rows[0]["registered"]) == (199, True)
    third = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=second.cursor)
    assert third.total_requested == 0


def test_wide_table_metadata_is_bounded(tmp_path: Path) -> None:
    """A 10,000-column table previews 20 columns and lists 1,000 in its column schema."""
    from aerofs_pipelines.batch.tables import TableOutcome, _preview
    from aerofs_pipelines.defs.assets import _column_schema

    names = [f"c{i}" for i in range(10_000)]
    path = tmp_path / "wide.parquet"
    pq.write_table(pa.table({n: [1, 2] for n in names}), path)
    preview = _preview(path)
    assert "| c19 |" in preview and "c20" not in preview
    assert preview.endswith("(9980 more columns not shown)")
    outcome = TableOutcome(
        "wide.csv", "wide", "processed", "", 2, 0, 1, 1,
        json.dumps(dict.fromkeys(names, "int64")), None, None,
    )  # fmt: skip
    columns = _column_schema(outcome, load_registry()).columns
    assert len(columns) == 1001 and columns[-1].name == "… 9000 more columns"
