"""The cross-batch catalog: which datasets exist, with which batches and files.

``catalog`` is unpartitioned and updates by declarative automation whenever batch tables
are materialized (and nothing upstream is in progress). Unlike ``AutomationCondition
.eager()``, it does not wait for every batch partition to exist: with dynamic batch
partitions some are always missing or failed, and the catalog should still move on.

It lists the files of the lake's Iceberg tables and of its unregistered area
(:mod:`aerofs_pipelines.batch.catalog`) and writes ``<lake>/catalog/files.parquet`` (one
row per file, sorted: deterministic) and ``<lake>/catalog/datasets.json``.
"""

import tempfile
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq
from dagster import AssetExecutionContext

from aerofs_pipelines.batch.catalog import FILES_SCHEMA, build_catalog
from aerofs_pipelines.batch.formats import json_bytes, md_table
from aerofs_pipelines.defs.assets import S3_RETRY, tables
from aerofs_pipelines.defs.lake import LAKE_ASSETS
from aerofs_pipelines.defs.resources import LakeStore, LakeTables
from aerofs_pipelines.lake.iceberg import all_tables
from aerofs_pipelines.lake.layout import CATALOG_DATASETS_KEY, CATALOG_FILES_KEY

__all__ = [
    "CATALOG_ASSETS",
    "CATALOG_CONDITION",
    "catalog",
    "catalog_automation_sensor",
]


CATALOG_CONDITION: dg.AutomationCondition[Any] = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("on new batch tables")
"""Run after any batch's tables update, once nothing upstream is still running."""


@dg.asset(
    deps=[tables, *LAKE_ASSETS],
    group_name="catalog",
    kinds={"parquet"},
    automation_condition=CATALOG_CONDITION,
    retry_policy=S3_RETRY,
    description="Every dataset in the lake with its batches, files and rows, as its Iceberg "
    "table holds them, and the files waiting in the unregistered area "
    "(`<lake>/catalog/files.parquet`, `<lake>/catalog/datasets.json`). Updates itself "
    "when batch tables are materialized.",
)
def catalog(
    context: AssetExecutionContext, lake: LakeStore, lake_tables: LakeTables
) -> dg.MaterializeResult[Any]:
    table, doc = build_catalog(lake.storage, all_tables(lake_tables.catalog()))
    with tempfile.TemporaryDirectory(prefix="aerofs-catalog-") as tmp:
        path = Path(tmp) / "files.parquet"
        pq.write_table(table, path, compression="zstd")
        lake.storage.put_file(path, CATALOG_FILES_KEY)
    lake.storage.write_bytes(CATALOG_DATASETS_KEY, json_bytes(doc))
    datasets = doc["datasets"]
    batches = {b for d in datasets.values() for b in d["batches"]}
    preview = [
        (name, len(d["batches"]), d["files"], d["rows"], d["bytes"], ", ".join(d["batches"][-5:]))
        for name, d in datasets.items()
    ]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": table.num_rows,
            "datasets": len(datasets),
            "batches": len(batches),
            "files": table.num_rows,
            "bytes": sum(d["bytes"] for d in datasets.values()),
            "unregistered_files": sum(d["files"] for d in doc["unregistered"].values()),
            "catalog": dg.MetadataValue.path(lake.storage.uri(CATALOG_FILES_KEY)),
            "preview": dg.MetadataValue.md(
                md_table(
                    ("dataset", "batches", "files", "rows", "bytes", "latest batches"), preview
                )
            ),
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(f.name, str(f.type)) for f in FILES_SCHEMA]
            ),
        }
    )


CATALOG_ASSETS: list[dg.AssetsDefinition] = [catalog]

catalog_automation_sensor = dg.AutomationConditionSensorDefinition(
    "catalog_automation",
    target=dg.AssetSelection.assets(catalog),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Evaluates the catalog's automation condition (on by default).",
)
"""Runs the catalog's declarative automation; on by default, so the catalog stays current."""
