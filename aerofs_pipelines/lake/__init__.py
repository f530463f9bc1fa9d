"""The data lake: its layout (every key), storage (a local folder or S3, atomic writes),
its Iceberg tables (one per dataset, ``iceberg.py``) and the Parquet IO manager that
passes values between assets.

``open_catalog()`` returns the configured pyiceberg catalog of the lake's tables
(imported on first use: pyiceberg is not needed to read the layout)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

__all__ = ["open_catalog"]


def open_catalog() -> Catalog:
    """The catalog of the lake's tables: see :func:`aerofs_pipelines.lake.iceberg.open_catalog`."""
    from aerofs_pipelines.lake import iceberg

    return iceberg.open_catalog()
