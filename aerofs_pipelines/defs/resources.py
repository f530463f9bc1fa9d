"""Dagster resources: the landing zone, the lake, the dataset registry, the IO manager.

Each location is a folder or ``s3://bucket/prefix``. :func:`default_resources` reads
them from the environment (``AEROFS_LANDING``, ``AEROFS_LAKE``, ``AEROFS_DATASETS``) as
``EnvVar`` when set, so the UI shows where a value comes from, and falls back to the
embedded defaults of :mod:`aerofs_pipelines.config` otherwise.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import dagster as dg
from pyiceberg.catalog import Catalog

from aerofs_pipelines import config
from aerofs_pipelines.lake import iceberg
from aerofs_pipelines.lake.io_manager import LakeParquetIOManager
from aerofs_pipelines.lake.storage import Storage, open_storage
from aerofs_pipelines.registry import Registry, load_registry

__all__ = ["DatasetRegistry", "LakeStore", "LakeTables", "LandingZone", "default_resources"]


class _StorageResource(dg.ConfigurableResource[Any]):
    url: str
    endpoint_url: str | None = None
    """S3-compatible endpoint; default ``AWS_ENDPOINT_URL``."""

    @cached_property
    def storage(self) -> Storage:
        return open_storage(self.url, endpoint_url=self.endpoint_url or config.s3_endpoint_url())


class LandingZone(_StorageResource):
    """Where batches land: ``<url>/<batch_id>/…files…`` plus ``_SUCCESS`` when complete."""


class LakeStore(_StorageResource):
    """The data lake: tables, rejects, text statistics, manifests, catalog."""


class LakeTables(dg.ConfigurableResource[Any]):
    """The catalog of the lake's Iceberg tables (``AEROFS_LAKE_CATALOG_URL``, else the
    instance's database: see :func:`aerofs_pipelines.lake.iceberg.open_catalog`)."""

    def catalog(self) -> Catalog:
        return iceberg.open_catalog()


class DatasetRegistry(dg.ConfigurableResource[Any]):
    """The dataset registry YAML (empty: ``AEROFS_DATASETS`` or the packaged one)."""

    path: str = ""

    @cached_property
    def registry(self) -> Registry:
        return load_registry(self.path or None)


def _env_or(name: str, default: str) -> Any:
    """``EnvVar(name)`` when the variable is set (the UI shows where the value comes
    from), else the default."""
    return dg.EnvVar(name) if config.is_set(name) else default


def default_resources() -> dict[str, Any]:
    """The resources of the code location, configured from the environment."""
    lake_url = _env_or("AEROFS_LAKE", config.lake_url())
    return {
        "landing": LandingZone(url=_env_or("AEROFS_LANDING", config.landing_url())),
        "lake": LakeStore(url=lake_url),
        "registry": DatasetRegistry(path=_env_or("AEROFS_DATASETS", "")),
        "lake_tables": LakeTables(),
        "io_manager": LakeParquetIOManager(lake_url=lake_url),
    }
