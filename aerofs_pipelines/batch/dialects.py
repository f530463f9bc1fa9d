"""How the pipeline chooses a table file's dialect, and how it is recorded.

A dataset may pin any subset of the dialect in the registry (``dialect:``); a ``.tsv``
name pins the tab delimiter unless the registry says otherwise; the sniffer decides
the rest from the file. The manifest records the whole dialect, its confidence and
which keys were pinned, and the conversion reads the file in exactly that dialect.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from aerofs_pipelines import kernels
from aerofs_pipelines.registry import DatasetSpec

__all__ = ["SUFFIX_DELIMITERS", "choose_dialect", "pinned_options", "recorded_dialect"]

SUFFIX_DELIMITERS: Mapping[str, str | None] = {".csv": None, ".tsv": "\t"}
"""Table file suffixes, and the delimiter the suffix implies (None: sniffed)."""


def pinned_options(name: str, spec: DatasetSpec | None) -> dict[str, object]:
    """The dialect keys fixed before sniffing: the dataset's pins, the suffix's delimiter."""
    pins: dict[str, object] = dict(spec.dialect) if spec is not None else {}
    implied = SUFFIX_DELIMITERS.get(PurePosixPath(name).suffix.lower())
    if implied is not None:
        pins.setdefault("delimiter", implied)
    return pins


def choose_dialect(path: Path, name: str, spec: DatasetSpec | None) -> dict[str, Any]:
    """The dialect to read ``path`` in, as the manifest records it.

    Raises ``InputFormatError`` when the sniffer cannot decide (an undecidable encoding
    is named as such): the file is quarantined rather than read as mojibake.
    """
    pins = pinned_options(name, spec)
    sniffed = kernels.sniff(path, pinned=pins)
    return {**sniffed, "pinned": sorted(pins)}


def recorded_dialect(text: str | None) -> kernels.DialectOption:
    """The kernel's ``dialect`` argument from a manifest entry's recorded dialect."""
    if not text:
        return "auto"  # a manifest written before dialects were recorded
    recorded = json.loads(text)
    return {k: v for k, v in recorded.items() if k not in ("confidence", "pinned")}
