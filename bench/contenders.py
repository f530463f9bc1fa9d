"""The contenders of the kernel benchmark: our Rust kernels and their peers.

One function per way of doing a section's job, ``(src, dst) -> result`` (``dst`` is the
Parquet path in the CSV section), and :data:`CONTENDERS`, which says how
:mod:`bench.harness` runs each: its work, the modules imported before the clock starts,
or the command for ``cat``/``wc``. The functions import their libraries themselves (the
harness imports them in the child before timing) and know nothing of timing, processes or
printing. :func:`pyarrow_batches` is pyarrow's streamed parse of the CSV, which the
agreement checks compare aerofs's output with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.harness import Contender, Json

TOP_K = 20
"""How many of the most frequent words the text contenders report."""


# ---------------------------------------------------------------------------------------------
# Contenders: CSV → Parquet


def pyarrow_csv_options() -> tuple[Any, Any]:
    """Parse and convert options of the pyarrow contenders: quoted newlines, empty = null."""
    import pyarrow.csv as pv

    parse = pv.ParseOptions(newlines_in_values=True)
    convert = pv.ConvertOptions(strings_can_be_null=True)
    return parse, convert


def pyarrow_batches(src: str) -> Iterator[Any]:
    """pyarrow's streamed parse of ``src``, batch by batch (the agreement checks' reference)."""
    import pyarrow.csv as pv

    parse, convert = pyarrow_csv_options()
    yield from pv.open_csv(src, parse_options=parse, convert_options=convert)


def csv_aerofs(src: str, dst: str) -> Json:
    """Our kernel."""
    from aerofs_pipelines.kernels import csv_to_parquet

    stats = csv_to_parquet(src, dst, compression="zstd")
    return {"rows": stats["rows"], "schema": stats["schema"]}


def csv_pyarrow(src: str, dst: str) -> Json:
    """``pyarrow.csv.read_csv`` of the whole table, then ``write_table``."""
    import pyarrow.csv as pv
    import pyarrow.parquet as pq

    parse, convert = pyarrow_csv_options()
    table = pv.read_csv(src, parse_options=parse, convert_options=convert)
    pq.write_table(table, dst, compression="zstd")
    return {"rows": table.num_rows}


def csv_pyarrow_stream(src: str, dst: str) -> Json:
    """``pyarrow.csv.open_csv`` streamed batch by batch into a ``ParquetWriter``."""
    import pyarrow.csv as pv
    import pyarrow.parquet as pq

    parse, convert = pyarrow_csv_options()
    reader = pv.open_csv(src, parse_options=parse, convert_options=convert)
    rows = 0
    with pq.ParquetWriter(dst, reader.schema, compression="zstd") as writer:
        for batch in reader:
            writer.write_batch(batch)
            rows += batch.num_rows
    return {"rows": rows}


def csv_polars(src: str, dst: str) -> Json:
    """Polars streaming ``scan_csv(try_parse_dates=True).sink_parquet``."""
    import polars as pl

    pl.scan_csv(src, try_parse_dates=True).sink_parquet(dst, compression="zstd")
    return {}


def csv_polars_nodates(src: str, dst: str) -> Json:
    """Polars streaming ``scan_csv().sink_parquet`` without date parsing (ts stays string)."""
    import polars as pl

    pl.scan_csv(src).sink_parquet(dst, compression="zstd")
    return {}


def csv_duckdb(src: str, dst: str) -> Json:
    """DuckDB ``COPY (SELECT * FROM read_csv(...)) TO ... (FORMAT PARQUET, COMPRESSION ZSTD)``."""
    import duckdb

    def quote(path: str) -> str:
        return "'" + path.replace("'", "''") + "'"

    with duckdb.connect() as con:
        con.execute(
            f"COPY (SELECT * FROM read_csv({quote(src)})) TO {quote(dst)} "
            "(FORMAT PARQUET, COMPRESSION ZSTD)"
        )
    return {}


def _python_converter(samples: list[str]) -> Callable[[str], Any]:
    """The narrowest of int/float/bool/datetime/str that parses every non-empty sample."""
    import datetime as dt

    def to_bool(value: str) -> bool:
        if value not in ("true", "false"):
            raise ValueError(value)
        return value == "true"

    values = [v for v in samples if v]
    for convert in (int, float, to_bool, dt.datetime.fromisoformat):
        try:
            for value in values:
                convert(value)
        except ValueError:
            continue
        return convert
    return str


def csv_python(src: str, dst: str) -> Json:
    """Python's ``csv`` module, values converted to Python types; no Parquet written (floor)."""
    import csv
    import itertools

    with open(src, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader)  # header
        head = list(itertools.islice(reader, 1000))
        converters = [_python_converter(list(col)) for col in zip(*head, strict=True)]
        rows = 0
        for row in itertools.chain(head, reader):
            [conv(v) if v else None for conv, v in zip(converters, row, strict=True)]
            rows += 1
    return {"rows": rows}


# ---------------------------------------------------------------------------------------------
# Contenders: text statistics


def _top_words(counts: dict[str, int], k: int) -> list[list[str | int]]:
    """The ``k`` most frequent words, ties broken by word (same order as the kernel)."""
    import heapq

    top = heapq.nsmallest(k, counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [[word, count] for word, count in top]


def text_aerofs(src: str, dst: str) -> Json:
    """Our kernel."""
    from aerofs_pipelines.kernels import analyze_text

    return dict(analyze_text(src, top_k=TOP_K))


def text_re_counter(src: str, dst: str) -> Json:
    """``Counter(re.findall(r"\\w+", text.lower()))`` over the whole file read at once."""
    import re
    from collections import Counter

    raw = Path(src).read_bytes()
    text = raw.decode("utf-8", errors="replace")
    counts = Counter(re.findall(r"\w+", text.lower()))
    return {
        "bytes": len(raw),
        "chars": len(text),
        "lines": text.count("\n"),
        "words": sum(counts.values()),
        "unique_words": len(counts),
        "top_words": _top_words(counts, TOP_K),
    }


def text_polars(src: str, dst: str) -> Json:
    """Polars: lines as a one-column CSV, lowercase, ``extract_all(\\w+)``, explode, count."""
    import polars as pl

    lines = pl.scan_csv(
        src,
        has_header=False,
        separator="\x1f",
        quote_char=None,
        schema={"line": pl.String},
    )
    counts = (
        lines.select(pl.col("line").str.to_lowercase().str.extract_all(r"\w+").alias("word"))
        .explode("word")
        .drop_nulls("word")
        .group_by("word")
        .agg(pl.len().alias("count"))
        .collect()
    )
    top = counts.sort(["count", "word"], descending=[True, False]).head(TOP_K)
    return {
        "words": int(counts["count"].sum()),
        "unique_words": counts.height,
        "top_words": [[w, int(c)] for w, c in top.iter_rows()],
    }


# ---------------------------------------------------------------------------------------------
# Registry


CONTENDERS: tuple[Contender, ...] = (
    Contender("cat", "csv", "cat FILE > /dev/null (I/O floor)", command=("cat",)),
    Contender(
        "aerofs",
        "csv",
        "aerofs_pipelines.kernels.csv_to_parquet",
        csv_aerofs,
        ("aerofs_pipelines.kernels",),
        writes_parquet=True,
    ),
    Contender(
        "pyarrow",
        "csv",
        "pyarrow.csv.read_csv + parquet.write_table",
        csv_pyarrow,
        ("pyarrow.csv", "pyarrow.parquet"),
        writes_parquet=True,
    ),
    Contender(
        "pyarrow-stream",
        "csv",
        "pyarrow.csv.open_csv + ParquetWriter per batch",
        csv_pyarrow_stream,
        ("pyarrow.csv", "pyarrow.parquet"),
        writes_parquet=True,
    ),
    Contender(
        "polars",
        "csv",
        "polars scan_csv(try_parse_dates=True).sink_parquet",
        csv_polars,
        ("polars",),
        writes_parquet=True,
    ),
    Contender(
        "polars-nodates",
        "csv",
        "polars scan_csv().sink_parquet",
        csv_polars_nodates,
        ("polars",),
        writes_parquet=True,
    ),
    Contender(
        "duckdb",
        "csv",
        "duckdb COPY read_csv TO parquet",
        csv_duckdb,
        ("duckdb",),
        writes_parquet=True,
    ),
    Contender(
        "python-csv",
        "csv",
        "csv module + type conversion, no write (floor)",
        csv_python,
        ("csv", "datetime"),
    ),
    Contender("wc", "text", "wc -w FILE", command=("wc", "-w")),
    Contender(
        "aerofs",
        "text",
        "aerofs_pipelines.kernels.analyze_text",
        text_aerofs,
        ("aerofs_pipelines.kernels",),
    ),
    Contender(
        "re-counter",
        "text",
        "Counter(re.findall(r'\\w+', text.lower()))",
        text_re_counter,
        ("re", "collections"),
    ),
    Contender("polars", "text", "polars extract_all + group_by", text_polars, ("polars",)),
)
