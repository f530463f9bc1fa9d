"""The dataset registry: file-name pattern → dataset name → column schema.

The registry is YAML (the packaged ``datasets.yaml``, or the file ``AEROFS_DATASETS``
names); its format is documented at the top of ``datasets.yaml``. A file that no pattern
matches is named after its file stem, its schema inferred, and it stays unregistered
(``lake.layout.UNREGISTERED``) until an entry claims it (``registry.suggest``).
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import Any, Literal, cast

import pyarrow as pa
import yaml

from aerofs_pipelines import config, kernels
from aerofs_pipelines.registry.errors import RegistryError
from aerofs_pipelines.registry.schemas import dataset_pandera_schema, validate_check

__all__ = [
    "ColumnSpec",
    "DatasetMatch",
    "DatasetSpec",
    "Registry",
    "dataset_name_from_stem",
    "load_registry",
    "parse_duration",
    "parse_registry",
    "registry_type",
]

DEFAULT_REGISTRY = Path(__file__).with_name("datasets.yaml")
DATASET_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

_ARROW_TYPES: dict[str, pa.DataType] = {
    **{f"int{n}": getattr(pa, f"int{n}")() for n in (8, 16, 32, 64)},
    **{f"uint{n}": getattr(pa, f"uint{n}")() for n in (8, 16, 32, 64)},
    "float32": pa.float32(),
    "float64": pa.float64(),
    "double": pa.float64(),
    "bool": pa.bool_(),
    "boolean": pa.bool_(),
    "string": pa.string(),
    "utf8": pa.string(),
    "date32": pa.date32(),
    "date": pa.date32(),
    **{f"timestamp[{u}]": pa.timestamp(u) for u in ("s", "ms", "us")},
}
_REFUSED_TYPES = {
    "timestamp[ns]": "the lake's Iceberg tables hold timestamps to the microsecond: use "
    "timestamp[us]",
    "uint64": "the lake's Iceberg tables have no unsigned 64-bit integer: use int64 (up "
    "to 9223372036854775807) or string",
}
"""Arrow types the parser has but a dataset's lake table could not hold."""


_CANONICAL_TYPES: dict[pa.DataType, str] = {
    **{
        t: name
        for name, t in _ARROW_TYPES.items()
        if name not in ("double", "boolean", "utf8", "date")
    },
    pa.large_string(): "string",
}


def registry_type(arrow_type: pa.DataType) -> str | None:
    """The registry's name for an Arrow type (``double`` → ``float64``), or None when
    the registry has no such type (a time zone, a decimal, a nested type)."""
    return _CANONICAL_TYPES.get(arrow_type)


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a registered dataset."""

    name: str
    type: str
    nullable: bool = True
    unique: bool = False
    checks: Mapping[str, Any] = field(default_factory=dict)
    description: str | None = None

    @property
    def arrow_type(self) -> pa.DataType:
        return _ARROW_TYPES[self.type]


SchemaChange = Literal["evolve", "freeze"]
SCHEMA_CHANGES: tuple[SchemaChange, ...] = ("evolve", "freeze")
"""What ``on_schema_change`` accepts (see ``DatasetSpec.on_schema_change``)."""


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset: the files it takes and the schema they must satisfy."""

    name: str
    patterns: tuple[str, ...]
    columns: tuple[ColumnSpec, ...]
    description: str | None = None
    strict: bool = True
    dialect: Mapping[str, Any] = field(default_factory=dict)
    """Dialect options pinned for the dataset's files (the rest is sniffed per file)."""
    on_schema_change: SchemaChange = "evolve"
    """A batch bringing new columns: ``evolve`` adds them to the dataset's table,
    ``freeze`` fails the batch (``lake.iceberg.commit_batch``)."""
    expected_every: timedelta | None = None
    """How often a batch with files of the dataset is expected: longer without one makes
    ``lake/<dataset>`` fail its freshness policy (and alerts, ``defs/alerts.py``)."""

    def matches(self, file_name: str) -> str | None:
        """The first pattern matching ``file_name`` (a path inside the batch), or None."""
        base = PurePosixPath(file_name).name.lower()
        for pattern in self.patterns:
            target = file_name.lower() if "/" in pattern else base
            if fnmatch.fnmatchcase(target, pattern.lower()):
                return pattern
        return None

    def arrow_schema(self) -> pa.Schema | None:
        """The types the CSV parser applies (rows that do not fit are rejected); None for
        a dataset that declares no columns (each file's types are inferred)."""
        if not self.columns:
            return None
        return pa.schema(
            [pa.field(c.name, c.arrow_type, nullable=c.nullable) for c in self.columns]
        )

    @property
    def other_columns(self) -> kernels.OtherColumns:
        """What the kernel does with a file's undeclared columns: ``strict`` refuses
        them (the file must have exactly the declared columns, in order); otherwise the
        declared ones are typed by name and the others inferred."""
        return "reject" if self.strict else "infer"

    def pandera_schema(self) -> Any:
        """The ``pandera.pandas.DataFrameSchema`` a table of this dataset must satisfy
        (for declared columns; without, a file's own types are its schema)."""
        return dataset_pandera_schema(self)


@dataclass(frozen=True)
class DatasetMatch:
    """Where a file goes: its dataset, and the registry entry if one matched."""

    dataset: str
    spec: DatasetSpec | None
    pattern: str | None


@dataclass(frozen=True)
class Registry:
    """The loaded registry; :meth:`match` maps a file name to its dataset."""

    datasets: tuple[DatasetSpec, ...]
    source: str = "<memory>"

    def match(self, file_name: str) -> DatasetMatch:
        for spec in self.datasets:
            pattern = spec.matches(file_name)
            if pattern is not None:
                return DatasetMatch(spec.name, spec, pattern)
        return DatasetMatch(dataset_name_from_stem(file_name), None, None)

    def get(self, dataset: str) -> DatasetSpec | None:
        return next((d for d in self.datasets if d.name == dataset), None)


def dataset_name_from_stem(file_name: str) -> str:
    """``Sales-2024 (EU).csv`` → ``sales_2024_eu``: a safe dataset (and path) name."""
    stem = PurePosixPath(file_name).name.split(".")[0] or PurePosixPath(file_name).stem
    name = re.sub(r"[^a-z0-9]+", "_", stem.lower()).strip("_")[:60]
    if not name or not name[0].isalpha():
        name = f"ds_{name}".rstrip("_")
    return name


def _column(dataset: str, name: str, raw: Any) -> ColumnSpec:
    where = f"datasets.{dataset}.columns.{name}"
    if isinstance(raw, str):
        raw = {"type": raw}
    if not isinstance(raw, Mapping):
        raise RegistryError(f"{where}: expected a mapping or a type name")
    unknown = set(raw) - {"type", "nullable", "unique", "checks", "description"}
    if unknown:
        raise RegistryError(f"{where}: unknown keys {sorted(unknown)}")
    typ = str(raw.get("type", ""))
    if typ in _REFUSED_TYPES:
        raise RegistryError(f"{where}.type: {typ!r}: {_REFUSED_TYPES[typ]}")
    if typ not in _ARROW_TYPES:
        raise RegistryError(f"{where}.type: {typ!r} is not one of {sorted(_ARROW_TYPES)}")
    checks = raw.get("checks") or {}
    if not isinstance(checks, Mapping):
        raise RegistryError(f"{where}.checks: expected a mapping")
    for check_name, arg in checks.items():
        try:
            validate_check(str(check_name), arg)
        except RegistryError as exc:
            raise RegistryError(f"{where}.checks.{check_name}: {exc}") from None
    return ColumnSpec(
        name=str(name),
        type=typ,
        nullable=bool(raw.get("nullable", True)),
        unique=bool(raw.get("unique", False)),
        checks=dict(checks),
        description=raw.get("description"),
    )


def _dataset(name: str, raw: Any) -> DatasetSpec:
    if not DATASET_NAME.fullmatch(name):
        raise RegistryError(f"datasets.{name}: name must match {DATASET_NAME.pattern}")
    if not isinstance(raw, Mapping):
        raise RegistryError(f"datasets.{name}: expected a mapping")
    patterns = raw.get("patterns")
    if isinstance(patterns, str):
        patterns = [patterns]
    if not patterns or not isinstance(patterns, Sequence):
        raise RegistryError(f"datasets.{name}.patterns: give at least one file-name pattern")
    columns = raw.get("columns") or {}
    if not isinstance(columns, Mapping):
        raise RegistryError(f"datasets.{name}.columns: expected a mapping of column to type")
    if "batch_id" in columns:
        raise RegistryError(
            f"datasets.{name}.columns: 'batch_id' is the lake's own column (every row's "
            "batch); name the file's column otherwise"
        )
    unknown = set(raw) - {
        "patterns",
        "columns",
        "description",
        "strict",
        "dialect",
        "on_schema_change",
        "expected_every",
    }
    if unknown:
        raise RegistryError(f"datasets.{name}: unknown keys {sorted(unknown)}")
    on_change = raw.get("on_schema_change", "evolve")
    if on_change not in SCHEMA_CHANGES:
        raise RegistryError(
            f"datasets.{name}.on_schema_change: {on_change!r} is not one of "
            f"{', '.join(SCHEMA_CHANGES)}"
        )
    return DatasetSpec(
        name=name,
        patterns=tuple(str(p) for p in patterns),
        columns=tuple(_column(name, str(c), v) for c, v in columns.items()),
        description=raw.get("description"),
        strict=bool(raw.get("strict", True)),
        dialect=_dialect(name, raw.get("dialect")),
        on_schema_change=cast(SchemaChange, on_change),
        expected_every=_expected_every(name, raw.get("expected_every")),
    )


MIN_EXPECTED_EVERY = timedelta(minutes=1)
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``12h``, ``1d``, ``2w`` → a positive timedelta (ValueError else)."""
    match = _DURATION.match(text)
    if match is None or int(match[1]) == 0:
        raise ValueError(f"{text!r} is not a duration such as 30m, 12h, 1d or 1w")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


def _expected_every(dataset: str, raw: Any) -> timedelta | None:
    if raw is None:
        return None
    try:
        every = parse_duration(str(raw))
    except ValueError as exc:
        raise RegistryError(f"datasets.{dataset}.expected_every: {exc}") from None
    if every < MIN_EXPECTED_EVERY:  # Dagster's freshness policies refuse less
        raise RegistryError(f"datasets.{dataset}.expected_every: {raw!r} is under a minute")
    return every


def _dialect(dataset: str, raw: Any) -> dict[str, Any]:
    """A dataset's pinned dialect options, checked by the kernel that will apply them."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise RegistryError(f"datasets.{dataset}.dialect: expected a mapping of options")
    pins = {str(k): v for k, v in raw.items()}
    try:
        kernels.check_dialect(pins)
    except ValueError as exc:
        raise RegistryError(f"datasets.{dataset}.dialect: {exc}") from None
    return pins


def parse_registry(text: str, source: str = "<memory>") -> Registry:
    """A registry from YAML text; RegistryError says what is wrong and where."""
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise RegistryError(f"{source}: not valid YAML: {exc}") from None
    datasets = doc.get("datasets") if isinstance(doc, Mapping) else None
    if datasets is None:
        datasets = {}
    if not isinstance(datasets, Mapping):
        raise RegistryError(f"{source}: 'datasets' must be a mapping of name to dataset")
    try:
        specs = tuple(_dataset(str(n), v) for n, v in datasets.items())
    except RegistryError as exc:
        raise RegistryError(f"{source}: {exc}") from None
    return Registry(specs, source)


def load_registry(path: str | os.PathLike[str] | None = None) -> Registry:
    """Load ``path``, else ``AEROFS_DATASETS``, else the packaged ``datasets.yaml``."""
    chosen = path or config.datasets_path() or DEFAULT_REGISTRY
    text = Path(chosen).read_text(encoding="utf-8")
    return parse_registry(text, str(chosen))
