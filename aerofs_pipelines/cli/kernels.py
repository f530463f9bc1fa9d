"""``aerofs convert``, ``aerofs analyze``, ``aerofs digest``: the Rust kernels on one file.

They start fast and never import Dagster: the kernels (and pyarrow) are imported when a
command runs.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aerofs_pipelines.cli.arguments import int_in_range
from aerofs_pipelines.cli.errors import InputError
from aerofs_pipelines.cli.printing import emit_json


def _kernels() -> Any:
    """Import the kernels lazily, with a clear message when the extension is not built."""
    try:
        from aerofs_pipelines import kernels
    except ImportError as exc:  # the Rust extension is missing or stale
        raise InputError(
            f"the Rust kernels cannot be loaded ({exc}); run `make setup` to build them"
        ) from exc
    return kernels


def _require_file(path: str) -> int:
    """Size of ``path``; FileNotFoundError / IsADirectoryError with the filename otherwise."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path) from None
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    return st.st_size


def _delimiter(value: str) -> str:
    """Accept ``\\t``/``tab`` as the tab character (typing a real tab is awkward)."""
    named = {"\\t": "\t", "tab": "\t", "TAB": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
    value = named.get(value, value)
    if len(value) != 1 or not value.isascii() or value in '"\r\n':
        raise argparse.ArgumentTypeError(
            f"must be one ASCII character other than quote or newline, got {value!r}"
        )
    return value


def default_rejects_path(dst: str) -> str:
    """``out/data.parquet`` → ``out/data.rejects.csv``."""
    p = Path(dst)
    return str(p.with_name(p.stem + ".rejects.csv")) if p.suffix else str(p) + ".rejects.csv"


def cmd_convert(args: argparse.Namespace) -> int:
    from aerofs_pipelines.cli import progress as progress_mod

    src: str = args.src
    dst: str = args.dst
    delimiter: str = args.delimiter or ("\t" if src.lower().endswith(".tsv") else ",")
    rejects: str | None = args.rejects
    if args.on_error == "quarantine" and rejects is None:
        rejects = default_rejects_path(dst)
    size = _require_file(src)
    kernels = _kernels()
    for out in (dst, rejects):
        if out is not None:
            parent = Path(out).parent
            parent.mkdir(parents=True, exist_ok=True)

    bar: Callable[[int, int], None] | None = None
    if progress_mod.should_show(sys.stderr, size):
        bar = progress_mod.ProgressBar(size, sys.stderr)
    started = time.perf_counter()
    try:
        stats = kernels.csv_to_parquet(
            src,
            dst,
            delimiter=delimiter,
            has_header=not args.no_header,
            on_error=args.on_error,
            rejects=rejects,
            compression=args.compression,
            progress=bar,
        )
    finally:
        if isinstance(bar, progress_mod.ProgressBar):
            bar.close()
    wall = time.perf_counter() - started
    result: dict[str, Any] = dict(stats)
    seconds = float(result.get("seconds") or wall)
    bytes_read = int(result.get("bytes_read") or size)
    result.setdefault("seconds", seconds)
    result["src"] = src
    result["dst"] = dst
    result["rejects"] = rejects if args.on_error == "quarantine" else None
    result["mb_per_s"] = round(bytes_read / 1e6 / seconds, 3) if seconds > 0 else None

    if args.json:
        emit_json(result)
        return 0
    fmt = progress_mod.format_bytes
    rate = f"{fmt(bytes_read / seconds)}/s" if seconds > 0 else "-"
    print(f"{src} -> {dst}")
    print(f"  rows      {result['rows']:,}")
    rejected = int(result.get("rejected_rows", 0))
    line = f"  rejected  {rejected:,}"
    if args.on_error == "quarantine":
        line += f"  -> {rejects}"
    print(line)
    print(f"  columns   {len(result.get('columns', []))}")
    print(f"  read      {fmt(bytes_read)} in {seconds:.2f} s ({rate})")
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    _require_file(args.file)
    kernels = _kernels()
    started = time.perf_counter()
    stats = kernels.analyze_text(args.file, top_k=args.top_k)
    seconds = time.perf_counter() - started
    if args.json:
        emit_json({"path": args.file, **stats})
        return 0
    print(args.file)
    labels = {
        "bytes": "bytes",
        "lines": "lines",
        "words": "words",
        "chars": "chars",
        "unique_words": "unique words",
        "invalid_utf8_bytes": "invalid UTF-8 bytes",
    }
    for key, label in labels.items():
        print(f"  {label:<20}{int(stats[key]):>14,}")
    print(f"  {'seconds':<20}{seconds:>14.3f}")
    top = stats["top_words"]
    if top:
        width = max(len(str(w)) for w, _ in top)
        width = min(max(width, 4), 40)
        print()
        print(f"  {'word':<{width}}  {'count':>10}")
        for word, count in top:
            shown = str(word) if len(str(word)) <= width else str(word)[: width - 1] + "…"
            print(f"  {shown:<{width}}  {int(count):>10,}")
    return 0


def cmd_digest(args: argparse.Namespace) -> int:
    _require_file(args.file)
    kernels = _kernels()
    value = kernels.digest(args.file)
    if args.json:
        emit_json({"path": args.file, "algorithm": "blake3", "digest": value})
    else:
        print(f"{value}  {args.file}")
    return 0


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``convert``, ``analyze`` and ``digest`` to the ``aerofs`` parser."""
    p = sub.add_parser(
        "convert",
        help="convert a CSV/TSV file to Parquet",
        description="Convert a CSV/TSV file to Parquet (streaming, bounded memory, all cores).",
    )
    p.add_argument("src", metavar="SRC", help="CSV or TSV file")
    p.add_argument("dst", metavar="DST", help="Parquet file to write (atomically)")
    p.add_argument(
        "--on-error",
        choices=("fail", "quarantine"),
        default="fail",
        help="stop at the first bad row (default) or set bad rows aside in the rejects file",
    )
    p.add_argument(
        "--rejects",
        metavar="PATH",
        help="where quarantined rows go (default: DST with suffix .rejects.csv)",
    )
    p.add_argument(
        "--delimiter",
        type=_delimiter,
        metavar="C",
        help="field delimiter; '\\t' or 'tab' for tab (default: tab for .tsv, else ',')",
    )
    p.add_argument("--no-header", action="store_true", help="the first line is data")
    p.add_argument(
        "--compression",
        choices=("zstd", "snappy", "lz4", "none"),
        default="zstd",
        help="Parquet compression (default: zstd)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=cmd_convert, subparser=p)

    p = sub.add_parser(
        "analyze",
        help="text statistics of a file",
        description="Count bytes, lines, words, chars and unique words; list the top words.",
    )
    p.add_argument("file", metavar="FILE")
    p.add_argument(
        "--top-k", type=int_in_range(0), default=20, metavar="N", help="top words (default: 20)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser(
        "digest",
        help="content hash of a file",
        description="Print the BLAKE3 content hash (hex) used in manifests.",
    )
    p.add_argument("file", metavar="FILE")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=cmd_digest)
