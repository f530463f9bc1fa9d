"""``kernels.Blake3``: the incremental hash of an upload is the file digest of its bytes,
however the pieces fall, and hashing a large piece lets other Python threads run."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from aerofs_pipelines.kernels import Blake3, digest


@settings(max_examples=50, deadline=None)
@given(data=st.binary(max_size=4096), cuts=st.lists(st.integers(0, 4096), max_size=8))
def test_pieces_hash_like_the_whole_file(data: bytes, cuts: list[int]) -> None:
    import tempfile

    hasher = Blake3()
    bounds = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    for a, b in itertools.pairwise(bounds):
        hasher.update(data[a:b])
    with tempfile.NamedTemporaryFile() as fh:
        fh.write(data)
        fh.flush()
        assert hasher.hexdigest() == digest(Path(fh.name))
    assert hasher.length == len(data)


def test_hexdigest_may_be_read_midway() -> None:
    hasher = Blake3()
    hasher.update(b"hello ")
    first = hasher.hexdigest()
    hasher.update(b"world")
    assert first != hasher.hexdigest()
    assert hasher.hexdigest() == "d74981efa70a0c880b8d8c1985d075dbcbf679b99a5f9914e5aaf96b831a9e24"


def test_hashing_releases_the_gil() -> None:
    piece = b"x" * (256 * 1024 * 1024)
    hasher = Blake3()
    window: dict[str, float] = {}

    def hash_it() -> None:
        window["start"] = time.perf_counter()
        hasher.update(piece)
        window["end"] = time.perf_counter()

    worker = threading.Thread(target=hash_it)
    stamps: list[float] = []
    worker.start()
    while worker.is_alive():
        stamps.append(time.perf_counter())
    worker.join()
    start, end = window["start"], window["end"]
    inside = [start, *(s for s in stamps if start <= s <= end), end]
    gap = max(b - a for a, b in itertools.pairwise(inside))
    # Holding the GIL for the whole update would leave one gap as long as the update.
    assert gap < 0.5 * (end - start), f"main thread stalled {gap:.3f} s of {end - start:.3f} s"
    assert hasher.length == len(piece)
