"""``aerofs convert``, ``aerofs sniff``, ``aerofs analyze``, ``aerofs digest``: the Rust
kernels on one file.

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


_NAMED_DELIMITERS = {
    "\\t": "\t",
    "tab": "\t",
    "TAB": "\t",
    "comma": ",",
    "semicolon": ";",
    "pipe": "|",
    "space": " ",
}


def _delimiter(value: str) -> str:
    """One or more characters; ``\\t``/``tab`` for tab (typing a real tab is awkward)."""
    value = _NAMED_DELIMITERS.get(value, value.replace("\\t", "\t"))
    if not value or "\n" in value or "\r" in value:
        raise argparse.ArgumentTypeError(f"must be one or more characters, got {value!r}")
    return value


def _char_or_none(value: str) -> str:
    """One ASCII character, or ``none`` (given to the kernel as ``""``: no such character)."""
    if value.lower() == "none":
        return ""
    if len(value) != 1 or not value.isascii():
        raise argparse.ArgumentTypeError(f"must be one ASCII character or 'none', got {value!r}")
    return value


_DIALECT_FLAGS: tuple[tuple[str, str], ...] = (
    ("encoding", "encoding"),
    ("delimiter", "delimiter"),
    ("quote", "quote"),
    ("escape", "escape"),
    ("skip_rows", "skip_rows"),
    ("header_rows", "header_rows"),
    ("comment", "comment"),
    ("skip_footer", "skip_footer"),
    ("null_values", "null_values"),
    ("decimal", "decimal"),
    ("thousands", "thousands"),
    ("date_format", "date_format"),
    ("timestamp_format", "timestamp_format"),
    ("ragged", "ragged"),
)


def add_dialect_options(p: argparse.ArgumentParser) -> None:
    """The dialect options (each one pins that key; the rest is sniffed or defaulted)."""
    g = p.add_argument_group(
        "dialect (each option pins one key; the others are sniffed unless --dialect default)"
    )
    g.add_argument(
        "--dialect",
        choices=("auto", "default"),
        default="auto",
        help="auto: sniff what is not given (default); default: RFC 4180 UTF-8, one header row",
    )
    g.add_argument("--encoding", metavar="NAME", help="utf-8, utf-16le, windows-1252, latin1, ...")
    g.add_argument(
        "--delimiter",
        type=_delimiter,
        metavar="S",
        help="one or more characters: ',' ';' '|' tab ', ' '||' ('\\t' or 'tab' for tab)",
    )
    g.add_argument("--quote", type=_char_or_none, metavar="C", help="quote character, or none")
    g.add_argument(
        "--escape",
        type=_char_or_none,
        metavar="C",
        help="escape character (e.g. '\\'), or none for doubled quotes",
    )
    g.add_argument("--skip-rows", type=int_in_range(0), metavar="N", help="lines before the header")
    g.add_argument(
        "--header-rows",
        type=int_in_range(0, 16),
        metavar="N",
        help="0 (no header), 1, or several rows joined into one name per column",
    )
    g.add_argument(
        "--no-header", action="store_true", help="the first line is data (= --header-rows 0)"
    )
    g.add_argument("--comment", metavar="PREFIX", help="skip lines starting with PREFIX")
    g.add_argument(
        "--skip-footer", type=int_in_range(0), metavar="N", help="trailing lines that are not rows"
    )
    g.add_argument(
        "--trim",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="strip spaces around unquoted fields",
    )
    g.add_argument(
        "--null-value",
        dest="null_values",
        action="append",
        metavar="TOKEN",
        help="a value meaning null (repeat: --null-value NA --null-value -)",
    )
    g.add_argument("--decimal", choices=(".", ","), help="decimal separator")
    g.add_argument(
        "--thousands", type=_char_or_none, metavar="C", help="thousands separator, or none"
    )
    g.add_argument("--date-format", metavar="FMT", help="e.g. %%d.%%m.%%Y (ISO is always read)")
    g.add_argument("--timestamp-format", metavar="FMT", help="e.g. '%%d/%%m/%%Y %%H:%%M' (ISO too)")
    g.add_argument(
        "--ragged",
        choices=("reject", "pad", "truncate"),
        help="rows of another width: reject, pad short ones, truncate long ones",
    )


def dialect_options(args: argparse.Namespace) -> dict[str, object]:
    """The dialect keys given on the command line."""
    options: dict[str, object] = {}
    for attr, key in _DIALECT_FLAGS:
        value = getattr(args, attr, None)
        if value is not None:
            options[key] = value
    if args.no_header:
        options["header_rows"] = 0
    if args.trim is not None:
        options["trim"] = args.trim
    return options


def resolve_dialect(kernels: Any, src: str, args: argparse.Namespace) -> dict[str, Any]:
    """The dialect ``src`` is read in: sniffed around the given options, or them alone."""
    options = dialect_options(args)
    if src.lower().endswith(".tsv"):
        options.setdefault("delimiter", "\t")
    if args.dialect == "auto":
        result: dict[str, Any] = kernels.sniff(src, pinned=options)
    else:
        result = kernels.check_dialect(options)
    return result


def default_rejects_path(dst: str) -> str:
    """``out/data.parquet`` → ``out/data.rejects.csv``."""
    p = Path(dst)
    return str(p.with_name(p.stem + ".rejects.csv")) if p.suffix else str(p) + ".rejects.csv"


def cmd_convert(args: argparse.Namespace) -> int:
    from aerofs_pipelines.cli import progress as progress_mod

    src: str = args.src
    dst: str = args.dst
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
    dialect = resolve_dialect(kernels, src, args)
    try:
        stats = kernels.csv_to_parquet(
            src,
            dst,
            dialect={k: v for k, v in dialect.items() if k != "confidence"},
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
    result["dialect"] = dialect
    result["dialect_sniffed"] = args.dialect == "auto"

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
    print(f"  dialect   {kernels.describe_dialect(dialect)}")
    print(f"  read      {fmt(bytes_read)} in {seconds:.2f} s ({rate})")
    return 0


def cmd_sniff(args: argparse.Namespace) -> int:
    _require_file(args.file)
    kernels = _kernels()
    started = time.perf_counter()
    dialect = resolve_dialect(kernels, args.file, args)
    ms = (time.perf_counter() - started) * 1000
    if args.json:
        emit_json({"path": args.file, **dialect})
        return 0
    print(args.file)
    for key, value in dialect.items():
        shown = f"{value:.2f}" if key == "confidence" else repr(value)
        print(f"  {key:<18}{shown}")
    print(f"  {'ms':<18}{ms:.1f}")
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
        description="Convert a CSV/TSV file to Parquet (streaming, bounded memory, all cores). "
        "Its dialect is sniffed (encoding, delimiter, quoting, title lines, header rows, "
        "footer, null tokens, number and date syntax) unless --dialect default; each dialect "
        "option pins one key.",
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
        "--compression",
        choices=("zstd", "snappy", "lz4", "none"),
        default="zstd",
        help="Parquet compression (default: zstd)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    add_dialect_options(p)
    p.set_defaults(func=cmd_convert, subparser=p)

    p = sub.add_parser(
        "sniff",
        help="detect the dialect of a CSV file",
        description="Print the dialect of a CSV file as the kernel reads it: encoding, "
        "delimiter, quote, escape, title lines, header rows, comments, footer, null tokens, "
        "number and date syntax, and the confidence. Options pin keys; the rest is sniffed.",
    )
    p.add_argument("file", metavar="FILE")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    add_dialect_options(p)
    p.set_defaults(func=cmd_sniff)

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
