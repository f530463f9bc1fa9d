"""Batch identity: the id rule of the landing-zone contract and the partitions it keys."""

from __future__ import annotations

import re

import dagster as dg

BATCH_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
_BATCH_ID = re.compile(BATCH_ID_PATTERN)
SUCCESS_MARKER = "_SUCCESS"

batches_partitions = dg.DynamicPartitionsDefinition(name="batches")
"""One dynamic partition per complete batch, keyed by its batch id."""


class InvalidBatchIdError(ValueError):
    """A batch id that breaks the contract; it is never used in a path."""


def is_valid_batch_id(batch_id: str) -> bool:
    """True when ``batch_id`` matches the landing-zone contract (and is not ``.``/``..``)."""
    return bool(_BATCH_ID.fullmatch(batch_id)) and batch_id not in {".", ".."}


def check_batch_id(batch_id: str) -> str:
    """Return ``batch_id`` unchanged, or raise InvalidBatchIdError saying why."""
    if not is_valid_batch_id(batch_id):
        raise InvalidBatchIdError(
            f"invalid batch id {batch_id!r}: must match {BATCH_ID_PATTERN} "
            "(letters, digits, '.', '_', '-'; first a letter or digit; at most 128)"
        )
    return batch_id
