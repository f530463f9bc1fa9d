"""Asset checks on the batch assets, backed by pandera and the dataset registry.

Checks cover every batch of their run (a single-run backfill checks many at once); the
metadata names the failing batches, files, columns and values, so the reason is
visible in the UI. ``tables_match_schema`` is blocking: a batch whose tables break their
dataset's schema must not flow on to the summary and the catalog.

Checks carry no op ``RetryPolicy``: Dagster would retry a *failed blocking check* as if it
were an error. Their S3 reads retry inside the client (botocore standard mode, 5 attempts).
"""

import json
from collections.abc import Sequence
from typing import Any

import dagster as dg
from dagster import AssetCheckExecutionContext

from aerofs_pipelines.batch.formats import md_table
from aerofs_pipelines.batch.manifest import is_registered
from aerofs_pipelines.batch.validation import (
    MAX_FAILURE_ROWS,
    manifest_files,
    processed_files,
    read_table,
    validate_table,
)
from aerofs_pipelines.defs.assets import batch_manifest, tables, text_stats
from aerofs_pipelines.defs.metadata import table_schema
from aerofs_pipelines.defs.partitions import BATCHES
from aerofs_pipelines.defs.resources import DatasetRegistry, LakeStore
from aerofs_pipelines.lake.layout import rejects_key

__all__ = [
    "BATCH_CHECKS",
    "batch_has_no_quarantined_files",
    "run_batch_ids",
    "tables_all_converted",
    "tables_are_registered",
    "tables_have_no_rejected_rows",
    "tables_match_schema",
    "text_is_valid_utf8",
]


_PARTITION_TAG = "dagster/partition"
_RANGE_START_TAG = "dagster/asset_partition_range_start"
_RANGE_END_TAG = "dagster/asset_partition_range_end"


def run_batch_ids(context: AssetCheckExecutionContext) -> list[str]:
    """The batches (partitions) the current run covers, in partition order."""
    tags = context.run.tags
    if _PARTITION_TAG in tags:
        return [tags[_PARTITION_TAG]]
    start, end = tags.get(_RANGE_START_TAG), tags.get(_RANGE_END_TAG)
    if start is None or end is None:
        return []
    keys = list(context.instance.get_dynamic_partitions(BATCHES))
    if start not in keys or end not in keys:
        raise dg.Failure(f"partition range {start}..{end} is not in 'batches'")
    return keys[keys.index(start) : keys.index(end) + 1]


@dg.asset_check(
    asset=tables,
    blocking=True,
    description="Every table of the batch satisfies its dataset's pandera schema (registry "
    "datasets: types, nullability, uniqueness, value checks; others: their inferred types).",
)
def tables_match_schema(
    context: AssetCheckExecutionContext, lake: LakeStore, registry: DatasetRegistry
) -> dg.AssetCheckResult:
    reg = registry.registry
    failures: list[dict[str, Any]] = []
    problems: list[str] = []
    checked = 0
    schemas: dict[str, Any] = {}
    datasets: set[str] = set()
    failed_datasets: set[str] = set()
    for batch_id in run_batch_ids(context):
        for entry in processed_files(lake.storage, batch_id, "table"):
            cases, problem = validate_table(lake.storage, reg, batch_id, entry, schemas)
            checked += 1
            datasets.add(entry["dataset"])
            failures.extend(cases)
            if problem and cases:
                problems.append(f"{batch_id}/{entry['name']} ({entry['dataset']}): {problem}")
                failed_datasets.add(entry["dataset"])
    reason = "; ".join(problems) if problems else f"{checked} table(s) match their schema"
    metadata: dict[str, Any] = {
        "tables_checked": checked,
        "tables_failed": len(problems),
        "failure_cases": len(failures),
        "reason": reason,
    }
    if failed_datasets:  # what an alert names as the dataset (defs/alerts.py)
        metadata["failed_datasets"] = ", ".join(sorted(failed_datasets))
    if failures:
        metadata["failures"] = dg.MetadataValue.md(
            md_table(
                ("batch", "file", "column", "check", "value", "row"),
                [list(f.values()) for f in failures[:MAX_FAILURE_ROWS]],
            )
        )
    for name in sorted(datasets & set(schemas)):
        metadata[f"schema_{name}"] = dg.MetadataValue.table_schema(table_schema(schemas[name]))
    return dg.AssetCheckResult(passed=not problems, metadata=metadata, description=reason)


@dg.asset_check(
    asset=tables,
    description="Every table accepted into the batch was converted (none failed wholesale).",
)
def tables_all_converted(
    context: AssetCheckExecutionContext, lake: LakeStore
) -> dg.AssetCheckResult:
    missing: list[str] = []
    checked = 0
    for batch_id in run_batch_ids(context):
        for entry in processed_files(lake.storage, batch_id, "table"):
            checked += 1
            if not lake.storage.exists(entry["output"]):
                missing.append(f"{batch_id}/{entry['name']}")
    reason = (
        f"not converted: {', '.join(missing[:20])}" if missing else f"{checked} table(s) converted"
    )
    return dg.AssetCheckResult(
        passed=not missing,
        metadata={"tables": checked, "not_converted": len(missing), "reason": reason},
        description=reason,
    )


@dg.asset_check(
    asset=tables,
    description="No row was rejected by the CSV parser (rejected rows are kept, with their "
    "reason, in `<lake>/rejects/`).",
)
def tables_have_no_rejected_rows(
    context: AssetCheckExecutionContext, lake: LakeStore
) -> dg.AssetCheckResult:
    samples: list[Sequence[Any]] = []
    rejected = 0
    for batch_id in run_batch_ids(context):
        for entry in processed_files(lake.storage, batch_id, "table"):
            key = rejects_key(
                entry["dataset"], batch_id, entry["name"], registered=is_registered(entry)
            )
            if not lake.storage.exists(key):
                continue
            rows = read_table(lake.storage, key).to_pylist()
            rejected += len(rows)
            samples += [(batch_id, entry["name"], r["line"], r["reason"]) for r in rows[:5]]
    reason = f"{rejected} rejected row(s)" if rejected else "no rejected rows"
    metadata: dict[str, Any] = {"rejected_rows": rejected, "reason": reason}
    if samples:
        metadata["samples"] = dg.MetadataValue.md(
            md_table(("batch", "file", "line", "reason"), samples[:MAX_FAILURE_ROWS])
        )
    return dg.AssetCheckResult(
        passed=rejected == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=metadata,
        description=reason,
    )


@dg.asset_check(
    asset=tables,
    description="Every table file of the batch belongs to a registered dataset. A file no "
    "registry pattern matches is converted into the lake's unregistered area and never "
    "published to a lake table; `aerofs datasets suggest BATCH` proposes its registry entry.",
)
def tables_are_registered(
    context: AssetCheckExecutionContext, lake: LakeStore
) -> dg.AssetCheckResult:
    batch_ids = run_batch_ids(context)
    rows = [
        (batch_id, f["name"], f["dataset"], f["output"])
        for batch_id in batch_ids
        for f in processed_files(lake.storage, batch_id, "table")
        if not is_registered(f)
    ]
    reason = (
        f"{len(rows)} table file(s) match no registered dataset: they wait in the "
        f"unregistered area; `aerofs datasets suggest BATCH` proposes registry entries"
        if rows
        else "every table file belongs to a registered dataset"
    )
    metadata: dict[str, Any] = {"unregistered_files": len(rows), "reason": reason}
    if rows:
        metadata["files"] = dg.MetadataValue.md(
            md_table(("batch", "file", "suggested dataset", "converted to"), rows[:50])
        )
        first = sorted({r[0] for r in rows})
        metadata["suggest"] = dg.MetadataValue.md(
            "\n".join(f"`aerofs datasets suggest {b}`" for b in first[:20])
        )
    return dg.AssetCheckResult(
        passed=not rows,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=metadata,
        description=reason,
    )


@dg.asset_check(
    asset=batch_manifest,
    description="No file of the batch was quarantined at intake (unreadable, unsafe link, "
    "not a table of its dataset, clashing output).",
)
def batch_has_no_quarantined_files(
    context: AssetCheckExecutionContext, lake: LakeStore
) -> dg.AssetCheckResult:
    rows = [
        (batch_id, f["name"], f["reason"])
        for batch_id in run_batch_ids(context)
        for f in manifest_files(lake.storage, batch_id)
        if f["status"] == "quarantined"
    ]
    reason = f"{len(rows)} file(s) quarantined" if rows else "no quarantined files"
    metadata: dict[str, Any] = {"quarantined": len(rows), "reason": reason}
    if rows:
        metadata["files"] = dg.MetadataValue.md(md_table(("batch", "file", "reason"), rows[:50]))
    return dg.AssetCheckResult(
        passed=not rows,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=metadata,
        description=reason,
    )


@dg.asset_check(
    asset=text_stats,
    description="The text files are valid UTF-8 (invalid bytes are counted, never fatal).",
)
def text_is_valid_utf8(context: AssetCheckExecutionContext, lake: LakeStore) -> dg.AssetCheckResult:
    bad: list[tuple[str, str, int]] = []
    checked = 0
    for batch_id in run_batch_ids(context):
        for entry in processed_files(lake.storage, batch_id, "text"):
            if not lake.storage.exists(entry["output"]):
                continue
            checked += 1
            stats = json.loads(lake.storage.read_bytes(entry["output"]))
            if stats["invalid_utf8_bytes"]:
                bad.append((batch_id, entry["name"], int(stats["invalid_utf8_bytes"])))
    reason = (
        f"{len(bad)} file(s) with invalid UTF-8 bytes" if bad else f"{checked} file(s) valid UTF-8"
    )
    metadata: dict[str, Any] = {
        "files_checked": checked,
        "invalid_utf8_bytes": sum(b[2] for b in bad),
        "reason": reason,
    }
    if bad:
        metadata["files"] = dg.MetadataValue.md(md_table(("batch", "file", "invalid bytes"), bad))
    return dg.AssetCheckResult(
        passed=not bad,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=metadata,
        description=reason,
    )


BATCH_CHECKS: list[dg.AssetChecksDefinition] = [
    tables_match_schema,
    tables_all_converted,
    tables_have_no_rejected_rows,
    tables_are_registered,
    batch_has_no_quarantined_files,
    text_is_valid_utf8,
]
