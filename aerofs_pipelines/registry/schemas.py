"""The registry's pandera side: column checks, dtypes, and tables as pandas for pandera.

pandera and pandas are imported only when a schema is built or a table validated, so
matching file names against the registry stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from aerofs_pipelines.registry.errors import RegistryError

if TYPE_CHECKING:
    from aerofs_pipelines.registry.model import DatasetSpec

__all__ = [
    "CHECKS",
    "dataset_pandera_schema",
    "inferred_pandera_schema",
    "to_pandas",
    "validate_check",
]

VALUE_CHECKS = frozenset({"ge", "gt", "le", "lt", "eq", "ne", "isin", "notin", "str_matches"})
"""Checks taking one value: ``pandera.Check.<name>(value)``."""
RANGE_CHECKS = frozenset({"str_length", "in_range"})
"""Checks taking ``{min_value, max_value}``: ``pandera.Check.<name>(**arg)``."""
CHECKS = VALUE_CHECKS | RANGE_CHECKS


def validate_check(name: str, arg: Any) -> None:
    """Raise RegistryError unless ``name: arg`` is a check the registry supports."""
    if name in VALUE_CHECKS:
        if name in ("isin", "notin") and not isinstance(arg, list):
            raise RegistryError(f"{name} takes a list of values, got {arg!r}")
        if name == "str_matches" and not isinstance(arg, str):
            raise RegistryError(f"str_matches takes a regular expression, got {arg!r}")
        return
    if name in RANGE_CHECKS:
        if not isinstance(arg, Mapping) or not set(arg) <= {"min_value", "max_value"} or not arg:
            raise RegistryError(f"{name} takes {{min_value, max_value}}, got {arg!r}")
        return
    raise RegistryError(f"unknown check {name!r}: use one of {sorted(CHECKS)}")


def _pandera_check(name: str, arg: Any) -> Any:
    import pandera.pandas as pdr

    validate_check(name, arg)
    if name in RANGE_CHECKS:
        return getattr(pdr.Check, name)(**dict(arg))
    return getattr(pdr.Check, name)(arg)


def _pandera_dtype(arrow_type: pa.DataType) -> str | None:
    """The pandas dtype :func:`to_pandas` gives a column of ``arrow_type`` (None: any)."""
    if pa.types.is_integer(arrow_type):
        return str(arrow_type).replace("int", "Int").replace("uInt", "UInt")
    if pa.types.is_floating(arrow_type):
        return str(arrow_type.to_pandas_dtype().__name__)
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    return None  # dates and timestamps: typed by the parser already


def dataset_pandera_schema(spec: DatasetSpec) -> Any:
    """The ``pandera.pandas.DataFrameSchema`` a table of dataset ``spec`` must satisfy."""
    import pandera.pandas as pdr

    columns = {
        c.name: pdr.Column(
            _pandera_dtype(c.arrow_type),
            checks=[_pandera_check(name, arg) for name, arg in c.checks.items()],
            nullable=c.nullable,
            unique=c.unique,
            description=c.description,
            # strict: false takes files without a nullable declared column (read null)
            required=spec.strict or not c.nullable,
        )
        for c in spec.columns
    }
    return pdr.DataFrameSchema(
        columns, strict=spec.strict, name=spec.name, description=spec.description
    )


def to_pandas(table: pa.Table) -> Any:
    """An Arrow table as a pandas DataFrame with nullable dtypes (ints stay ints with nulls)."""
    import pandas as pd

    mapping: dict[pa.DataType, Any] = {
        pa.int8(): pd.Int8Dtype(),
        pa.int16(): pd.Int16Dtype(),
        pa.int32(): pd.Int32Dtype(),
        pa.int64(): pd.Int64Dtype(),
        pa.uint8(): pd.UInt8Dtype(),
        pa.uint16(): pd.UInt16Dtype(),
        pa.uint32(): pd.UInt32Dtype(),
        pa.uint64(): pd.UInt64Dtype(),
        pa.bool_(): pd.BooleanDtype(),
        pa.string(): pd.StringDtype(),
        pa.large_string(): pd.StringDtype(),
    }
    df = table.to_pandas(types_mapper=mapping.get, date_as_object=False)
    return df


def inferred_pandera_schema(dataset: str, schema: pa.Schema) -> Any:
    """A pandera schema with just the column types of an inferred (unregistered) table."""
    import pandera.pandas as pdr

    columns = {f.name: pdr.Column(_pandera_dtype(f.type), nullable=True) for f in schema}
    return pdr.DataFrameSchema(
        columns, strict=True, name=dataset, description="inferred from the data"
    )
