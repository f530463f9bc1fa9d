"""Which batches a re-run covers: failed or missing ones, with small gaps filled."""

from __future__ import annotations

from aerofs_pipelines.batch.backfill_ranges import contiguous_selection


def test_contiguous_selection_fills_small_gaps() -> None:
    keys = [f"k{i:02d}" for i in range(30)]
    wanted = ["k29", "k01", "k03", "k04", "k10", "k20"]
    sel = contiguous_selection(keys, wanted, max_runs=2, max_extra=20)
    assert sel.ranges == [("k01", "k10"), ("k20", "k29")]
    assert sel.keys == keys[1:11] + keys[20:30]
    assert sel.failed_or_missing == sorted(wanted)
    # Within a tight budget only the smallest gap is filled: more runs, less re-work.
    tight = contiguous_selection(keys, wanted, max_runs=1, max_extra=3)
    assert tight.ranges == [("k01", "k04"), ("k10", "k10"), ("k20", "k20"), ("k29", "k29")]
    assert contiguous_selection(keys, [], max_runs=1).keys == []
