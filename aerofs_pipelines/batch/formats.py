"""Formats the batch outputs share: canonical JSON, small Markdown tables, Arrow rows.

Outputs are deterministic (sorted keys, no timestamps), so processing a batch again
gives identical bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any

import pyarrow as pa

__all__ = ["json_bytes", "md_table", "records_table"]


def json_bytes(obj: Any) -> bytes:
    """Canonical JSON: sorted keys, UTF-8, trailing newline (same input, same bytes)."""
    return (json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A small Markdown table (cells escaped, long ones cut)."""

    def cell(v: Any) -> str:
        s = "" if v is None else str(v)
        s = s.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
        return s if len(s) <= 80 else s[:79] + "…"

    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def records_table(records: Sequence[Any], schema: pa.Schema) -> pa.Table:
    """Dataclass records as an Arrow table of ``schema``."""
    return pa.Table.from_pylist([asdict(r) for r in records], schema=schema)
