"""Small-file writes into a lake folder that already holds one file per processed batch.

The lake keeps one file per batch in some folders (``manifests/``, the assets' own
``_dagster/<asset>/``), so after a year of batches a write lands in a folder of 10^5
entries. Each contender writes ``--writes`` small files (a manifest's size) into a folder
pre-filled with N files, for each N of ``--sizes``, in the same run:

- **aerofs**: ``LocalStorage.write_bytes`` — hidden temp file named after its writer,
  fsync, ``os.replace``, and the sweep of dead writers' temps before it;
- **atomic**: the same temp + fsync + ``os.replace`` by hand, without any sweep (the cost
  of a durable atomic write alone: the floor for aerofs);
- **pyarrow**: ``pyarrow.fs.LocalFileSystem().open_output_stream`` (writes in place: not
  atomic, no fsync);
- **plain**: ``Path.write_bytes`` (in place, no fsync).

Printed: ms of the first write and ms per later write, for each, and aerofs / atomic on
the later writes. A process's first write into a folder lists it once for dead writers'
temps (that grows with the folder); the target is that later writes do not: aerofs's ms
per later write at the largest size is at most 1.5 times that at the smallest.

    python -m bench.lake_writes                      # 1k, 10k, 100k files; 200 writes
    python -m bench.lake_writes --sizes 1000 --writes 50   # smoke
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow.fs as pafs

from aerofs_pipelines.lake.storage import LocalStorage

TARGET = 1.5
Writer = Callable[[Path, str, bytes], None]


def _aerofs(root: Path, key: str, data: bytes) -> None:
    LocalStorage(root).write_bytes(key, data)


def _atomic(root: Path, key: str, data: bytes) -> None:
    path = root / key
    tmp = path.with_name(f".{path.name}.tmp-bench")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _pyarrow(root: Path, key: str, data: bytes) -> None:
    with pafs.LocalFileSystem().open_output_stream(str(root / key)) as out:
        out.write(data)


def _plain(root: Path, key: str, data: bytes) -> None:
    (root / key).write_bytes(data)


CONTENDERS: dict[str, Writer] = {
    "aerofs": _aerofs,
    "atomic": _atomic,
    "pyarrow": _pyarrow,
    "plain": _plain,
}


def _manifest(rng: random.Random) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(rng.randint(300, 2000)))


def _write_all(write: Writer, size: int, payloads: list[bytes], base: Path) -> tuple[float, float]:
    """ms of the first write, and ms per write of the others, into a fresh folder
    pre-filled with ``size`` files."""
    root = Path(tempfile.mkdtemp(prefix="lake-", dir=base))
    try:
        folder = root / "manifests"
        folder.mkdir()
        for i in range(size):
            (folder / f"b-{i:07d}.json").write_bytes(b"{}")
        times = []
        for i, data in enumerate(payloads):
            started = time.perf_counter()
            write(root, f"manifests/new-{i:06d}.json", data)
            times.append(1000 * (time.perf_counter() - started))
        return times[0], sum(times[1:]) / (len(times) - 1)
    finally:
        shutil.rmtree(root)


def measure(
    size: int, writes: int, seed: int, repeat: int, base: Path
) -> dict[str, tuple[float, float]]:
    """Best-of-``repeat`` (first, then) ms for each contender; the order rotates per round."""
    rng = random.Random(seed)
    payloads = [_manifest(rng) for _ in range(writes)]
    best: dict[str, tuple[float, float]] = {}
    names = list(CONTENDERS)
    for round_ in range(repeat):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            first, then = _write_all(CONTENDERS[name], size, payloads, base)
            old = best.get(name, (first, then))
            best[name] = (min(first, old[0]), min(then, old[1]))
    return best


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.lake_writes", description=__doc__.split("\n")[0]
    )
    p.add_argument("--sizes", default="1000,10000,100000", help="existing files per folder")
    p.add_argument("--writes", type=int, default=200, help="writes per contender and size")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--repeat", type=int, default=3, help="rounds per size; the best counts")
    p.add_argument("--dir", default=None, help="where to make the folders (default: TMPDIR)")
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    base = Path(args.dir or tempfile.gettempdir())
    names = list(CONTENDERS)
    print(
        f"{args.writes} writes of 300-2000 bytes per contender, best of {args.repeat}, "
        f"seed {args.seed}, in {base}; ms of the first write / ms per later write"
    )
    print(f"{'files in folder':>15} " + " ".join(f"{n:>15}" for n in names) + "  aerofs/atomic")
    later: list[float] = []
    for size in sizes:
        ms = measure(size, args.writes, args.seed, args.repeat, base)
        later.append(ms["aerofs"][1])
        cells = " ".join(f"{ms[n][0]:>7.2f} /{ms[n][1]:>6.3f}" for n in names)
        print(f"{size:>15,} {cells}  {ms['aerofs'][1] / ms['atomic'][1]:>6.2f}")
    growth = later[-1] / later[0]
    verdict = "PASS" if growth <= TARGET else "MISS"
    print(
        f"aerofs later write at {sizes[-1]:,} files / at {sizes[0]:,}: {growth:.2f} "
        f"(target <= {TARGET}): {verdict}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
