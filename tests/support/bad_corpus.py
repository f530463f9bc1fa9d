"""Generate the bad-input corpus: malformed files a landing batch may hold, and bad batch ids.

Nothing here is a committed binary: every file is written by this script, deterministically,
into a folder the caller chooses (tests use a temporary one)::

    python -m tests.support.bad_corpus DEST [--outside DIR]

writes the corpus into ``DEST`` and prints one line per file (name, what is wrong with it).
``make_corpus(dest, outside)`` does the same from Python and returns the :class:`BadFile`
list. Symbolic links in the corpus point at ``/etc/passwd`` and at a file written in
``outside`` (a folder next to, not inside, the landing zone), so a test can prove that
nothing is ever read through them.

Each file says what the pipeline may do with it (``expect``):

* ``processed`` -- the file must be processed (it is odd but valid: a BOM, mixed line
  endings, a non-ASCII name); bad rows of a table may go to the rejects;
* ``quarantined`` -- the file must be quarantined with a reason;
* ``skipped`` -- the file must be skipped with a reason (not a supported type, hidden);
* ``any`` -- processed (possibly with rejected rows) or quarantined, never lost.

``BAD_BATCH_IDS`` are batch ids the landing sensor, ``aerofs ingest`` and the assets must
refuse: they are never used in a path.
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BAD_BATCH_IDS",
    "LONG_LINE_BYTES",
    "WIDE_COLUMNS",
    "BadFile",
    "main",
    "make_corpus",
]

LONG_LINE_BYTES = 50 * 1024 * 1024
"""Size of the single-line file (no newline at all)."""
WIDE_COLUMNS = 10_000
OUTSIDE_NAME = "outside-secret.csv"
"""The file outside the landing zone that a corpus symlink points at."""
OUTSIDE_CONTENT = b"secret,value\nDO-NOT-READ,42\n"


@dataclass(frozen=True)
class BadFile:
    """One corpus entry: its name inside the batch, what is wrong, what must happen."""

    name: str
    description: str
    expect: str
    """``processed``, ``quarantined``, ``skipped`` or ``any``."""
    kind: str = "file"
    """``file``, ``symlink``, ``fifo`` (a named pipe) or ``dir`` (a folder named like a file)."""
    rows: int | None = None
    """For a processed table: the rows its Parquet file must hold."""


@dataclass(frozen=True)
class _Spec:
    entry: BadFile
    write: Callable[[Path, Path], None]
    """``write(path, outside)`` creates the entry at ``path``."""


def _bytes(data: bytes) -> Callable[[Path, Path], None]:
    def write(path: Path, outside: Path) -> None:
        path.write_bytes(data)

    return write


def _long_line(path: Path, outside: Path) -> None:
    """A header, then 50 MB on one line with no newline: one huge field."""
    block = b"abcdefghijklmnopqrstuvwxyz0123456789" * (1 << 15)  # ~1.1 MB
    with open(path, "wb") as fh:
        fh.write(b"id,payload\n1,")
        left = LONG_LINE_BYTES
        while left > 0:
            fh.write(block[:left])
            left -= len(block)


def _wide(path: Path, outside: Path) -> None:
    header = ",".join(f"c{i}" for i in range(WIDE_COLUMNS))
    rows = [",".join(str((r * 7 + i) % 1000) for i in range(WIDE_COLUMNS)) for r in range(3)]
    path.write_text("\n".join([header, *rows]) + "\n")


def _gzip_csv(path: Path, outside: Path) -> None:
    text = b"a,b\n" + b"".join(f"{i},{i * 2}\n".encode() for i in range(1000))
    path.write_bytes(gzip.compress(text, mtime=0))


def _zip_csv(path: Path, outside: Path) -> None:
    info = zipfile.ZipInfo("inner.csv", date_time=(2024, 1, 1, 0, 0, 0))
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(info, "a,b\n1,2\n")


def _random_binary(path: Path, outside: Path) -> None:
    rng = random.Random(1234)
    path.write_bytes(bytes(rng.randrange(256) for _ in range(64 * 1024)))


def _symlink(target: Callable[[Path, Path], str]) -> Callable[[Path, Path], None]:
    def write(path: Path, outside: Path) -> None:
        os.symlink(target(path, outside), path)

    return write


def _outside_relative(path: Path, outside: Path) -> str:
    return os.path.relpath(outside / OUTSIDE_NAME, path.parent)


def _fifo(path: Path, outside: Path) -> None:
    os.mkfifo(path)


def _dir_like_file(path: Path, outside: Path) -> None:
    path.mkdir()
    (path / "inner.csv").write_text("a,b\n1,2\n3,4\n")


def _dir_link_outside(path: Path, outside: Path) -> None:
    os.symlink(outside, path, target_is_directory=True)


_HEADER = b"id,name,amount\n"
_ORDERS_HEADER = b"order_id,order_date,customer,amount,quantity,note\n"
_LONG_NAME = "n" * 240 + ".csv"


def _specs() -> list[_Spec]:
    def f(
        name: str,
        description: str,
        expect: str,
        write: Callable[[Path, Path], None],
        kind: str = "file",
        rows: int | None = None,
    ) -> _Spec:
        return _Spec(BadFile(name, description, expect, kind, rows), write)

    return [
        f(
            "ragged_rows.csv",
            "rows with too few and too many fields (2 of 4 rows ragged): the sniffer pads "
            "the short row, the long one goes to the rejects",
            "processed",
            _bytes(_HEADER + b"1,a,1.5\n2,b\n3,c,3.5,extra,more\n4,d,4.5\n"),
            rows=3,
        ),
        f(
            "unterminated_quote_body.csv",
            "a quoted field is never closed: read with no quoting, every row kept",
            "processed",
            _bytes(_HEADER + b'1,a,1.5\n2,"never closed,2.5\n3,c,3.5\n'),
            rows=3,
        ),
        f(
            "unterminated_quote_header.csv",
            "the header's quoted name is never closed: the sniffer reads the quote as a "
            "literal character (no quoting), so nothing is swallowed",
            "processed",
            _bytes(b'id,"name,amount\n1,a,1.5\n2,b,2.5\n'),
            rows=2,
        ),
        f(
            "invalid_utf8_header.csv",
            "a header name holds the bytes 0xff 0xfe (a UTF-16 byte order mark inside the "
            "text): an undecidable encoding",
            "quarantined",
            _bytes(b"id,na\xff\xfeme,amount\n1,a,1.5\n"),
        ),
        f(
            "utf16_no_bom.csv",
            "UTF-16LE without a byte order mark (a NUL after every ASCII byte): sniffed",
            "processed",
            _bytes("id,name\n1,a\n2,b\n".encode("utf-16-le")),
            rows=2,
        ),
        f(
            "invalid_utf8_body.csv",
            "a string cell holds invalid UTF-8 (Latin-1 'é' = 0xe9, a lone 0xff)",
            "any",
            _bytes(_HEADER + b"1,caf\xe9,1.5\n2,ok,2.5\n3,\xff,3.5\n"),
        ),
        f(
            "nul_in_body.csv",
            "NUL bytes inside string cells",
            "any",
            _bytes(_HEADER + b"1,a\x00b,1.5\n2,\x00\x00,2.5\n3,c,3.5\n"),
        ),
        f(
            "nul_only.csv",
            "4 KiB of NUL bytes, nothing else",
            "quarantined",
            _bytes(b"\x00" * 4096),
        ),
        f(
            "binary_random.csv",
            "64 KiB of random bytes (NULs, invalid UTF-8) named .csv",
            "quarantined",
            _random_binary,
        ),
        f(
            "bom_utf8.csv",
            "starts with a UTF-8 byte order mark (must not end up in the first column's name)",
            "processed",
            _bytes(b"\xef\xbb\xbf" + _HEADER + b"1,a,1.5\n2,b,2.5\n"),
            rows=2,
        ),
        f(
            "bom_utf16le.csv",
            "UTF-16LE with its byte order mark (a spreadsheet's Unicode text export)",
            "processed",
            _bytes(b"\xff\xfe" + "id,name\n1,a\n2,b\n".encode("utf-16-le")),
            rows=2,
        ),
        f(
            "bom_utf16be.csv",
            "UTF-16BE with its byte order mark",
            "processed",
            _bytes(b"\xfe\xff" + "id,name\n1,a\n2,b\n".encode("utf-16-be")),
            rows=2,
        ),
        f(
            "mixed_line_endings.csv",
            "CRLF, LF and lone CR line endings in one file",
            "processed",
            _bytes(b"id,name,amount\r\n1,a,1.5\n2,b,2.5\r3,c,3.5\r\n4,d,4.5\n"),
            rows=4,
        ),
        f(
            "cr_only.csv",
            "classic Mac line endings: lone CR only, no LF anywhere",
            "processed",
            _bytes(b"id,name,amount\r1,a,1.5\r2,b,2.5\r"),
            rows=2,
        ),
        f(
            "duplicate_header.csv",
            "two columns are both named 'id'",
            "any",
            _bytes(b"id,id,name\n1,2,a\n3,4,b\n"),
        ),
        f(
            "empty_header_name.csv",
            "the second and fourth header names are empty",
            "any",
            _bytes(b"id,,name,\n1,2,a,3\n4,5,b,6\n"),
        ),
        f(
            "all_empty_header.csv",
            "every header name is empty (a line of delimiters)",
            "any",
            _bytes(b",,\n1,2,3\n4,5,6\n"),
        ),
        f(
            "long_line_50mb.csv",
            "a header, then one 50 MB line with no newline at all (one huge field)",
            "any",
            _long_line,
        ),
        f(
            "gzip_named.csv",
            "a gzip-compressed CSV named .csv (compressed/binary data, not CSV text)",
            "quarantined",
            _gzip_csv,
        ),
        f(
            "zip_named.csv",
            "a zip archive named .csv",
            "quarantined",
            _zip_csv,
        ),
        f(
            "parquet_named.csv",
            "a Parquet magic number (PAR1) named .csv",
            "quarantined",
            _bytes(b"PAR1" + b"\x00" * 64 + b"PAR1"),
        ),
        f(
            "zero_bytes.csv",
            "an empty file (0 bytes): an empty table",
            "processed",
            _bytes(b""),
            rows=0,
        ),
        f(
            "zero_bytes.txt",
            "an empty text file (0 bytes): valid, just no words",
            "processed",
            _bytes(b""),
        ),
        f(
            "only_newlines.csv",
            "nothing but line breaks: an empty table",
            "processed",
            _bytes(b"\n\r\n\n"),
            rows=0,
        ),
        f(
            "header_only.csv",
            "a header and no data rows (no trailing newline)",
            "processed",
            _bytes(b"id,name,amount"),
            rows=0,
        ),
        f(
            "header_only_newline.csv",
            "a header line and no data rows",
            "processed",
            _bytes(_HEADER),
            rows=0,
        ),
        f(
            "wide_10000_columns.csv",
            f"{WIDE_COLUMNS:,} columns, 3 rows",
            "processed",
            _wide,
            rows=3,
        ),
        f(
            "orders_overflow.csv",
            "registry dataset 'orders': order_id beyond int64, quantity beyond uint64, "
            "amount 1e999 beyond float64 (each row rejected, never clamped or made infinite)",
            "processed",
            _bytes(
                _ORDERS_HEADER
                + b"1,2024-01-01,Acme,10.5,2,\n"
                + b"99999999999999999999999,2024-01-02,Big,1.0,1,overflow\n"
                + b"3,2024-01-03,Cee,1.0,18446744073709551616,quantity overflow\n"
                + b"4,2024-01-04,Dee,1e999,1,amount overflow (inf)\n"
                + b"5,2024-01-05,Eve,2.0,1,\n"
            ),
            rows=2,
        ),
        f(
            "orders_wrong_columns.csv",
            "registry dataset 'orders' with the wrong header (columns missing/renamed)",
            "quarantined",
            _bytes(b"order_id,date,who\n1,2024-01-01,Acme\n"),
        ),
        f(
            "orders_bad_types.csv",
            "registry dataset 'orders': dates and ints that do not parse",
            "processed",
            _bytes(
                _ORDERS_HEADER
                + b"1,2024-13-45,Acme,10.5,2,bad date\n"
                + b"x,2024-01-02,Big,1.0,1,bad id\n"
                + b"3,2024-01-03,Cee,1.0,2,\n"
            ),
            rows=1,
        ),
        f(
            "bare_quotes.csv",
            'quotes in the middle of unquoted fields (a"b) and text after a closing quote',
            "any",
            _bytes(_HEADER + b'1,a"b,1.5\n2,"c"d,2.5\n3,e,3.5\n'),
        ),
        f(
            "whitespace_header.csv",
            "header names that are only spaces",
            "any",
            _bytes(b"  ,   \n1,2\n"),
        ),
        f(
            "delimiter_mismatch.tsv",
            "a .tsv holding comma-separated data (one wide text column)",
            "processed",
            _bytes(b"a,b,c\n1,2,3\n4,5,6\n"),
            rows=2,
        ),
        f(
            "données_東京_ñ.csv",
            "a non-ASCII file name (valid content)",
            "processed",
            _bytes("ville,population\nZürich,421878\n東京,13960000\n".encode()),
            rows=2,
        ),
        f(
            "name with spaces.csv",
            "spaces in the file name (valid content)",
            "processed",
            _bytes(b"a,b\n1,2\n"),
            rows=1,
        ),
        f(
            "back\\slash..\\x.csv",
            "a backslash and '..' in the file name (a Windows-style traversal attempt)",
            "quarantined",
            _bytes(b"a,b\n1,2\n"),
        ),
        f(
            "line\nbreak.csv",
            "a line break inside the file name (valid content)",
            "processed",
            _bytes(b"a,b\n1,2\n"),
            rows=1,
        ),
        f(
            _LONG_NAME,
            f"a {len(_LONG_NAME)}-byte file name: its lake outputs' names would not fit",
            "quarantined",
            _bytes(b"a,b\n1,2\n"),
        ),
        f(
            "invalid_utf8.txt",
            "text with invalid UTF-8 bytes (counted, never fatal)",
            "processed",
            _bytes(b"hello w\xf6rld \xff\xfe plain words here\nsecond line \xc3\n"),
        ),
        f(
            "binary_named.txt",
            "64 KiB of random binary named .txt (NULs and invalid UTF-8: not text)",
            "quarantined",
            _random_binary,
        ),
        f(
            "gzip_named.txt",
            "gzip data named .txt (compressed, not text)",
            "quarantined",
            _gzip_csv,
        ),
        f(
            "symlink_etc_passwd.csv",
            "a symbolic link to /etc/passwd (outside the landing zone)",
            "quarantined",
            _symlink(lambda path, outside: "/etc/passwd"),
            kind="symlink",
        ),
        f(
            "symlink_outside.csv",
            "a relative symbolic link (../..) to a file outside the landing zone",
            "quarantined",
            _symlink(_outside_relative),
            kind="symlink",
        ),
        f(
            "symlink_outside.txt",
            "a symbolic link to a text file outside the landing zone",
            "quarantined",
            _symlink(lambda path, outside: str(outside / OUTSIDE_NAME)),
            kind="symlink",
        ),
        f(
            "symlink_broken.csv",
            "a symbolic link to nothing",
            "quarantined",
            _symlink(lambda path, outside: "does-not-exist.csv"),
            kind="symlink",
        ),
        f(
            "symlink_dir_outside",
            "a symbolic link to a folder outside the landing zone (never walked)",
            "quarantined",
            _dir_link_outside,
            kind="symlink",
        ),
        f(
            "named_pipe.csv",
            "a named pipe (FIFO): reading it would block forever",
            "quarantined",
            _fifo,
            kind="fifo",
        ),
        f(
            "folder_named.csv",
            "a folder named like a CSV file (its own file inside is a valid table)",
            "processed",
            _dir_like_file,
            kind="dir",
        ),
        f(
            ".hidden.csv",
            "a hidden file (name starts with '.')",
            "skipped",
            _bytes(b"a,b\n1,2\n"),
        ),
        f(
            "no_extension",
            "a file with no extension",
            "skipped",
            _bytes(b"a,b\n1,2\n"),
        ),
        f(
            "data.xlsx",
            "an unsupported file type (zip bytes named .xlsx)",
            "skipped",
            _zip_csv,
        ),
    ]


def make_corpus(dest: str | os.PathLike[str], outside: str | os.PathLike[str]) -> list[BadFile]:
    """Write every corpus file into ``dest`` (created); ``outside`` gets the symlink target.

    ``outside`` must not be inside ``dest``'s landing zone. Returns the entries in order.
    """
    dest, outside = Path(dest), Path(outside)
    dest.mkdir(parents=True, exist_ok=True)
    outside.mkdir(parents=True, exist_ok=True)
    (outside / OUTSIDE_NAME).write_bytes(OUTSIDE_CONTENT)
    out = []
    for spec in _specs():
        spec.write(dest / spec.entry.name, outside)
        out.append(spec.entry)
    return out


def corpus_entries() -> list[BadFile]:
    """The corpus entries, without writing anything."""
    return [s.entry for s in _specs()]


BAD_BATCH_IDS: dict[str, str] = {
    "..": "parent folder",
    ".": "current folder",
    "../x": "parent traversal",
    "../../etc": "deeper parent traversal",
    "a/b": "a slash (nested path)",
    "/abs": "an absolute path",
    "/etc/passwd": "an absolute path to a system file",
    "a\\b": "a backslash",
    "..\\x": "a Windows-style parent traversal",
    "%2e%2e": "URL-encoded '..'",
    "%2e%2e%2fx": "URL-encoded '../x'",
    "a\x00b": "a NUL byte",
    "sp ace": "a space",
    " lead": "a leading space",
    "trail ": "a trailing space",
    "tab\there": "a tab",
    "new\nline": "a newline",
    "données": "non-ASCII letters",
    "東京": "non-ASCII (CJK)",
    "\uff41\uff42\uff43": "full-width letters that NFKC-normalise to ASCII",
    "-dash": "a leading '-' (looks like a command-line option)",
    ".hidden": "a leading '.'",
    "_aerofs": "the reserved folder name (leading '_')",
    "": "empty",
    "x" * 129: "too long (129 characters)",
}
"""Batch ids that must be refused, with what is wrong with each."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.bad_corpus",
        description="Write the bad-input corpus into DEST and list what is wrong with each file.",
    )
    parser.add_argument("dest", help="folder to write the corpus into (a batch folder)")
    parser.add_argument(
        "--outside",
        help="folder for the symlinks' target, outside the landing zone "
        "(default: DEST/../corpus-outside)",
    )
    args = parser.parse_args(argv)
    dest = Path(args.dest)
    outside = Path(args.outside) if args.outside else dest.parent / "corpus-outside"
    for entry in make_corpus(dest, outside):
        print(f"{entry.name!r:40} {entry.expect:12} {entry.description}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
