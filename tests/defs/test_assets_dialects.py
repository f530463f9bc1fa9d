"""Real-world exports through the pipeline: the manifest records each file's dialect
(sniffed, or pinned by its dataset), the tables are typed, the UI metadata shows the
dialect, and an undecidable encoding is quarantined under that name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq
import pytest

from aerofs_pipelines.defs.resources import default_resources
from aerofs_pipelines.lake.storage import open_storage
from tests.support.dialect_corpus import EUROPEAN, EXCEL_UNICODE_TEXT, REPORT
from tests.support.pipeline import materialization_metadata, run_batches, table_output

REGISTRY = """
datasets:
  umsatz:
    patterns: ["umsatz*.csv"]
    columns:
      Nr: int64
      Kunde: string
      Betrag: float64
      Menge: int64
      Datum: date32
  excel:
    patterns: ["excel_*.txt"]
    dialect: {encoding: utf-16le, delimiter: "\\t"}
    columns:
      id: int64
      name: string
      city: string
"""


@pytest.fixture
def pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, dict[str, Any]]:
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    registry = tmp_path / "datasets.yaml"
    registry.write_text(REGISTRY)
    monkeypatch.setenv("AEROFS_LANDING", str(landing))
    monkeypatch.setenv("AEROFS_LAKE", str(lake))
    monkeypatch.setenv("AEROFS_DATASETS", str(registry))
    return landing, lake, default_resources()


def test_exports_are_sniffed_pinned_and_recorded(
    instance: dg.DagsterInstance, pipeline: tuple[Path, Path, dict[str, Any]]
) -> None:
    landing, lake_dir, resources = pipeline
    batch = landing / "exports"
    batch.mkdir(parents=True)
    for export in (EUROPEAN, EXCEL_UNICODE_TEXT, REPORT):
        (batch / export.name).write_bytes(export.data)
    (batch / "mixed.csv").write_bytes("id,name\n1,Jürgen\n2,Zoë\n".encode() + b"3,Fran\xe7ois\n")
    (batch / "_SUCCESS").write_bytes(b"")

    result = run_batches(instance, resources, ["exports"], raise_on_error=False)
    assert result.success
    lake = open_storage(str(lake_dir))
    manifest = json.loads(lake.read_bytes("manifests/exports.json"))
    files = {f["name"]: f for f in manifest["files"]}

    european = files[EUROPEAN.name]
    assert (european["status"], european["dataset"]) == ("processed", "umsatz")
    assert {k: european["dialect"][k] for k in EUROPEAN.sniffed} == EUROPEAN.sniffed
    assert european["dialect"]["pinned"] == []
    assert 0 < european["dialect"]["confidence"] < 1

    # A .txt is a table when a dataset's pattern claims it; its pinned keys are recorded.
    excel = files[EXCEL_UNICODE_TEXT.name]
    assert (excel["kind"], excel["status"], excel["dataset"]) == ("table", "processed", "excel")
    assert excel["dialect"]["pinned"] == ["delimiter", "encoding"]
    assert excel["dialect"]["encoding"] == "utf-16le"

    mixed = files["mixed.csv"]
    assert mixed["status"] == "quarantined"
    assert "undecidable encoding" in mixed["reason"]

    for export, area in (
        (EUROPEAN, "tables/umsatz"),
        (EXCEL_UNICODE_TEXT, "tables/excel"),
        (REPORT, "unregistered/tables/report"),  # no registry pattern: read all the same
    ):
        key = table_output(lake, "exports", export.name)
        assert key.startswith(f"{area}/batch=exports/{Path(export.name).stem}.")
        with lake.local_path(key) as path:
            got = pq.read_table(path).drop_columns(["batch_id"]).to_pylist()
            assert got == export.rows, export.name

    meta = materialization_metadata(instance, "tables", "exports")
    assert "decimal=','" in meta["tables"] and "encoding='utf-16le'" in meta["tables"]
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["tables_match_schema"].passed
