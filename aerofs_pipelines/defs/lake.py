"""The lake's tables: one asset per registered dataset, ``lake/<dataset>``.

Write, audit, publish: ``tables`` writes each batch's Parquet files (every row with its
``batch_id``), the blocking ``tables_match_schema`` check audits them, and only then
``lake/<dataset>`` publishes the batch's files of its dataset to the dataset's Iceberg
table ``aerofs.<dataset>``: one atomic commit, one snapshot, no data rewritten
(:func:`aerofs_pipelines.lake.iceberg.commit_batch`). A re-run replaces the batch's rows;
a batch with no file of the dataset commits nothing. Each asset's checks then look at
what its table holds for the batch (``batch_published_once``, ``rows_match_schema``).
The assets are built from the registry when the definitions load, so "Reload
definitions" picks up a changed registry.
"""

import json
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pyarrow as pa
from dagster import AssetExecutionContext
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError

from aerofs_pipelines.batch.audit import BatchAudit, audit_batch
from aerofs_pipelines.batch.formats import md_table
from aerofs_pipelines.batch.manifest import is_registered
from aerofs_pipelines.batch.validation import MAX_FAILURE_ROWS
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
    key = dg.AssetKey(["lake", spec.name])

    @batch_asset(
        group_name=LAKE_GROUP,
        key=key,
        ins={
            "batch_manifest": dg.AssetIn(key=batch_manifest.key),
            "tables": dg.AssetIn(key=tables.key),
        },
        kinds={"iceberg"},
        description=f"The Iceberg table `{name}`: every batch's {spec.name} rows (with their "
        "`batch_id`), one snapshot per batch, appended once the batch's tables passed their "
        f"blocking checks. {spec.description or ''}".strip(),
        metadata={"table": name, "on_schema_change": spec.on_schema_change},
        output_required=False,
        freshness_policy=(
            dg.FreshnessPolicy.time_window(fail_window=spec.expected_every)
            if spec.expected_every
            else None
        ),
        check_specs=[
            dg.AssetCheckSpec(check, asset=key, description=why) for check, why in LAKE_CHECK_SPECS
        ],
    )
    def publish(
        context: AssetExecutionContext,
        batch_manifest: dict[str, pa.Table],
        tables: dict[str, pa.Table],
        lake: LakeStore,
        lake_tables: LakeTables,
    ) -> Iterator[dg.Output[dict[str, pa.Table]] | dg.AssetCheckResult]:
        catalog = lake_tables.catalog()
        location = lake.storage.uri(f"{TABLES}/{spec.name}")
        out: dict[str, pa.Table] = {}
        audits: list[BatchAudit] = []
        received = committed = False  # any file of the dataset; any commit made
        run_batches = context.partition_keys
        for batch_id in run_batches:
            mine = _of_dataset(tables[batch_id], spec.name)
            listed = _of_dataset(batch_manifest[batch_id], spec.name)
            received = received or bool(listed)
            files = [lake.storage.uri(o["output"]) for o in mine if o["status"] == "processed"]
            lost = [f"{o['file']}: {o['reason']}" for o in mine if o["status"] != "processed"] + [
                e["reason"] for e in listed if e["status"] == "quarantined"
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
            committed = committed or done.snapshot_id is not None
            add_batch_metadata(context, run_batches, batch_id, _metadata(done, lost))
            if done.retries:
                context.log.info(f"{name}: batch {batch_id} committed after {done.retries} retries")
            table = catalog.load_table(name) if done.snapshot_id is not None else None
            audits.append(audit_batch(table, spec, batch_id, files))
        if received or committed:
            yield dg.Output(out)
        else:  # not materialized: the last materialization is the dataset's last batch,
            # which its freshness policy (``expected_every``) measures
            context.log.info(f"no file of {spec.name} in batch(es) {', '.join(run_batches)}")
        yield from _check_results(audits)

    return publish


LAKE_CHECK_SPECS = (
    (
        "batch_published_once",
        "The table holds each of the run's batches as exactly the "
        "files the batch converted for the dataset: none missing, none extra, none twice.",
    ),
    (
        "rows_match_schema",
        "The batch's rows, read back from the table after the commit, "
        "satisfy the dataset's pandera schema (its declared columns, else its own types).",
    ),
)
"""The checks of every ``lake/<dataset>``, run in its step on what its table now holds."""


def _check_results(audits: list[BatchAudit]) -> Iterator[dg.AssetCheckResult]:
    problems = [f"batch {a.batch_id}: {a.files_problem}" for a in audits if a.files_problem]
    reason = "; ".join(problems) or "every batch's files are in the table exactly once"
    yield dg.AssetCheckResult(
        check_name="batch_published_once",
        passed=not problems,
        metadata={"reason": reason},
        description=reason,
    )
    failures = [f for a in audits for f in a.failures]
    rows = sum(a.rows for a in audits)
    verdict = (
        f"{len(failures)} failure case(s) in the batch's rows"
        if failures
        else f"{rows} row(s) match the schema"
    )
    metadata: dict[str, Any] = {"rows_checked": rows, "reason": verdict}
    if failures:
        metadata["failures"] = dg.MetadataValue.md(
            md_table(
                ("batch", "table", "column", "check", "value", "row"),
                [list(f.values()) for f in failures[:MAX_FAILURE_ROWS]],
            )
        )
    yield dg.AssetCheckResult(
        check_name="rows_match_schema", passed=not failures, metadata=metadata, description=verdict
    )


def _of_dataset(files: pa.Table, dataset: str) -> list[dict[str, Any]]:
    """The rows of a manifest or a ``tables`` outcome that are files of ``dataset`` (an
    unregistered file named like it is not one; rows from before the flag are)."""
    return [f for f in files.to_pylist() if f["dataset"] == dataset and is_registered(f)]


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


def _metadata(done: BatchCommit, lost: list[str]) -> dict[str, Any]:
    md: dict[str, Any] = {
        "dagster/row_count": done.rows,
        "table": done.table,
        "files": done.files,
        "replaced_files": done.replaced_files,
        "commit_retries": done.retries,
    }
    if lost:
        md["quarantined_files"] = len(lost)
        md["quarantined"] = dg.MetadataValue.md("\n".join(f"- {why}" for why in lost[:20]))
    if done.snapshot_id is None:
        md["note"] = (
            "every file of this dataset in the batch was quarantined: nothing committed"
            if lost
            else "no file of this dataset in the batch: nothing committed"
        )
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
