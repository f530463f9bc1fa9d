"""The per-batch assets: ``batch_manifest`` → ``tables``, ``text_stats`` → ``batch_summary``.

Each is partitioned by batch and works on every partition of its run in turn
(``context.partition_keys``), so a single-run backfill of many batches is one step per
asset. Values pass between them as ``dict[batch_id, pyarrow.Table]`` through the Parquet
IO manager; the work itself is :mod:`aerofs_pipelines.batch`'s, the data goes to the
lake's layout (:mod:`aerofs_pipelines.lake.layout`). These functions add what Dagster
shows: metadata per batch, plotted across batches, and warnings in the run's log.
"""

import json
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import dagster as dg
import pyarrow as pa
from dagster import AssetExecutionContext

from aerofs_pipelines.batch.errors import BatchNotProcessable
from aerofs_pipelines.batch.formats import json_bytes, md_table, records_table
from aerofs_pipelines.batch.manifest import (
    MANIFEST_SCHEMA,
    build_manifest,
    manifest_document,
    processed_entries,
)
from aerofs_pipelines.batch.summary import SUMMARY_SCHEMA, final_entries, summarize
from aerofs_pipelines.batch.tables import TABLE_OUTCOME_SCHEMA, TableOutcome, convert_table
from aerofs_pipelines.batch.text import TEXT_OUTCOME_SCHEMA, analyze_file
from aerofs_pipelines.defs.metadata import add_batch_metadata, table_schema
from aerofs_pipelines.defs.partitions import batches_partitions
from aerofs_pipelines.defs.resources import DatasetRegistry, LakeStore, LandingZone
from aerofs_pipelines.kernels import describe_dialect
from aerofs_pipelines.lake.layout import manifest_key
from aerofs_pipelines.lake.storage import scratch_dir
from aerofs_pipelines.registry import Registry

__all__ = [
    "BATCH_ASSETS",
    "BATCH_GROUP",
    "LAKE_GROUP",
    "PER_BATCH_GROUPS",
    "S3_RETRY",
    "batch_asset",
    "batch_manifest",
    "batch_summary",
    "tables",
    "text_stats",
]

BATCH_GROUP = "batch"
LAKE_GROUP = "lake"
"""The published tables, ``lake/<dataset>`` (``defs/lake.py``)."""
PER_BATCH_GROUPS = (BATCH_GROUP, LAKE_GROUP)
"""What a batch's run materializes: the sensor, the job and backfills select these."""

SCHEMA_COLUMNS = 1000
"""Column schema metadata lists at most this many columns (the rest are counted)."""

S3_RETRY = dg.RetryPolicy(
    max_retries=3, delay=0.5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)
"""Storage calls (S3 above all) fail transiently: retry the step with backoff."""

SINGLE_RUN = dg.BackfillPolicy.single_run()
"""A backfill of many batches is one run: every asset loops over ``context.partition_keys``."""


def batch_asset(
    group_name: str = BATCH_GROUP, **kwargs: Any
) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """``@dg.asset`` with what every per-batch asset shares (partitions, group, policies)."""

    def apply(fn: Callable[..., Any]) -> dg.AssetsDefinition:
        with warnings.catch_warnings():  # backfill_policy is "beta" in dagster 1.13
            warnings.simplefilter("ignore", dg.BetaWarning)
            decorator: Callable[[Callable[..., Any]], dg.AssetsDefinition] = dg.asset(
                partitions_def=batches_partitions,
                group_name=group_name,
                backfill_policy=SINGLE_RUN,
                retry_policy=S3_RETRY,
                **kwargs,
            )
            return decorator(fn)

    return apply


def mb_per_s(nbytes: int, seconds: float) -> float:
    return round(nbytes / 1e6 / seconds, 3) if seconds > 0 else 0.0


@batch_asset(
    kinds={"python", "json"},
    description="Every file of the batch: size, digest (BLAKE3), kind, dataset, and whether "
    "it is processed, quarantined or skipped, with the reason. Written to "
    "`<lake>/manifests/<batch_id>.json` (where `batch_summary` marks a file that failed "
    "after intake as quarantined).",
)
def batch_manifest(
    context: AssetExecutionContext,
    landing: LandingZone,
    lake: LakeStore,
    registry: DatasetRegistry,
) -> dict[str, pa.Table]:
    out: dict[str, pa.Table] = {}
    run_batches = context.partition_keys
    for batch_id in run_batches:
        started = time.perf_counter()
        try:
            entries = build_manifest(landing.storage, batch_id, registry.registry)
        except BatchNotProcessable as exc:  # retrying will not help
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        doc = manifest_document(batch_id, entries)
        key = manifest_key(batch_id)
        lake.storage.write_bytes(key, json_bytes(doc))
        out[batch_id] = records_table(entries, MANIFEST_SCHEMA)
        seconds = time.perf_counter() - started
        rows = [(e.name, e.kind, e.dataset, e.status, e.reason) for e in entries]
        add_batch_metadata(
            context,
            run_batches,
            batch_id,
            {
                "dagster/row_count": len(entries),
                "files": len(entries),
                "bytes": doc["bytes"],
                **doc["counts"],
                "seconds": round(seconds, 4),
                "manifest": dg.MetadataValue.path(lake.storage.uri(key)),
                "files_preview": dg.MetadataValue.md(
                    md_table(("file", "kind", "dataset", "status", "reason"), rows[:50])
                ),
            },
        )
        for e in entries:
            if e.status == "quarantined":
                context.log.warning(f"batch {batch_id}: quarantined {e.name}: {e.reason}")
    return out


_SCHEMAS: dict[tuple[str, str], dg.TableSchema] = {}
"""TableSchema of registered datasets, by (registry source, dataset): built once."""


def _column_schema(outcome: TableOutcome, registry: Registry) -> dg.TableSchema:
    spec = registry.get(outcome.dataset) if outcome.registered else None
    if spec is not None and spec.columns:
        key = (registry.source, spec.name)
        if key not in _SCHEMAS:
            _SCHEMAS[key] = table_schema(spec.pandera_schema())
        return _SCHEMAS[key]
    cols = list(json.loads(outcome.schema).items())
    shown = [dg.TableColumn(name, str(typ)) for name, typ in cols[:SCHEMA_COLUMNS]]
    if len(cols) > SCHEMA_COLUMNS:
        shown.append(dg.TableColumn(f"… {len(cols) - SCHEMA_COLUMNS} more columns", "-"))
    return dg.TableSchema(columns=shown)


@batch_asset(
    kinds={"rust", "parquet"},
    description="CSV/TSV files → Parquet in `<lake>/tables/<dataset>/batch=<id>/`, typed by "
    "the dataset registry (or inferred); rows that do not parse go, with their reason, to "
    "`<lake>/rejects/<dataset>/batch=<id>/`.",
)
def tables(
    context: AssetExecutionContext,
    batch_manifest: dict[str, pa.Table],
    landing: LandingZone,
    lake: LakeStore,
    registry: DatasetRegistry,
) -> dict[str, pa.Table]:
    reg = registry.registry
    out: dict[str, pa.Table] = {}
    run_batches = context.partition_keys
    for batch_id in run_batches:
        started = time.perf_counter()
        outcomes: list[TableOutcome] = []
        previews: dict[str, str] = {}
        for entry in processed_entries(batch_manifest[batch_id], "table"):
            with scratch_dir("tables") as tmp:  # a killed worker's one goes next time
                outcome, preview = convert_table(
                    entry, batch_id, landing.storage, lake.storage, reg, tmp
                )
            outcomes.append(outcome)
            if preview is not None:
                previews[entry.name] = preview
            if outcome.status != "processed":
                context.log.warning(f"batch {batch_id}: {outcome.reason}")
        seconds = time.perf_counter() - started
        out[batch_id] = records_table(outcomes, TABLE_OUTCOME_SCHEMA)
        add_batch_metadata(
            context, run_batches, batch_id, _tables_metadata(outcomes, previews, seconds, reg)
        )
    return out


def _tables_metadata(
    outcomes: Sequence[TableOutcome], previews: Mapping[str, str], seconds: float, reg: Registry
) -> dict[str, Any]:
    nbytes = sum(o.bytes_read for o in outcomes)
    rows = sum(o.rows for o in outcomes)
    md: dict[str, Any] = {
        "dagster/row_count": rows,
        "rows": rows,
        "rejected_rows": sum(o.rejected_rows for o in outcomes),
        "files": len(outcomes),
        "files_quarantined": sum(o.status != "processed" for o in outcomes),
        "bytes_read": nbytes,
        "bytes_written": sum(o.bytes_written for o in outcomes),
        "seconds": round(seconds, 4),
        "mb_per_s": mb_per_s(nbytes, seconds),
        "tables": dg.MetadataValue.md(
            md_table(
                ("file", "dataset", "status", "rows", "rejected", "dialect", "reason"),
                [
                    (
                        o.file,
                        o.dataset,
                        o.status,
                        o.rows,
                        o.rejected_rows,
                        describe_dialect(json.loads(o.dialect)),
                        o.reason,
                    )
                    for o in outcomes
                ],
            )
        ),
    }
    done = [o for o in outcomes if o.status == "processed"]
    if done:
        md["dagster/column_schema"] = _column_schema(done[0], reg)
        name = done[0].file
        md["preview"] = dg.MetadataValue.md(f"**{name}** (first rows)\n\n{previews.get(name, '')}")
    return md


@batch_asset(
    kinds={"rust", "json"},
    description="Statistics of the batch's .txt/.md/.log files (lines, words, unique words, "
    "top words, invalid UTF-8 bytes) as JSON in `<lake>/text_stats/batch=<id>/`.",
)
def text_stats(
    context: AssetExecutionContext,
    batch_manifest: dict[str, pa.Table],
    landing: LandingZone,
    lake: LakeStore,
) -> dict[str, pa.Table]:
    out: dict[str, pa.Table] = {}
    run_batches = context.partition_keys
    for batch_id in run_batches:
        started = time.perf_counter()
        outcomes = [
            analyze_file(e, batch_id, landing.storage, lake.storage)
            for e in processed_entries(batch_manifest[batch_id], "text")
        ]
        seconds = time.perf_counter() - started
        out[batch_id] = records_table(outcomes, TEXT_OUTCOME_SCHEMA)
        nbytes = sum(o.bytes for o in outcomes)
        top = [
            (
                o.file,
                o.words,
                o.unique_words,
                ", ".join(f"{w} ({c})" for w, c in json.loads(o.top_words)[:8]),
            )
            for o in outcomes
        ]
        add_batch_metadata(
            context,
            run_batches,
            batch_id,
            {
                "dagster/row_count": len(outcomes),
                "files": len(outcomes),
                "files_quarantined": sum(o.status != "processed" for o in outcomes),
                "bytes": nbytes,
                "lines": sum(o.lines for o in outcomes),
                "words": sum(o.words for o in outcomes),
                "invalid_utf8_bytes": sum(o.invalid_utf8_bytes for o in outcomes),
                "seconds": round(seconds, 4),
                "mb_per_s": mb_per_s(nbytes, seconds),
                "top_words": dg.MetadataValue.md(
                    md_table(("file", "words", "unique", "top words"), top)
                ),
            },
        )
        for o in outcomes:
            if o.status != "processed":
                context.log.warning(f"batch {batch_id}: {o.reason}")
    return out


@batch_asset(
    kinds={"python"},
    description="The batch in numbers: files processed, quarantined and skipped (final "
    "status), rows, rejected rows, words. Plotted across batches in the UI. A file that "
    "failed after intake is marked quarantined in `<lake>/manifests/<batch_id>.json` too.",
)
def batch_summary(
    context: AssetExecutionContext,
    lake: LakeStore,
    batch_manifest: dict[str, pa.Table],
    tables: dict[str, pa.Table],
    text_stats: dict[str, pa.Table],
) -> dict[str, pa.Table]:
    out: dict[str, pa.Table] = {}
    run_batches = context.partition_keys
    for batch_id in run_batches:
        entries, changed = final_entries(
            batch_manifest[batch_id], tables[batch_id], text_stats[batch_id]
        )
        if changed:
            doc = manifest_document(batch_id, entries)
            lake.storage.write_bytes(manifest_key(batch_id), json_bytes(doc))
        summary = summarize(batch_id, entries, tables[batch_id], text_stats[batch_id])
        out[batch_id] = pa.Table.from_pylist([summary], schema=SUMMARY_SCHEMA)
        numbers = {k: v for k, v in summary.items() if k != "batch_id"}
        add_batch_metadata(context, run_batches, batch_id, {"dagster/row_count": 1, **numbers})
    return out


BATCH_ASSETS: list[dg.AssetsDefinition] = [batch_manifest, tables, text_stats, batch_summary]
