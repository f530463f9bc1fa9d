"""What the batch assets and checks show in Dagster: per-batch metadata, column schemas.

``add_batch_metadata`` attaches metadata to one batch's materialization at a cost that
does not grow with the instance. ``context.add_asset_metadata(metadata,
partition_key=k)`` in dagster 1.13 checks ``k`` against the run's partition key range,
which for dynamic partitions re-reads every partition the instance holds, once per call
(docs/capacity.md has what that cost at 200 and 20,000 batches). So:

- one batch in the run: the public call without a key (it applies to that one batch);
- several: the key is checked against the run's batches (``context.partition_keys``,
  read once by the caller and passed in) and added through the step's metadata
  accumulator (:func:`aerofs_pipelines._dagster_compat.add_partition_metadata`), or the
  public call when that shim finds no accumulator.

``table_schema`` is the Dagster ``TableSchema`` of a pandera schema (dagster-pandera).
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Mapping
from typing import Any

import dagster as dg

from aerofs_pipelines import _dagster_compat

__all__ = ["add_batch_metadata", "table_schema"]


def add_batch_metadata(
    context: dg.AssetExecutionContext,
    run_batches: Collection[str],
    batch_id: str,
    metadata: Mapping[str, Any],
) -> None:
    """Attach ``metadata`` to this asset's materialization event for batch ``batch_id``,
    one of ``run_batches`` (``context.partition_keys``, read once by the caller)."""
    if batch_id not in run_batches:
        raise ValueError(f"batch {batch_id!r} is not one of this run's batches")
    if len(run_batches) == 1:
        context.add_asset_metadata(metadata)
    elif not _dagster_compat.add_partition_metadata(context, metadata, batch_id):
        context.add_asset_metadata(metadata, partition_key=batch_id)


def table_schema(pandera_schema: Any) -> dg.TableSchema:
    """The Dagster ``TableSchema`` of a pandera schema (via dagster-pandera)."""
    from dagster_pandera import pandera_schema_to_dagster_type

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        dagster_type = pandera_schema_to_dagster_type(pandera_schema)
    value = dagster_type.metadata["schema"]
    if not isinstance(value, dg.TableSchemaMetadataValue):
        raise TypeError(f"dagster-pandera gave no table schema: {type(value).__name__}")
    return value.schema
