"""Reading a processed batch back from the lake, and validating its tables with pandera.

What the asset checks look at: the manifest's processed files, their outputs, and each
table against its dataset's pandera schema (registered datasets: types, nullability,
uniqueness, value checks; others: their inferred types). Failure cases come back as rows
naming the batch, file, column, check and value.
"""

from __future__ import annotations

from typing import Any

import pyarrow.parquet as pq

from aerofs_pipelines.batch.manifest import is_registered
from aerofs_pipelines.lake.layout import BATCH_COLUMN, read_manifest
from aerofs_pipelines.lake.storage import Storage
from aerofs_pipelines.registry import DatasetSpec, Registry, inferred_pandera_schema, to_pandas

__all__ = [
    "MAX_FAILURE_ROWS",
    "dataset_failures",
    "manifest_files",
    "processed_files",
    "read_table",
    "validate_table",
]

MAX_FAILURE_ROWS = 20


def manifest_files(lake: Storage, batch_id: str) -> list[dict[str, Any]]:
    """The ``files`` of a batch's manifest."""
    files: list[dict[str, Any]] = read_manifest(lake, batch_id)["files"]
    return files


def processed_files(lake: Storage, batch_id: str, kind: str) -> list[dict[str, Any]]:
    """The processed files of one ``kind`` of a batch, with an output."""
    return [
        f
        for f in manifest_files(lake, batch_id)
        if f["kind"] == kind and f["status"] == "processed" and f["output"]
    ]


def read_table(lake: Storage, key: str) -> Any:
    """A Parquet object of the lake as an Arrow table."""
    with lake.local_path(key) as path:
        return pq.read_table(path)


def validate_table(
    lake: Storage,
    registry: Registry,
    batch_id: str,
    entry: dict[str, Any],
    schemas: dict[str, Any],
) -> tuple[list[dict[str, Any]], str | None]:
    """pandera failure cases of one table file (empty when valid), and a problem if any.

    ``schemas`` caches the pandera schema of each registered dataset across calls.
    """
    if not lake.exists(entry["output"]):
        return [], "not converted (see tables_all_converted)"
    table = read_table(lake, entry["output"])
    dataset = entry["dataset"]
    spec = registry.get(dataset) if is_registered(entry) else None
    if spec is not None and spec.columns and dataset not in schemas:
        schemas[dataset] = spec.pandera_schema()
    return _failures(
        table, dataset, schemas.get(dataset) if spec else None, batch_id, entry["name"]
    )


def dataset_failures(
    table: Any, spec: DatasetSpec, batch_id: str, file: str
) -> tuple[list[dict[str, Any]], str | None]:
    """pandera failure cases of ``table`` (rows of ``spec``'s dataset) under the
    dataset's schema (its declared columns, else the table's own types)."""
    schema = spec.pandera_schema() if spec.columns else None
    return _failures(table, spec.name, schema, batch_id, file)


def _failures(
    table: Any, dataset: str, schema: Any, batch_id: str, file: str
) -> tuple[list[dict[str, Any]], str | None]:
    import pandera.errors as pa_errors

    if BATCH_COLUMN in table.column_names:  # the lake's own column, not the dataset's
        table = table.drop_columns([BATCH_COLUMN])
    if schema is None:
        schema = inferred_pandera_schema(dataset, table.schema)
    try:
        schema.validate(to_pandas(table), lazy=True)
    except pa_errors.SchemaErrors as exc:
        cases = exc.failure_cases.head(MAX_FAILURE_ROWS).to_dict("records")
        total = len(exc.failure_cases)
        rows = [
            {
                "batch": batch_id,
                "file": file,
                "column": c.get("column"),
                "check": c.get("check"),
                "value": c.get("failure_case"),
                "row": c.get("index"),
            }
            for c in cases
        ]
        return rows, f"{total} failure case(s)"
    return [], None
