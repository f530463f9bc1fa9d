"""The per-batch assets: ``batch_manifest`` → ``tables``, ``text_stats`` → ``batch_summary``.

Each is partitioned by batch (``batches_partitions``) and works on every partition of
its run in turn (``context.partition_keys``), so a single-run backfill of many batches
is one step per asset. Values pass between them as ``dict[batch_id, pyarrow.Table]``
through the Parquet IO manager; the data itself goes to the lake layout of DESIGN.md.

Outputs are deterministic (sorted, no timestamps; Parquet by the kernels, JSON with
sorted keys) and overwritten atomically, so re-running a batch gives identical bytes.
A file that cannot be processed is recorded with its reason and the rest of the batch
goes on; only storage failures (retried with backoff) fail a step.
"""

import json
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path, PurePosixPath
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
from dagster import AssetExecutionContext

from aerofs_pipelines import kernels
from aerofs_pipelines.batches import (
    SUCCESS_MARKER,
    batches_partitions,
    check_batch_id,
    parse_marker,
)
from aerofs_pipelines.errors import KernelError, is_environment_error
from aerofs_pipelines.partition_metadata import add_batch_metadata
from aerofs_pipelines.registry import Registry, table_schema
from aerofs_pipelines.resources import DatasetRegistry, LakeStore, LandingZone
from aerofs_pipelines.storage import Storage, StoredFile, UnsafePathError, scratch_dir

__all__ = [
    "BATCH_ASSETS",
    "BATCH_GROUP",
    "S3_RETRY",
    "batch_manifest",
    "batch_summary",
    "manifest_key",
    "rejects_key",
    "table_key",
    "tables",
    "text_stats",
    "text_stats_key",
]

BATCH_GROUP = "batch"
TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t"}
TEXT_SUFFIXES = (".txt", ".md", ".log")
TOP_K = 20
PREVIEW_ROWS = 5
PREVIEW_COLUMNS = 20
"""A very wide table (thousands of columns) previews its first columns only."""
SCHEMA_COLUMNS = 1000
"""Column schema metadata lists at most this many columns (the rest are counted)."""

S3_RETRY = dg.RetryPolicy(
    max_retries=3, delay=0.5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)
"""Storage calls (S3 above all) fail transiently: retry the step with backoff."""

SINGLE_RUN = dg.BackfillPolicy.single_run()
"""A backfill of many batches is one run: every asset loops over ``context.partition_keys``."""


def _batch_asset(**kwargs: Any) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """``@dg.asset`` with what every per-batch asset shares (partitions, group, policies)."""

    def apply(fn: Callable[..., Any]) -> dg.AssetsDefinition:
        with warnings.catch_warnings():  # backfill_policy is "beta" in dagster 1.13
            warnings.simplefilter("ignore", dg.BetaWarning)
            decorator: Callable[[Callable[..., Any]], dg.AssetsDefinition] = dg.asset(
                partitions_def=batches_partitions,
                group_name=BATCH_GROUP,
                backfill_policy=SINGLE_RUN,
                retry_policy=S3_RETRY,
                **kwargs,
            )
            return decorator(fn)

    return apply


# --------------------------------------------------------------------------- lake layout


def manifest_key(batch_id: str) -> str:
    return f"manifests/{batch_id}.json"


def _stem(name: str) -> str:
    return str(PurePosixPath(name).with_suffix(""))


def table_key(dataset: str, batch_id: str, name: str) -> str:
    return f"tables/{dataset}/batch={batch_id}/{_stem(name)}.parquet"


def rejects_key(dataset: str, batch_id: str, name: str) -> str:
    return f"rejects/{dataset}/batch={batch_id}/{_stem(name)}.rejects.parquet"


def text_stats_key(batch_id: str, name: str) -> str:
    return f"text_stats/batch={batch_id}/{name}.json"


def json_bytes(obj: Any) -> bytes:
    """Canonical JSON: sorted keys, UTF-8, trailing newline (same input, same bytes)."""
    return (json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def describe_error(exc: BaseException, name: str) -> str:
    """One line saying what is wrong with file ``name`` (no temporary paths)."""
    if isinstance(exc, KernelError):
        where = name
        if exc.line is not None:
            where += f":{exc.line}" + (f":{exc.column}" if exc.column is not None else "")
        text = f"{where}: {exc.reason}"
        return text + (f" (column {exc.column_name!r})" if exc.column_name else "")
    if isinstance(exc, OSError) and exc.strerror:
        return f"{name}: {exc.strerror}"
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if name in text else f"{name}: {text}"


FILE_ERRORS = (KernelError, OSError, ValueError)
"""What reading or converting one file may raise (``UnsafePathError`` is a ValueError)."""


def file_failure(exc: Exception, name: str, what: str) -> str:
    """The one-line reason file ``name`` failed (``what``: at which stage).

    Machine faults (disk full, I/O error, out of memory, …) are not the file's: they are
    raised again, so the step fails and is retried instead of quarantining good data.
    """
    if is_environment_error(exc):
        raise exc
    return f"{what}: {describe_error(exc, name)}"


def md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A small Markdown table (cells escaped, long ones cut)."""

    def cell(v: Any) -> str:
        s = "" if v is None else str(v)
        s = s.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
        return s if len(s) <= 80 else s[:79] + "…"

    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _table(records: Sequence[Any], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist([asdict(r) for r in records], schema=schema)


def _mb_per_s(nbytes: int, seconds: float) -> float:
    return round(nbytes / 1e6 / seconds, 3) if seconds > 0 else 0.0


# --------------------------------------------------------------------------- manifest


@dataclass(frozen=True)
class FileEntry:
    """One file of a batch, as the manifest records it."""

    name: str
    size: int
    digest: str | None
    kind: str
    """``table``, ``text``, ``marker`` or ``other``."""
    dataset: str | None
    status: str
    """``processed``, ``quarantined`` or ``skipped``."""
    reason: str
    output: str | None
    """The lake key this file becomes, when processed."""


MANIFEST_SCHEMA = pa.schema(
    [
        ("name", pa.string()),
        ("size", pa.int64()),
        ("digest", pa.string()),
        ("kind", pa.string()),
        ("dataset", pa.string()),
        ("status", pa.string()),
        ("reason", pa.string()),
        ("output", pa.string()),
    ]
)


def classify(name: str) -> str:
    """The kind of a batch file, from its name."""
    if name == SUCCESS_MARKER:
        return "marker"
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in TABLE_SUFFIXES:
        return "table"
    if suffix in TEXT_SUFFIXES:
        return "text"
    return "other"


def _probe_table(path: Path, name: str, registry: Registry) -> None:
    """Raise if ``path`` cannot be read as a table of its dataset (header, schema, text)."""
    spec = registry.match(name).spec
    delimiter = TABLE_SUFFIXES[PurePosixPath(name).suffix.lower()]
    schema = spec.arrow_schema() if spec else None
    kernels.read_csv(path, schema=schema, delimiter=delimiter).close()


def _probe_text(path: Path) -> None:
    """Raise if ``path`` is compressed or binary data rather than text.

    Text statistics of a gzip stream or an executable would be noise; a few invalid
    UTF-8 bytes in real text are fine (counted by the kernel, never fatal).
    """
    what = kernels.binary_kind(path)
    if what is not None:
        hint = "re-encode it as UTF-8" if what.startswith("UTF-16") else "decompress it"
        raise kernels.InputFormatError(f"this is {what}, not text ({hint} first)")


MAX_OUTPUT_NAME_BYTES = 160
"""Longest lake object name (one segment of an output key) a file may give rise to.

Filesystems cap a name at 255 bytes, and an atomic write first writes a hidden
temporary sibling whose name adds the writer's host, pid and a random suffix."""
MAX_OUTPUT_KEY_BYTES = 800
"""Longest output key: S3 caps a whole key at 1,024 bytes, the lake prefix included."""


def _output_name_problem(
    name: str, output: str | None, dataset: str | None, batch_id: str
) -> str | None:
    """Why the lake objects this file becomes would have unusable names, or None."""
    keys = [output] if output else []
    if output and dataset:
        keys.append(rejects_key(dataset, batch_id, name))
    for key in keys:
        longest = max(key.split("/"), key=lambda part: len(part.encode()))
        if len(longest.encode()) > MAX_OUTPUT_NAME_BYTES:
            return (
                f"{name}: file name too long: its lake output {longest[:40]}… would be "
                f"{len(longest.encode())} bytes (at most {MAX_OUTPUT_NAME_BYTES}); rename it"
            )
        if len(key.encode()) > MAX_OUTPUT_KEY_BYTES:
            return (
                f"{name}: path too long: its lake output key would be {len(key.encode())} "
                f"bytes (at most {MAX_OUTPUT_KEY_BYTES}); shorten its folders or name"
            )
    return None


def build_manifest(landing: Storage, batch_id: str, registry: Registry) -> list[FileEntry]:
    """Account for every file of a complete batch: digest, kind, dataset, status, reason.

    A partition key that is not a valid batch id (one registered by hand through the UI
    or API) fails the step at once, before any path is built, and is not retried.
    """
    try:
        check_batch_id(batch_id)
    except ValueError as exc:  # InvalidBatchIdError
        raise dg.Failure(
            description=f"{exc}; the batch is not processed", allow_retries=False
        ) from None
    found = landing.list_files(batch_id)
    if not any(f.key == f"{batch_id}/{SUCCESS_MARKER}" for f in found):
        raise dg.Failure(
            description=f"batch {batch_id!r} is not complete: no {SUCCESS_MARKER} in "
            f"{landing.uri(batch_id)}",
            allow_retries=False,
        )
    listing = _marker_listing(landing, batch_id, found)
    entries: list[FileEntry] = []
    claimed: dict[str, str] = {}
    for item in found:
        name = item.key[len(batch_id) + 1 :]
        kind = classify(name)
        match = registry.match(name) if kind == "table" else None
        dataset = match.dataset if match else None
        output = (
            table_key(match.dataset, batch_id, name)
            if match
            else text_stats_key(batch_id, name)
            if kind == "text"
            else None
        )
        digest: str | None = None
        status, reason = "processed", ""
        if item.problem:
            status, reason = "quarantined", f"{name}: {item.problem}"
        elif any(part.startswith(".") for part in name.split("/")):
            status, reason = "skipped", "hidden file (a name starting with '.')"
        else:
            try:
                with landing.local_path(item.key) as path:
                    digest = kernels.digest(path)
                    if kind == "table":
                        _probe_table(path, name, registry)
                    elif kind == "text":
                        _probe_text(path)
            except FILE_ERRORS as exc:
                status, reason = "quarantined", file_failure(exc, name, "not processable")
        if listing is not None and kind != "marker":
            status, reason = _check_listed(listing, name, digest) or (status, reason)
        if status == "processed":
            if kind == "marker":
                status, reason = "skipped", "batch completion marker"
            elif kind == "other":
                status = "skipped"
                reason = (
                    f"unsupported file type {PurePosixPath(name).suffix or '(none)'!r}: tables "
                    f"are {', '.join(TABLE_SUFFIXES)}; text is {', '.join(TEXT_SUFFIXES)}"
                )
            elif (too_long := _output_name_problem(name, output, dataset, batch_id)) is not None:
                status, reason = "quarantined", too_long
            elif output is not None and output in claimed:
                status = "quarantined"
                reason = f"its output {output} is already produced by {claimed[output]}"
            elif kind == "table" and match is not None:
                how = (
                    f"registry pattern {match.pattern!r}"
                    if match.pattern
                    else "no registry pattern: schema inferred"
                )
                reason = f"table → dataset {match.dataset!r} ({how})"
            else:
                reason = "text → statistics"
        if status == "processed" and output is not None:
            claimed[output] = name
        keep_output = output if status == "processed" else None
        entries.append(
            FileEntry(name, item.size, digest, kind, dataset, status, reason, keep_output)
        )
    present = {e.name for e in entries}
    for name, (size, digest_) in sorted((listing or {}).items()):
        if name not in present:
            reason = f"{name}: listed in the {SUCCESS_MARKER} marker but missing from the batch"
            entries.append(
                FileEntry(name, size, digest_, classify(name), None, "quarantined", reason, None)
            )
    return sorted(entries, key=lambda e: e.name) if listing else entries


MAX_MARKER_BYTES = 64 * 1024 * 1024
"""A ``_SUCCESS`` larger than this is not read as a file list (one entry is ~150 bytes)."""


def _marker_listing(
    landing: Storage, batch_id: str, found: Sequence[StoredFile]
) -> Mapping[str, tuple[int, str]] | None:
    """The files the batch's ``_SUCCESS`` marker lists (``aerofs ingest``), else None."""
    key = f"{batch_id}/{SUCCESS_MARKER}"
    marker = next((f for f in found if f.key == key), None)
    if marker is None or marker.problem or marker.size > MAX_MARKER_BYTES:
        return None  # a special file, a link out of the zone, ...: the file loop says why
    try:
        return parse_marker(landing.read_bytes(f"{batch_id}/{SUCCESS_MARKER}"))
    except (OSError, UnsafePathError):
        return None  # unreadable marker (e.g. a symlink): the file loop says why


def _check_listed(
    listing: Mapping[str, tuple[int, str]], name: str, digest: str | None
) -> tuple[str, str] | None:
    """Status and reason for a file the marker does not list, or lists with other content."""
    if name not in listing:
        return "skipped", (
            f"not part of the batch: not in the file list of its {SUCCESS_MARKER} marker "
            "(added after the batch was completed)"
        )
    if digest is not None and digest != listing[name][1]:
        return "quarantined", (
            f"changed after the batch was completed: its digest differs from the one in "
            f"the {SUCCESS_MARKER} marker"
        )
    return None


def manifest_document(batch_id: str, entries: Sequence[FileEntry]) -> dict[str, Any]:
    """The JSON manifest written to ``manifests/<batch_id>.json``."""
    counts = {
        s: sum(e.status == s for e in entries) for s in ("processed", "quarantined", "skipped")
    }
    return {
        "batch_id": batch_id,
        "files": [asdict(e) for e in entries],
        "counts": counts,
        "bytes": sum(e.size for e in entries),
    }


@_batch_asset(
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
        entries = build_manifest(landing.storage, batch_id, registry.registry)
        doc = manifest_document(batch_id, entries)
        key = manifest_key(batch_id)
        lake.storage.write_bytes(key, json_bytes(doc))
        out[batch_id] = _table(entries, MANIFEST_SCHEMA)
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


# --------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class TableOutcome:
    """What happened to one table file of a batch."""

    file: str
    dataset: str
    status: str
    reason: str
    rows: int
    rejected_rows: int
    bytes_read: int
    bytes_written: int
    schema: str
    """Column → Arrow type, as JSON."""
    output: str | None
    rejects: str | None


TABLE_OUTCOME_SCHEMA = pa.schema(
    [
        ("file", pa.string()),
        ("dataset", pa.string()),
        ("status", pa.string()),
        ("reason", pa.string()),
        ("rows", pa.int64()),
        ("rejected_rows", pa.int64()),
        ("bytes_read", pa.int64()),
        ("bytes_written", pa.int64()),
        ("schema", pa.string()),
        ("output", pa.string()),
        ("rejects", pa.string()),
    ]
)


def _entries(manifest: pa.Table, kind: str) -> list[FileEntry]:
    names = {f.name for f in fields(FileEntry)}
    return [
        FileEntry(**{k: v for k, v in row.items() if k in names})
        for row in manifest.to_pylist()
        if row["kind"] == kind and row["status"] == "processed"
    ]


def _preview(path: Path) -> str:
    pf = pq.ParquetFile(path)
    names = pf.schema_arrow.names
    batch = next(pf.iter_batches(batch_size=PREVIEW_ROWS, columns=names[:PREVIEW_COLUMNS]), None)
    if batch is None:
        return "(no rows)"
    table = md_table(batch.schema.names, [list(r.values()) for r in batch.to_pylist()])
    more = len(names) - PREVIEW_COLUMNS
    return table + (f"\n\n({more} more columns not shown)" if more > 0 else "")


def convert_table(
    entry: FileEntry,
    batch_id: str,
    landing: Storage,
    lake: Storage,
    registry: Registry,
    scratch: Path,
) -> tuple[TableOutcome, str | None]:
    """Convert one CSV/TSV file of a batch into the lake; the outcome and a preview."""
    dataset = entry.dataset or registry.match(entry.name).dataset
    spec = registry.get(dataset)
    out_path, rej_path = scratch / "table.parquet", scratch / "rejects.parquet"
    out_key = table_key(dataset, batch_id, entry.name)
    rej_key = rejects_key(dataset, batch_id, entry.name)
    try:
        with landing.local_path(f"{batch_id}/{entry.name}") as src:
            stats = kernels.csv_to_parquet(
                src,
                out_path,
                schema=spec.arrow_schema() if spec else None,
                delimiter=TABLE_SUFFIXES[PurePosixPath(entry.name).suffix.lower()],
                on_error="quarantine",
                rejects=rej_path,
            )
    except FILE_ERRORS as exc:
        reason = file_failure(exc, entry.name, "conversion failed")
        return TableOutcome(
            entry.name, dataset, "quarantined", reason, 0, 0, 0, 0, "{}", None, None
        ), None
    lake.put_file(out_path, out_key)
    rejected = int(stats["rejected_rows"])
    if rejected:
        lake.put_file(rej_path, rej_key)
    else:
        lake.delete(rej_key)  # a previous run's rejects would be stale
    reason = f"{stats['rows']} rows" + (
        f", {rejected} rejected rows quarantined" if rejected else ""
    )
    outcome = TableOutcome(
        file=entry.name,
        dataset=dataset,
        status="processed",
        reason=reason,
        rows=int(stats["rows"]),
        rejected_rows=rejected,
        bytes_read=int(stats["bytes_read"]),
        bytes_written=int(stats["bytes_written"]),
        schema=json.dumps(stats["schema"]),
        output=out_key,
        rejects=rej_key if rejected else None,
    )
    return outcome, _preview(out_path)


_SCHEMAS: dict[tuple[str, str], dg.TableSchema] = {}
"""TableSchema of registered datasets, by (registry source, dataset): built once."""


def _column_schema(outcome: TableOutcome, registry: Registry) -> dg.TableSchema:
    spec = registry.get(outcome.dataset)
    if spec is not None:
        key = (registry.source, spec.name)
        if key not in _SCHEMAS:
            _SCHEMAS[key] = table_schema(spec.pandera_schema())
        return _SCHEMAS[key]
    cols = list(json.loads(outcome.schema).items())
    shown = [dg.TableColumn(name, str(typ)) for name, typ in cols[:SCHEMA_COLUMNS]]
    if len(cols) > SCHEMA_COLUMNS:
        shown.append(dg.TableColumn(f"… {len(cols) - SCHEMA_COLUMNS} more columns", "-"))
    return dg.TableSchema(columns=shown)


@_batch_asset(
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
        for entry in _entries(batch_manifest[batch_id], "table"):
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
        out[batch_id] = _table(outcomes, TABLE_OUTCOME_SCHEMA)
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
        "mb_per_s": _mb_per_s(nbytes, seconds),
        "tables": dg.MetadataValue.md(
            md_table(
                ("file", "dataset", "status", "rows", "rejected", "reason"),
                [
                    (o.file, o.dataset, o.status, o.rows, o.rejected_rows, o.reason)
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


# --------------------------------------------------------------------------- text stats


@dataclass(frozen=True)
class TextOutcome:
    """What happened to one text file of a batch."""

    file: str
    status: str
    reason: str
    bytes: int
    lines: int
    words: int
    chars: int
    unique_words: int
    invalid_utf8_bytes: int
    top_words: str
    """``[[word, count], ...]`` as JSON."""
    output: str | None


TEXT_OUTCOME_SCHEMA = pa.schema(
    [
        ("file", pa.string()),
        ("status", pa.string()),
        ("reason", pa.string()),
        ("bytes", pa.int64()),
        ("lines", pa.int64()),
        ("words", pa.int64()),
        ("chars", pa.int64()),
        ("unique_words", pa.int64()),
        ("invalid_utf8_bytes", pa.int64()),
        ("top_words", pa.string()),
        ("output", pa.string()),
    ]
)


def analyze_file(entry: FileEntry, batch_id: str, landing: Storage, lake: Storage) -> TextOutcome:
    """Text statistics of one file, written as JSON to the lake."""
    key = text_stats_key(batch_id, entry.name)
    try:
        with landing.local_path(f"{batch_id}/{entry.name}") as src:
            stats = kernels.analyze_text(src, top_k=TOP_K)
    except FILE_ERRORS as exc:
        reason = file_failure(exc, entry.name, "analysis failed")
        return TextOutcome(entry.name, "quarantined", reason, 0, 0, 0, 0, 0, 0, "[]", None)
    doc = {"batch_id": batch_id, "file": entry.name, "digest": entry.digest, **stats}
    lake.write_bytes(key, json_bytes(doc))
    return TextOutcome(
        file=entry.name,
        status="processed",
        reason=f"{stats['words']} words",
        bytes=int(stats["bytes"]),
        lines=int(stats["lines"]),
        words=int(stats["words"]),
        chars=int(stats["chars"]),
        unique_words=int(stats["unique_words"]),
        invalid_utf8_bytes=int(stats["invalid_utf8_bytes"]),
        top_words=json.dumps(stats["top_words"], ensure_ascii=False),
        output=key,
    )


@_batch_asset(
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
            for e in _entries(batch_manifest[batch_id], "text")
        ]
        seconds = time.perf_counter() - started
        out[batch_id] = _table(outcomes, TEXT_OUTCOME_SCHEMA)
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
                "mb_per_s": _mb_per_s(nbytes, seconds),
                "top_words": dg.MetadataValue.md(
                    md_table(("file", "words", "unique", "top words"), top)
                ),
            },
        )
        for o in outcomes:
            if o.status != "processed":
                context.log.warning(f"batch {batch_id}: {o.reason}")
    return out


# --------------------------------------------------------------------------- summary


SUMMARY_SCHEMA = pa.schema(
    [
        ("batch_id", pa.string()),
        ("files", pa.int64()),
        ("bytes", pa.int64()),
        ("processed", pa.int64()),
        ("quarantined", pa.int64()),
        ("skipped", pa.int64()),
        ("tables", pa.int64()),
        ("rows", pa.int64()),
        ("rejected_rows", pa.int64()),
        ("text_files", pa.int64()),
        ("words", pa.int64()),
    ]
)


def final_entries(
    manifest: pa.Table, tables_: pa.Table, texts: pa.Table
) -> tuple[list[FileEntry], bool]:
    """The manifest's entries with each file's final status, and whether any changed.

    Intake probes every file, but a conversion can still fail afterwards (an I/O error, a
    bad row past the probe): such a file is quarantined with the conversion's reason.
    """
    failed = {
        r["file"]: r["reason"]
        for r in tables_.to_pylist() + texts.to_pylist()
        if r["status"] != "processed"
    }
    entries = [FileEntry(**row) for row in manifest.to_pylist()]
    final = [
        replace(e, status="quarantined", reason=failed[e.name], output=None)
        if e.name in failed and e.status == "processed"
        else e
        for e in entries
    ]
    return final, final != entries


def summarize(
    batch_id: str, entries: Sequence[FileEntry], tables_: pa.Table, texts: pa.Table
) -> dict[str, Any]:
    """One batch's totals: files by final status, rows, rejected rows, words."""
    status = [e.status for e in entries]
    table_rows = [r for r in tables_.to_pylist() if r["status"] == "processed"]
    text_rows = [r for r in texts.to_pylist() if r["status"] == "processed"]
    return {
        "batch_id": batch_id,
        "files": len(entries),
        "bytes": sum(e.size for e in entries),
        "processed": status.count("processed"),
        "quarantined": status.count("quarantined"),
        "skipped": status.count("skipped"),
        "tables": len(table_rows),
        "rows": sum(int(r["rows"]) for r in table_rows),
        "rejected_rows": sum(int(r["rejected_rows"]) for r in table_rows),
        "text_files": len(text_rows),
        "words": sum(int(r["words"]) for r in text_rows),
    }


@_batch_asset(
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
