"""How the ``aerofs`` commands print: one JSON object for ``--json``, else aligned tables
of values made safe for a terminal."""

from __future__ import annotations

import json
import sys
import unicodedata
from datetime import datetime
from typing import Any

__all__ = ["emit_json", "iso", "print_table", "render_text"]


def emit_json(obj: dict[str, Any]) -> None:
    """Exactly one JSON object (one line) on stdout."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def iso(t: datetime | None) -> str:
    """A time as ``2026-01-31 12:00:00Z`` (``-`` for none)."""
    return t.strftime("%Y-%m-%d %H:%M:%SZ") if t is not None else "-"


def print_table(rows: list[list[str]]) -> None:
    """Rows (the first is the header) in left-aligned columns."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def render_text(value: str | None, *, spaces: bool = True) -> str:
    """``value`` safe to print on a terminal in one line: control and format characters
    and backslashes escaped (``\\x0a``, ``\\x1b``, ``\\u202e``, ``\\\\``), and spaces too
    when ``spaces`` is False (for one-word columns, so a value cannot pose as two)."""
    if value is None:
        return "-"
    out: list[str] = []
    for char in value:
        if char == "\\":
            out.append("\\\\")
        elif (char == " " and not spaces) or unicodedata.category(char) in _UNSAFE_CATEGORIES:
            out.append(_escape(char))
        else:
            out.append(char)
    return "".join(out)
