"""The dataset registry (``datasets.yaml``): which dataset each file of a batch belongs
to, and the schema its table must satisfy.

- :mod:`.model`: the YAML format, parsing, matching file names to datasets;
- :mod:`.schemas`: pandera schemas and checks built from it, tables as pandas.
"""

from aerofs_pipelines.registry.errors import RegistryError
from aerofs_pipelines.registry.model import (
    ColumnSpec,
    DatasetMatch,
    DatasetSpec,
    Registry,
    dataset_name_from_stem,
    load_registry,
    parse_registry,
)
from aerofs_pipelines.registry.schemas import inferred_pandera_schema, to_pandas

__all__ = [
    "ColumnSpec",
    "DatasetMatch",
    "DatasetSpec",
    "Registry",
    "RegistryError",
    "dataset_name_from_stem",
    "inferred_pandera_schema",
    "load_registry",
    "parse_registry",
    "to_pandas",
]
