"""A batch in numbers, and each file's final status after conversion."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pyarrow as pa

from aerofs_pipelines.batch.manifest import FileEntry

__all__ = ["SUMMARY_SCHEMA", "final_entries", "summarize"]

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
