"""The checks of ``lake/<dataset>``: a table that holds what no run published, or rows
that break the registry, is seen for what it is."""

from __future__ import annotations

from pathlib import Path

from aerofs_pipelines.batch.audit import audit_batch
from aerofs_pipelines.lake.iceberg import batch_files, commit_batch, open_catalog
from aerofs_pipelines.registry import parse_registry
from tests.support.lake_files import batch_file

REGISTRY = parse_registry(
    "datasets:\n  orders:\n    patterns: [orders*.csv]\n"
    "    columns: {id: {type: int64, checks: {ge: 0}}}\n"
)


def test_a_published_batch_passes_both_checks(lake: Path) -> None:
    (spec,) = REGISTRY.datasets
    catalog = open_catalog()
    files = [batch_file(lake, "b1", "p", "id\n1\n2\n")]
    commit_batch(catalog, "orders", "b1", files, location=str(lake / "tables" / "orders"))
    table = catalog.load_table("aerofs.orders")
    audit = audit_batch(table, spec, "b1", batch_files(table, "b1"))
    assert (audit.files_problem, audit.rows, audit.failures) == (None, 2, [])
    # a batch with no file of the dataset, and no table yet: nothing to hold, nothing held
    assert audit_batch(None, spec, "b9", []).files_problem is None


def test_files_no_run_published_and_rows_that_break_the_schema_are_named(lake: Path) -> None:
    (spec,) = REGISTRY.datasets
    catalog = open_catalog()
    published = batch_file(lake, "b1", "p", "id\n1\n-5\n")
    commit_batch(catalog, "orders", "b1", [published], location=str(lake / "tables" / "orders"))
    table = catalog.load_table("aerofs.orders")
    stray = batch_file(lake, "b1", "stray", "id\n7\n")
    table.add_files([stray])  # someone appends to the table outside any run

    audit = audit_batch(catalog.load_table("aerofs.orders"), spec, "b1", [published])
    assert audit.files_problem == f"not of this run: {stray}"
    assert audit.rows == 3
    assert [(f["column"], f["value"]) for f in audit.failures] == [("id", -5)]
    missing = audit_batch(catalog.load_table("aerofs.orders"), spec, "b1", [published, "x"])
    assert missing.files_problem is not None and missing.files_problem.startswith("missing: x")
