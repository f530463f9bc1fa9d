"""The partitions of the per-batch assets: one dynamic partition per complete batch."""

from __future__ import annotations

import dagster as dg

batches_partitions = dg.DynamicPartitionsDefinition(name="batches")
"""One dynamic partition per complete batch, keyed by its batch id."""

BATCHES = str(batches_partitions.name)
