"""Seeded, cached generators for the kernel benchmark's input files.

Two inputs are generated, both deterministic for a given ``seed`` and size:

* a mixed-type CSV (``id, amount, category, note, ts, flag, qty``) whose ``note`` column is
  quoted free text containing commas, doubled quotes and newlines inside quotes;
* Zipf-distributed English-like text with punctuation, capitalisation and line breaks.

Generation is vectorised with ``pyarrow.compute`` (no numpy needed): each block of rows is
drawn with :func:`pyarrow.compute.random` seeded per block, turned into string columns by
``take`` from small precomputed pools, joined element-wise, and its data buffer is written
to disk as is. One GB of CSV takes well under a minute on one core.

Files are cached under ``~/.cache/aerofs/bench-data/`` keyed by kind, seed, size and
generator version; a JSON sidecar (written last, so its presence marks a complete file)
records the row count and the generation time.

Run ``python -m bench.datagen --csv-mb 20 --text-mb 5`` to generate without benchmarking.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

GENERATOR_VERSION = 1
"""Bump when the output of a generator changes, so stale cached files are not reused."""

CACHE_DIR = Path(os.environ.get("AEROFS_BENCH_DATA", Path.home() / ".cache/aerofs/bench-data"))
MB = 1024 * 1024
CSV_COLUMNS = ("id", "amount", "category", "note", "ts", "flag", "qty")
CSV_BLOCK_ROWS = 250_000
TEXT_BLOCK_WORDS = 1_000_000
AMOUNT_NULL_FRACTION = 0.05
TS_START = dt.datetime(2020, 1, 1)
TS_DAYS = 6 * 365


def _words(text: str) -> list[str]:
    """Split a whitespace-separated word list (keeps the constant tables compact)."""
    return text.split()


CATEGORIES = _words(
    "electronics books garden toys grocery clothing shoes sports automotive beauty health "
    "jewelry music movies software office pets baby tools furniture kitchen outdoor crafts "
    "games industrial luggage appliances lighting bedding bath hardware camera phones "
    "computers tablets watches snacks beverages"
)

COMMON_WORDS = _words(
    "the of and to a in is it you that he was for on are with as i his they be at one have "
    "this from or had by not word but what some we can out other were all there when up use "
    "your how said an each she which do their time if will way about many then them write "
    "would like so these her long make thing see him two has look more day could go come did "
    "number sound no most people my over know water than call first who may down side been "
    "now find any new work part take get place made live where after back little only round "
    "man year came show every good me give our under name very through just form sentence "
    "great think say help low line differ turn cause much mean before move right boy old too "
    "same tell does set three want air well also play small end put home read hand port large "
    "spell add even land here must big high such follow act why ask men change went light"
)

SPECIAL_WORDS = _words(
    "café naïve über façade résumé zürich señor smörgåsbord crème brûlée "
    "x86 mp3 2024 1999 covid19 b2b snake_case user_id data_lake v2"
)

ONSETS = _words(
    "b c d f g h j k l m n p r s t v w z br cr dr fr gr pr tr bl cl fl gl pl sl st sp sk ch sh th "
    "wh qu"
)
NUCLEI = _words("a e i o u a e i o u ai ea ee oa oo ou ie y")
CODAS = ["", "", "", "n", "r", "s", "t", "l", "m", "nd", "st", "ng", "ck", "rt", "x", "sh"]
SUFFIXES = ["", "", "", "", "s", "ed", "ing", "er", "ly", "tion", "ness", "ment", "able"]

# (separator, weight in per-mille) following each word of the text.
TEXT_SEPARATORS = (
    (" ", 800),
    (", ", 60),
    (". ", 50),
    ("\n", 35),
    ("; ", 10),
    (" - ", 10),
    ("? ", 6),
    ("! ", 5),
    (": ", 5),
    ('" ', 5),
    ("'s ", 5),
    (".\n\n", 5),
    (" (", 4),
)


@dataclass(frozen=True)
class Dataset:
    """A generated input file and what the generator knows about it."""

    kind: str
    path: str
    seed: int
    target_mb: float
    bytes: int
    rows: int
    """Data rows for the CSV (header excluded); words drawn for the text."""
    generate_seconds: float
    cached: bool
    version: int = GENERATOR_VERSION


# ---------------------------------------------------------------------------------------------
# Shared helpers


def _block_seed(seed: int, block: int, stream: int) -> int:
    """A distinct, deterministic 63-bit seed for one random stream of one block."""
    return (seed * 1_000_003 + block * 101 + stream) % (2**63 - 1)


def _uniform(n: int, seed: int, block: int, stream: int) -> pa.DoubleArray:
    """``n`` seeded uniform doubles in [0, 1)."""
    return pc.random(n, initializer=_block_seed(seed, block, stream))


def _randint(u: pa.DoubleArray, low: int, high: int) -> pa.Int64Array:
    """Map uniform doubles to integers in ``[low, high)``."""
    scaled = pc.floor(pc.multiply(u, float(high - low))).cast(pa.int64())
    return pc.add(scaled, low)


def _pick(pool: pa.StringArray, u: pa.DoubleArray) -> pa.StringArray:
    """Draw uniformly from ``pool`` with the uniform doubles ``u``."""
    return pool.take(_randint(u, 0, len(pool)))


def _string_buffer(arr: pa.StringArray) -> memoryview:
    """The concatenated UTF-8 bytes of a freshly built (offset 0) string array."""
    offsets = memoryview(arr.buffers()[1]).cast("i")
    data = memoryview(arr.buffers()[2])
    return data[offsets[arr.offset] : offsets[arr.offset + len(arr)]]


def _cache_paths(kind: str, seed: int, target_mb: float, ext: str) -> tuple[Path, Path]:
    stem = f"{kind}-v{GENERATOR_VERSION}-seed{seed}-{target_mb:g}mb"
    return CACHE_DIR / f"{stem}.{ext}", CACHE_DIR / f"{stem}.json"


def _load_cached(path: Path, sidecar: Path) -> Dataset | None:
    """The cached dataset if both the file and its sidecar exist and agree on the size."""
    if not (path.exists() and sidecar.exists()):
        return None
    try:
        meta = json.loads(sidecar.read_text())
        if meta["bytes"] != path.stat().st_size or meta["version"] != GENERATOR_VERSION:
            return None
        meta["cached"] = True
        meta["path"] = str(path)
        return Dataset(**meta)
    except (ValueError, KeyError, TypeError):
        return None


def _generate_cached(
    kind: str,
    seed: int,
    target_mb: float,
    ext: str,
    write: Callable[[Path, int, int], int],
    force: bool,
) -> Dataset:
    """Return the cached file or write it with ``write(tmp_path, seed, target_bytes) -> rows``."""
    path, sidecar = _cache_paths(kind, seed, target_mb, ext)
    if not force and (cached := _load_cached(path, sidecar)) is not None:
        return cached
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    start = time.perf_counter()
    try:
        rows = write(tmp, seed, int(target_mb * MB))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    dataset = Dataset(
        kind=kind,
        path=str(path),
        seed=seed,
        target_mb=target_mb,
        bytes=path.stat().st_size,
        rows=rows,
        generate_seconds=round(time.perf_counter() - start, 3),
        cached=False,
    )
    meta = {k: v for k, v in asdict(dataset).items() if k not in ("cached", "path")}
    sidecar.write_text(json.dumps(meta, indent=2) + "\n")
    return dataset


# ---------------------------------------------------------------------------------------------
# Mixed-type CSV


def _note_fragment(rng: random.Random) -> str:
    """One piece of free text: sometimes with commas, "quoted" words or a line break."""
    words = rng.choices(COMMON_WORDS, k=rng.randint(1, 6))
    roll = rng.random()
    if roll < 0.25:
        words.insert(rng.randrange(len(words) + 1), "and,")
    elif roll < 0.31:
        i = rng.randrange(len(words))
        words[i] = f'"{words[i]}"'
    elif roll < 0.34:
        words.insert(rng.randrange(len(words) + 1), "\n")
    elif roll < 0.36:
        words.append("(see: item, ref)")
    return " ".join(words).replace(" \n ", "\n").replace(" \n", "\n").replace("\n ", "\n")


@dataclass(frozen=True)
class _CsvPools:
    """Precomputed string pools the CSV columns are drawn from."""

    notes: pa.StringArray
    categories: pa.StringArray
    days: pa.StringArray
    times: pa.StringArray
    flags: pa.StringArray
    signs: pa.StringArray


def _csv_pools(seed: int, ts_sep: str) -> _CsvPools:
    rng = random.Random(seed)
    notes = [_note_fragment(rng).replace('"', '""') for _ in range(4096)]
    days = [(TS_START + dt.timedelta(days=d)).strftime("%Y-%m-%d") + ts_sep for d in range(TS_DAYS)]
    times = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400)]
    return _CsvPools(
        notes=pa.array(notes, pa.string()),
        categories=pa.array(CATEGORIES, pa.string()),
        days=pa.array(days, pa.string()),
        times=pa.array(times, pa.string()),
        flags=pa.array(["true", "false"], pa.string()),
        signs=pa.array(["", "", "", "", "", "", "", "", "", "-"], pa.string()),
    )


def _amount_column(n: int, seed: int, block: int, pools: _CsvPools) -> pa.StringArray:
    """Decimal amounts ``[-]W.FF`` with ~5% empty cells."""
    cents = _randint(_uniform(n, seed, block, 1), 0, 10_000_000)
    whole = pc.divide(cents, 100)
    frac = pc.utf8_lpad(pc.subtract(cents, pc.multiply(whole, 100)).cast(pa.string()), 2, "0")
    sign = _pick(pools.signs, _uniform(n, seed, block, 2))
    amount = pc.binary_join_element_wise(sign, whole.cast(pa.string()), ".", frac, "")
    is_null = pc.less(_uniform(n, seed, block, 3), AMOUNT_NULL_FRACTION)
    return pc.if_else(is_null, "", amount)


def _note_column(n: int, seed: int, block: int, pools: _CsvPools) -> pa.StringArray:
    """Quoted free text: two escaped pool fragments joined by a space, in double quotes."""
    first = _pick(pools.notes, _uniform(n, seed, block, 4))
    second = _pick(pools.notes, _uniform(n, seed, block, 5))
    return pc.binary_join_element_wise('"', first, " ", second, '"', "")


def _csv_block(start_id: int, n: int, seed: int, block: int, pools: _CsvPools) -> pa.StringArray:
    """``n`` CSV lines (each ending in a newline) with ids from ``start_id``."""
    ids = pa.array(range(start_id, start_id + n), pa.int64()).cast(pa.string())
    ts = pc.binary_join_element_wise(
        _pick(pools.days, _uniform(n, seed, block, 6)),
        _pick(pools.times, _uniform(n, seed, block, 7)),
        "",
    )
    qty = _randint(_uniform(n, seed, block, 9), 0, 500).cast(pa.string())
    columns = [
        ids,
        _amount_column(n, seed, block, pools),
        _pick(pools.categories, _uniform(n, seed, block, 0)),
        _note_column(n, seed, block, pools),
        ts,
        _pick(pools.flags, _uniform(n, seed, block, 8)),
        pc.binary_join_element_wise(qty, "\n", ""),
    ]
    return pc.binary_join_element_wise(*columns, ",")


def _write_csv(path: Path, seed: int, target_bytes: int, ts_sep: str = " ") -> int:
    """Write blocks of rows until ``target_bytes`` is reached; return the row count."""
    pools = _csv_pools(seed, ts_sep)
    header = (",".join(CSV_COLUMNS) + "\n").encode()
    rows = 0
    written = len(header)
    block_rows = CSV_BLOCK_ROWS
    with path.open("wb") as out:
        out.write(header)
        block = 0
        while written < target_bytes:
            lines = _csv_block(rows, block_rows, seed, block, pools)
            data = _string_buffer(lines)
            remaining = target_bytes - written
            if len(data) > remaining:
                # Last block: keep just enough whole lines to reach the target.
                per_row = len(data) / len(lines)
                keep = max(1, min(len(lines), round(remaining / per_row)))
                lines = lines.slice(0, keep)
                data = _string_buffer(lines)
            out.write(data)
            written += len(data)
            rows += len(lines)
            block += 1
    return rows


def generate_csv(seed: int = 42, target_mb: float = 1024, *, force: bool = False) -> Dataset:
    """The mixed-type CSV of about ``target_mb`` MiB for ``seed``, generated if not cached."""
    return _generate_cached("mixed", seed, target_mb, "csv", _write_csv, force)


# ---------------------------------------------------------------------------------------------
# Zipf text


def _synthetic_word(rng: random.Random) -> str:
    syllables = rng.choices([1, 2, 2, 3, 3, 4], k=1)[0]
    parts = [rng.choice(ONSETS) + rng.choice(NUCLEI) for _ in range(syllables)]
    return "".join(parts) + rng.choice(CODAS) + rng.choice(SUFFIXES)


def _vocabulary(seed: int, size: int = 60_000) -> list[str]:
    """Common English words first (highest Zipf ranks), then unique synthetic words."""
    rng = random.Random(seed + 7)
    words = list(dict.fromkeys(COMMON_WORDS))
    seen = set(words)
    specials = iter(SPECIAL_WORDS)
    while len(words) < size:
        if len(words) % 500 == 0 and (special := next(specials, None)) is not None:
            candidate = special
        else:
            candidate = _synthetic_word(rng)
        if candidate not in seen:
            seen.add(candidate)
            words.append(candidate)
    return words


TextPools = tuple[pa.StringArray, int, pa.StringArray]
"""(lower + Capitalised + UPPER vocabulary, vocabulary size, separator pool)."""


def _text_pools(seed: int) -> TextPools:
    """(lower + Capitalised + UPPER vocabulary, vocabulary size, separator pool)."""
    vocab = _vocabulary(seed)
    variants = vocab + [w.capitalize() for w in vocab] + [w.upper() for w in vocab]
    separators = [sep for sep, weight in TEXT_SEPARATORS for _ in range(weight)]
    return pa.array(variants, pa.string()), len(vocab), pa.array(separators, pa.string())


def _zipf_ranks(u: pa.DoubleArray, vocab_size: int) -> pa.Int64Array:
    """Zipf(s=1) ranks in ``[0, vocab_size)`` by inverting the continuous CDF ln(k)/ln(N)."""
    ranks = pc.floor(pc.exp(pc.multiply(u, math.log(vocab_size + 1)))).cast(pa.int64())
    return pc.min_element_wise(pc.subtract(ranks, 1), vocab_size - 1)


def _text_block(n: int, seed: int, block: int, pools: TextPools) -> pa.StringArray:
    """``n`` words, each followed by a separator."""
    variants, vocab_size, separators = pools
    ranks = _zipf_ranks(_uniform(n, seed, block, 10), vocab_size)
    case_roll = _uniform(n, seed, block, 11)
    variant = pc.add(
        pc.less(case_roll, 0.08).cast(pa.int64()), pc.less(case_roll, 0.01).cast(pa.int64())
    )
    words = variants.take(pc.add(ranks, pc.multiply(variant, vocab_size)))
    seps = _pick(separators, _uniform(n, seed, block, 12))
    return pc.binary_join_element_wise(words, seps, "")


def _write_text(path: Path, seed: int, target_bytes: int) -> int:
    """Write Zipf text until ``target_bytes``; return the number of words drawn."""
    pools = _text_pools(seed)
    written = 0
    words = 0
    with path.open("wb") as out:
        block = 0
        while written < target_bytes:
            tokens = _text_block(TEXT_BLOCK_WORDS, seed, block, pools)
            data = _string_buffer(tokens)
            remaining = target_bytes - written
            if len(data) > remaining:
                keep = max(1, min(len(tokens), round(remaining * len(tokens) / len(data))))
                tokens = tokens.slice(0, keep)
                data = _string_buffer(tokens)
            out.write(data)
            written += len(data)
            words += len(tokens)
            block += 1
        out.write(b"\n")
    return words


def generate_text(seed: int = 42, target_mb: float = 200, *, force: bool = False) -> Dataset:
    """Zipf English-like text of about ``target_mb`` MiB for ``seed``, generated if not cached."""
    return _generate_cached("zipf", seed, target_mb, "txt", _write_text, force)


def iter_datasets(seed: int, csv_mb: float | None, text_mb: float | None) -> Iterator[Dataset]:
    """Generate (or load) the requested datasets."""
    if csv_mb:
        yield generate_csv(seed, csv_mb)
    if text_mb:
        yield generate_text(seed, text_mb)


def main(argv: list[str] | None = None) -> None:
    """CLI: generate the benchmark inputs and print where they are."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--csv-mb", type=float, default=1024)
    parser.add_argument("--text-mb", type=float, default=200)
    parser.add_argument("--force", action="store_true", help="regenerate even if cached")
    args = parser.parse_args(argv)
    if args.force:
        generate_csv(args.seed, args.csv_mb, force=True)
        generate_text(args.seed, args.text_mb, force=True)
    for ds in iter_datasets(args.seed, args.csv_mb, args.text_mb):
        print(json.dumps(asdict(ds)))


if __name__ == "__main__":
    main()
