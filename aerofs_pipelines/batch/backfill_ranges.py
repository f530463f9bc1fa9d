"""Which batches a re-run backfill covers: the failed or missing ones, in few ranges.

The backfill daemon runs a backfill under the assets' single-run policy: one run per
contiguous range of partitions, and dynamic partitions form ranges in insertion order
(dagster #32335, #15667). So the selection fills small gaps between failed batches
(healthy batches re-run idempotently) until it needs at most ``max_runs`` runs, within a
budget of extra batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Selection", "contiguous_selection"]


@dataclass(frozen=True)
class Selection:
    """Batches a backfill targets, in insertion order, and what they are made of."""

    keys: list[str]
    failed_or_missing: list[str]
    ranges: list[tuple[str, str]]


def contiguous_selection(
    all_keys: Sequence[str], wanted: Sequence[str], *, max_runs: int = 4, max_extra: int = 200
) -> Selection:
    """``wanted`` plus the smallest gaps between them, until at most ``max_runs`` ranges.

    Gaps are filled smallest first while the extra batches stay within ``max_extra``; the
    result is in ``all_keys`` order (insertion order: the order of Dagster's ranges).
    """
    index = {k: i for i, k in enumerate(all_keys)}
    positions = sorted(index[k] for k in set(wanted) if k in index)
    if not positions:
        return Selection([], [], [])
    runs = [[positions[0], positions[0]]]
    for p in positions[1:]:
        if p == runs[-1][1] + 1:
            runs[-1][1] = p
        else:
            runs.append([p, p])
    gaps = sorted(range(len(runs) - 1), key=lambda i: runs[i + 1][0] - runs[i][1])
    fill: set[int] = set()
    extra = 0
    for i in gaps:
        if len(runs) - len(fill) <= max_runs:
            break
        size = runs[i + 1][0] - runs[i][1] - 1
        if extra + size > max_extra:
            break
        fill.add(i)
        extra += size
    merged: list[list[int]] = []
    for i, r in enumerate(runs):
        if i > 0 and (i - 1) in fill:
            merged[-1][1] = r[1]
        else:
            merged.append(list(r))
    keys = [all_keys[p] for lo, hi in merged for p in range(lo, hi + 1)]
    wanted_sorted = [all_keys[p] for p in positions]
    return Selection(keys, wanted_sorted, [(all_keys[lo], all_keys[hi]) for lo, hi in merged])
