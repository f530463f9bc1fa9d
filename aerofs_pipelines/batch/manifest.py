"""The manifest of a batch: every file with its size, digest, kind, dataset and status.

Intake accounts for every file of a complete batch: processed (a table of its dataset,
or text), quarantined (unreadable, unsafe, not what its name says, changed after the
batch was completed, an output that clashes) or skipped (the marker, hidden files,
unsupported types, files added after completion), each with its reason. Nothing is
silently dropped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa

from aerofs_pipelines import kernels
from aerofs_pipelines.batch.dialects import SUFFIX_DELIMITERS, choose_dialect, recorded_dialect
from aerofs_pipelines.batch.errors import FILE_ERRORS, BatchNotProcessable, file_failure
from aerofs_pipelines.lake.layout import (
    output_problem,
    rejects_key,
    table_key,
    text_stats_key,
)
from aerofs_pipelines.lake.storage import Storage, StoredFile, UnsafePathError
from aerofs_pipelines.landing.batches import SUCCESS_MARKER, check_batch_id, parse_marker
from aerofs_pipelines.registry import DatasetMatch, Registry

__all__ = [
    "MANIFEST_SCHEMA",
    "TEXT_SUFFIXES",
    "FileEntry",
    "build_manifest",
    "classify",
    "is_registered",
    "manifest_document",
    "output_version",
    "processed_entries",
]

TEXT_SUFFIXES = (".txt", ".md", ".log")

OUTPUT_FORMAT = "parquet+batch_id/1"
"""What a table file becomes (bump when the kernel's output for the same input changes)."""


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
    dialect: str | None = None
    """Tables: the dialect it is read in, as JSON (sniffed and pinned keys, confidence)."""
    registered: bool | None = None
    """Tables: whether a registry pattern claims it. An unregistered table is converted
    into the lake's unregistered area (``lake.layout.UNREGISTERED``), never published."""


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
        ("dialect", pa.string()),
        ("registered", pa.bool_()),
    ]
)


def classify(name: str) -> str:
    """The kind of a batch file, from its name (a registry pattern may claim more tables)."""
    if name == SUCCESS_MARKER:
        return "marker"
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in SUFFIX_DELIMITERS:
        return "table"
    if suffix in TEXT_SUFFIXES:
        return "text"
    return "other"


def _probe_table(path: Path, name: str, match: DatasetMatch) -> str:
    """The dialect of ``path`` (JSON); raise if it cannot be read as a table of its dataset
    (undecidable encoding, header, schema)."""
    dialect = json.dumps(choose_dialect(path, name, match.spec), sort_keys=True)
    spec = match.spec
    kernels.read_csv(
        path,
        schema=spec.arrow_schema() if spec else None,
        dialect=recorded_dialect(dialect),
        other_columns=spec.other_columns if spec else "reject",
    ).close()
    return dialect


def _probe_text(path: Path) -> None:
    """Raise if ``path`` is compressed or binary data rather than text.

    Text statistics of a gzip stream or an executable would be noise; a few invalid
    UTF-8 bytes in real text are fine (counted by the kernel, never fatal).
    """
    what = kernels.binary_kind(path)
    if what is not None:
        hint = "re-encode it as UTF-8" if what.startswith("UTF-16") else "decompress it"
        raise kernels.InputFormatError(f"this is {what}, not text ({hint} first)")


def _output_name_problem(
    name: str, output: str | None, dataset: str | None, batch_id: str, registered: bool = True
) -> str | None:
    """Why the lake objects this file becomes would have unusable names, or None."""
    keys = [output] if output else []
    if output and dataset:
        keys.append(rejects_key(dataset, batch_id, name, registered=registered))
    return output_problem(name, keys)


def output_version(digest: str, dialect: str | None, match: DatasetMatch) -> str:
    """The version in a table file's lake key: a hash of what the output is made of (the
    input's digest, its dialect, its dataset's schema). A re-run with the same inputs
    writes the same key; a changed input writes a new one, so the file a table snapshot
    references is never overwritten with other rows."""
    declared = match.spec.arrow_schema() if match.spec else None
    schema = declared.to_string() if declared is not None else ""
    if match.spec is not None and declared is not None and not match.spec.strict:
        schema += "\nother columns: infer"  # (strict outputs keep their earlier versions)
    made_of = "\n".join((digest, dialect or "", schema, OUTPUT_FORMAT))
    return hashlib.sha256(made_of.encode()).hexdigest()[:12]


def build_manifest(landing: Storage, batch_id: str, registry: Registry) -> list[FileEntry]:
    """Account for every file of a complete batch: digest, kind, dataset, status, reason.

    ``BatchNotProcessable`` for a batch id that is not valid (a partition registered by
    hand through the UI or API), before any path is built, or a batch without its
    completion marker.
    """
    try:
        check_batch_id(batch_id)
    except ValueError as exc:  # InvalidBatchIdError
        raise BatchNotProcessable(f"{exc}; the batch is not processed") from None
    found = landing.list_files(batch_id)
    if not any(f.key == f"{batch_id}/{SUCCESS_MARKER}" for f in found):
        raise BatchNotProcessable(
            f"batch {batch_id!r} is not complete: no {SUCCESS_MARKER} in {landing.uri(batch_id)}"
        )
    listing = _marker_listing(landing, batch_id, found)
    entries: list[FileEntry] = []
    claimed: dict[str, str] = {}
    for item in found:
        name = item.key[len(batch_id) + 1 :]
        kind = classify(name)
        match = registry.match(name) if kind in ("table", "text", "other") else None
        if match is not None and match.pattern is not None:
            kind = "table"  # a dataset's pattern claims it (an Excel "Unicode text" .txt)
        elif kind != "table":
            match = None
        dataset = match.dataset if match else None
        registered = match.pattern is not None if match else None
        # same-stem files of a dataset would share their rejects: one output per stem
        claim = (
            table_key(match.dataset, batch_id, name, registered=bool(registered))
            if match
            else text_stats_key(batch_id, name)
            if kind == "text"
            else None
        )
        output = claim
        digest: str | None = None
        dialect: str | None = None
        status, reason = "processed", ""
        if item.problem:
            status, reason = "quarantined", f"{name}: {item.problem}"
        elif any(part.startswith(".") for part in name.split("/")):
            status, reason = "skipped", "hidden file (a name starting with '.')"
        else:
            try:
                with landing.local_path(item.key) as path:
                    digest = kernels.digest(path)
                    if kind == "table" and match is not None:
                        dialect = _probe_table(path, name, match)
                    elif kind == "text":
                        _probe_text(path)
            except FILE_ERRORS as exc:
                status, reason = "quarantined", file_failure(exc, name, "not processable")
        if match is not None and digest is not None:
            version = output_version(digest, dialect, match)
            output = table_key(match.dataset, batch_id, name, version, registered=bool(registered))
        if listing is not None and kind != "marker":
            status, reason = _check_listed(listing, name, digest) or (status, reason)
        if status == "processed":
            if kind == "marker":
                status, reason = "skipped", "batch completion marker"
            elif kind == "other":
                status = "skipped"
                reason = (
                    f"unsupported file type {PurePosixPath(name).suffix or '(none)'!r}: tables "
                    f"are {', '.join(SUFFIX_DELIMITERS)} (or what a registry pattern names); "
                    f"text is {', '.join(TEXT_SUFFIXES)}"
                )
            elif (
                too_long := _output_name_problem(name, output, dataset, batch_id, bool(registered))
            ) is not None:
                status, reason = "quarantined", too_long
            elif claim is not None and claim in claimed:
                status = "quarantined"
                reason = f"its output {claim} is already produced by {claimed[claim]}"
            elif kind == "table" and match is not None and registered:
                reason = f"table → dataset {match.dataset!r} (registry pattern {match.pattern!r})"
            elif kind == "table" and match is not None:
                reason = (
                    f"table → unregistered {match.dataset!r}: no registry pattern matches, "
                    f"schema inferred (`aerofs datasets suggest {batch_id}` proposes an entry)"
                )
            else:
                reason = "text → statistics"
        if status == "processed" and claim is not None:
            claimed[claim] = name
        keep_output = output if status == "processed" else None
        entries.append(
            FileEntry(
                name,
                item.size,
                digest,
                kind,
                dataset,
                status,
                reason,
                keep_output,
                dialect,
                registered,
            )
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
    files = [
        {**asdict(e), "dialect": json.loads(e.dialect) if e.dialect else None} for e in entries
    ]
    return {
        "batch_id": batch_id,
        "files": files,
        "counts": counts,
        "bytes": sum(e.size for e in entries),
    }


def is_registered(entry: Mapping[str, Any]) -> bool:
    """Whether a manifest row (or a ``tables`` outcome) is a registered dataset's file;
    rows written before the flag existed are."""
    return entry.get("registered") is not False


def processed_entries(manifest: pa.Table, kind: str) -> list[FileEntry]:
    """The processed files of one ``kind`` of a manifest (as the IO manager passes it)."""
    names = {f.name for f in fields(FileEntry)}
    return [
        FileEntry(**{k: v for k, v in row.items() if k in names})
        for row in manifest.to_pylist()
        if row["kind"] == kind and row["status"] == "processed"
    ]
