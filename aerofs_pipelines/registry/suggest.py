"""Registry entries proposed for a batch's unregistered table files.

A file no registry pattern matches is converted into the lake's unregistered area with
an inferred schema and the dialect the sniffer chose (both recorded). Turning it into a
dataset takes a registry entry; :func:`suggest_datasets` writes one per family of files
(``sales-2024-01.csv`` and ``sales-2024-02.csv`` share ``sales-*.csv``) from what the
batch already recorded, so it is exactly what the pipeline read, and
:func:`suggestion_yaml` prints it ready to paste under ``datasets:``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import pyarrow as pa
import yaml

from aerofs_pipelines import kernels
from aerofs_pipelines.lake.layout import BATCH_COLUMN
from aerofs_pipelines.registry.model import Registry, dataset_name_from_stem, registry_type

__all__ = ["Suggestion", "file_pattern", "suggest_datasets", "suggestion_yaml"]

_NUMBERED = re.compile(r"\d+(?:[-_. ]\d+)*")
"""Dates, sequence numbers, versions: the parts of a file name that change per export."""
_GLOB_CHARS = re.compile(r"[*?\[]")


def file_pattern(name: str) -> str:
    """A glob for ``name``'s family: ``Sales-2024-01.csv`` → ``sales-*.csv``."""
    base = _GLOB_CHARS.sub(r"[\g<0>]", PurePosixPath(name).name.lower())  # literal * ? [
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    varying = re.sub(r"\*+", "*", _NUMBERED.sub("*", stem))
    if varying.strip("*-_. ") == "":  # nothing but numbers: keep the name itself
        return base
    return f"{varying}{dot}{suffix}"


def _wider(old: str, new: str) -> str:
    """One type for a column two files typed differently."""
    if old == new:
        return old
    numbers = ("int", "uin", "flo")
    if old[:3] in numbers and new[:3] in numbers:
        return "float64"
    return "string"


@dataclass
class Suggestion:
    """A proposed registry entry, built from one or more files of the batch."""

    name: str
    files: list[str] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)
    dialect: dict[str, Any] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add_columns(self, file: str, schema: pa.Schema) -> None:
        for f in schema:
            if f.name == BATCH_COLUMN:
                continue
            typ = registry_type(f.type)
            if typ is None:
                self.notes.append(f"{file}: column {f.name!r} is {f.type}; suggested as string")
                typ = "string"
            self.columns[f.name] = _wider(self.columns.get(f.name, typ), typ)

    def entry(self, batch_id: str) -> dict[str, Any]:
        """The entry as the registry's YAML holds it."""
        doc: dict[str, Any] = {
            "description": f"Suggested from batch {batch_id}: {', '.join(self.files)}.",
            "patterns": self.patterns,
        }
        if self.dialect:
            doc["dialect"] = self.dialect
        doc["columns"] = {name: {"type": typ} for name, typ in self.columns.items()}
        return doc


def _free_name(wanted: str, taken: set[str]) -> str:
    name, n = wanted, 2
    while name in taken:
        name, n = f"{wanted}_{n}", n + 1
    return name


def suggest_datasets(
    files: Iterable[Mapping[str, Any]],
    registry: Registry,
    schema_of: Callable[[str], pa.Schema],
) -> list[Suggestion]:
    """One registry entry per family of the unregistered, processed table files among a
    manifest's ``files``; ``schema_of(output_key)`` reads a converted file's schema."""
    taken = {d.name for d in registry.datasets}
    by_pattern: dict[str, Suggestion] = {}
    for f in files:
        if f["kind"] != "table" or f["status"] != "processed" or f.get("registered") is not False:
            continue
        pattern = file_pattern(f["name"])
        found = by_pattern.get(pattern)
        if found is None:
            wanted = dataset_name_from_stem(pattern.replace("*", ""))
            found = by_pattern[pattern] = Suggestion(_free_name(wanted, taken), patterns=[pattern])
            taken.add(found.name)
            recorded = json.loads(f["dialect"]) if isinstance(f["dialect"], str) else f["dialect"]
            found.dialect = kernels.dialect_changes(recorded or {})
        found.files.append(f["name"])
        found.add_columns(f["name"], schema_of(f["output"]))
    return list(by_pattern.values())


def suggestion_yaml(batch_id: str, suggestions: list[Suggestion]) -> str:
    """The entries as YAML to paste under ``datasets:`` (a complete registry by itself)."""
    head = [
        f"# Registry entries suggested by `aerofs datasets suggest {batch_id}` for the batch's",
        "# unregistered table files (types inferred, dialect as sniffed). Review them, add",
        "# checks, then add them under `datasets:` of the registry (AEROFS_DATASETS).",
    ]
    head += [f"# note: {n}" for s in suggestions for n in s.notes]
    doc = {"datasets": {s.name: s.entry(batch_id) for s in suggestions}}
    body = yaml.safe_dump(
        doc, sort_keys=False, allow_unicode=True, default_flow_style=None, width=100
    )
    return "\n".join(head) + "\n" + body
