"""The lake's tables: one asset per registered dataset, ``lake/<dataset>``.

Write, audit, publish: ``tables`` writes each batch's Parquet files (every row with its
``batch_id``), the blocking ``tables_match_schema`` check audits them, and only then
``lake/<dataset>`` publishes the batch's files of its dataset to the dataset's Iceberg
table ``aerofs.<dataset>``: one atomic commit, one snapshot, no data rewritten
(:func:`aerofs_pipelines.lake.iceberg.commit_batch`). A re-run replaces the batch's rows;
a batch with no file of the dataset commits nothing. The assets are built from the
registry when the definitions load, so "Reload definitions" picks up a changed registry.
"""

import json
from typing import Any

import dagster as dg
import pyarrow as pa
from dagster import AssetExecutionContext
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError

from aerofs_pipelines.defs.assets import LAKE_GROUP, batch_asset, batch_manifest, tables
from aerofs_pipelines.defs.metadata import add_batch_metadata
from aerofs_pipelines.defs.resources import LakeStore, LakeTables
from aerofs_pipelines.lake.iceberg import (
    BatchCommit,
    LakeTableError,
    batch_rows,
    commit_batch,
    table_identifier,
)
from aerofs_pipelines.lake.layout import TABLES
from aerofs_pipelines.registry import DatasetSpec, Registry, load_registry

__all__ = ["COMMIT_SCHEMA", "LAKE_ASSETS", "lake_table_asset", "lake_table_assets"]

COMMIT_SCHEMA = pa.schema(
    [
        ("table", pa.string()),
        ("batch_id", pa.string()),
        ("snapshot_id", pa.int64()),
        ("files", pa.int64()),
        ("rows", pa.int64()),
        ("replaced_files", pa.int64()),
        ("added_columns", pa.string()),
        ("retries", pa.int64()),
    ]
)
"""What each ``lake/<dataset>`` materialization hands on: its batch's commit."""


def _row(done: BatchCommit) -> dict[str, Any]:
    return {
        "table": done.table,
        "batch_id": done.batch_id,
        "snapshot_id": done.snapshot_id,
        "files": done.files,
        "rows": done.rows,
        "replaced_files": done.replaced_files,
        "added_columns": json.dumps(list(done.added_columns)),
        "retries": done.retries,
    }


def lake_table_asset(spec: DatasetSpec) -> dg.AssetsDefinition:
    """``lake/<dataset>``: publishes each batch's files of ``spec`` to its table."""
    name = ".".join(table_identifier(spec.name))

    @batch_asset(
        group_name=LAKE_GROUP,
        key=dg.AssetKey(["lake", spec.name]),
        ins={
            "batch_manifest": dg.AssetIn(key=batch_manifest.key),
            "tables": dg.AssetIn(key=tables.key),
        },
        kinds={"iceberg"},
        description=f"The Iceberg table `{name}`: every batch's {spec.name} rows (with their "
        "`batch_id`), one snapshot per batch, appended once the batch's tables passed their "
        f"blocking checks. {spec.description or ''}".strip(),
        metadata={"table": name, "on_schema_change": spec.on_schema_change},
    )
    def publish(
        context: AssetExecutionContext,
        batch_manifest: dict[str, pa.Table],
        tables: dict[str, pa.Table],
        lake: LakeStore,
        lake_tables: LakeTables,
    ) -> dict[str, pa.Table]:
        catalog = lake_tables.catalog()
        location = lake.storage.uri(f"{TABLES}/{spec.name}")
        out: dict[str, pa.Table] = {}
        run_batches = context.partition_keys
        for batch_id in run_batches:
            mine = [o for o in tables[batch_id].to_pylist() if o["dataset"] == spec.name]
            files = [lake.storage.uri(o["output"]) for o in mine if o["status"] == "processed"]
            lost = [f"{o['file']}: {o['reason']}" for o in mine if o["status"] != "processed"] + [
                e["reason"]
                for e in batch_manifest[batch_id].to_pylist()
                if e["dataset"] == spec.name and e["status"] == "quarantined"
            ]
            if lost:
                _refuse_to_drop(catalog, name, batch_id, lost)
            try:
                done = commit_batch(
                    catalog,
                    spec.name,
                    batch_id,
                    files,
                    location=location,
                    on_schema_change=spec.on_schema_change,
                )
            except LakeTableError as exc:  # a schema the table refuses: retrying won't help
                raise dg.Failure(
                    description=f"batch {batch_id}: {exc}", allow_retries=False
                ) from None
            out[batch_id] = pa.Table.from_pylist([_row(done)], schema=COMMIT_SCHEMA)
            add_batch_metadata(context, run_batches, batch_id, _metadata(done))
            if done.retries:
                context.log.info(f"{name}: batch {batch_id} committed after {done.retries} retries")
        return out

    return publish


def _refuse_to_drop(catalog: Catalog, name: str, batch_id: str, lost: list[str]) -> None:
    """Fail rather than replace a batch's published rows when some of its files of the
    dataset were quarantined this time: a re-run must never silently lose rows."""
    try:
        held = batch_rows(catalog.load_table(name), batch_id).get(batch_id, 0)
    except NoSuchTableError:
        held = 0
    if held:
        raise dg.Failure(
            description=f"batch {batch_id}: {name} keeps the {held} rows of the batch's "
            f"earlier run: this run quarantined {'; '.join(lost)}. Fix the input (or the "
            "registry) and run the batch again.",
            allow_retries=False,
        )


def _metadata(done: BatchCommit) -> dict[str, Any]:
    md: dict[str, Any] = {
        "dagster/row_count": done.rows,
        "table": done.table,
        "files": done.files,
        "replaced_files": done.replaced_files,
        "commit_retries": done.retries,
    }
    if done.snapshot_id is None:
        md["note"] = "no file of this dataset in the batch: nothing committed"
        return md
    if done.unchanged:
        md["note"] = "the table already holds exactly these files: nothing committed"
    md["snapshot_id"] = str(done.snapshot_id)
    md["table_rows"] = done.table_rows
    if done.added_columns:
        md["added_columns"] = ", ".join(done.added_columns)
    md["dagster/column_schema"] = dg.TableSchema(
        columns=[dg.TableColumn(name, typ) for name, typ in done.columns]
    )
    return md


def lake_table_assets(registry: Registry) -> list[dg.AssetsDefinition]:
    """One ``lake/<dataset>`` asset per registered dataset."""
    return [lake_table_asset(spec) for spec in registry.datasets]


LAKE_ASSETS: list[dg.AssetsDefinition] = lake_table_assets(load_registry())
