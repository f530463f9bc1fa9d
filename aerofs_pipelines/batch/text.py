"""Text statistics: one text file of a batch analysed by the Rust kernel, as JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pyarrow as pa

from aerofs_pipelines import kernels
from aerofs_pipelines.batch.errors import FILE_ERRORS, file_failure
from aerofs_pipelines.batch.formats import json_bytes
from aerofs_pipelines.batch.manifest import FileEntry
from aerofs_pipelines.lake.layout import text_stats_key
from aerofs_pipelines.lake.storage import Storage

__all__ = ["TEXT_OUTCOME_SCHEMA", "TOP_K", "TextOutcome", "analyze_file"]

TOP_K = 20


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
