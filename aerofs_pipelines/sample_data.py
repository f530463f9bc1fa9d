"""A small, deterministic sample batch for demos and tests.

``write_sample_batch(landing)`` writes ``<landing>/<batch_id>/`` with

- ``orders.csv``: a table with the usual traps (quoted delimiters, escaped quotes, a
  line break inside a quoted field, non-ASCII text, empty cells) and exactly one bad
  row (too many fields), whose line number is returned;
- ``notes.txt``: plain text, with one invalid UTF-8 byte;
- ``_SUCCESS``: written last, marking the batch complete (the landing-zone contract).

Same seed, same bytes. Run ``python -m aerofs_pipelines.sample_data LANDING`` to
write one from the command line.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SampleBatch", "main", "notes_text", "orders_csv", "write_sample_batch"]

ORDERS_HEADER = ("order_id", "order_date", "customer", "amount", "quantity", "note")
_CUSTOMERS = (
    "Acme Corp",
    "Smith, Jane",
    'The "Big" Shop',
    "Zoë Ångström",
    "東京商事",
    "O'Brien & Sons",
)
_NOTES = ("", "", "", "gift wrap", "deliver after 5pm, ring twice", 'fragile; "handle with care"')
_TEXT = (
    "the data lake keeps every batch of files the pipeline turns csv into parquet and text "
    "into statistics a batch is complete when its marker lands rust kernels stream the bytes "
    "dagster schedules the runs the gateway checks who may launch them"
)
_WORDS = tuple(_TEXT.split(" "))


@dataclass(frozen=True)
class SampleBatch:
    """Where a sample batch was written and what is in it."""

    directory: Path
    files: tuple[Path, ...]
    csv_rows: int
    """Data rows in ``orders.csv``, including the bad one."""
    bad_line: int
    """1-based physical line of the malformed row in ``orders.csv``."""


def orders_csv(rows: int = 200, seed: int = 7) -> tuple[str, int]:
    """The content of ``orders.csv`` (``rows`` data rows) and the bad row's line number."""
    if rows < 10:
        raise ValueError(f"rows must be >= 10, got {rows}")
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(ORDERS_HEADER)
    bad_index = rows // 2
    line = 2  # the next physical line to be written
    bad_line = 0
    for i in range(rows):
        if i == bad_index:
            bad_line = line
            out.write(f"{1000 + i},2024-01-15,Broken Row,12.50,3,too,many,fields\n")
            line += 1
            continue
        note = _NOTES[rng.randrange(len(_NOTES))]
        if i == 3:
            note = "first line of a note\nsecond line of the same note"
        amount = "" if i % 17 == 5 else f"{rng.uniform(-50, 500):.2f}"
        quantity = "" if i % 23 == 7 else str(rng.randint(1, 40))
        day = 1 + i % 28
        record = (
            str(1000 + i),
            f"2024-01-{day:02d}",
            _CUSTOMERS[rng.randrange(len(_CUSTOMERS))],
            amount,
            quantity,
            note,
        )
        writer.writerow(record)
        line += 1 + sum(field.count("\n") for field in record)
    return out.getvalue(), bad_line


def notes_text(lines: int = 120, seed: int = 7) -> bytes:
    """The content of ``notes.txt``: words from a small vocabulary, one invalid byte."""
    rng = random.Random(seed)
    parts: list[bytes] = [b"Sample notes \xe2\x80\x94 AeroFS Pipelines demo batch\n"]
    for i in range(lines):
        words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 14)))
        parts.append(words.capitalize().encode() + b".\n")
        if i == lines // 2:
            parts.append(
                b"caf\xc3\xa9 na\xc3\xafve r\xc3\xa9sum\xc3\xa9 and one stray byte: \xff\n"
            )
    return b"".join(parts)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_sample_batch(
    landing: str | os.PathLike[str],
    batch_id: str = "sample",
    *,
    rows: int = 200,
    seed: int = 7,
    overwrite: bool = False,
) -> SampleBatch:
    """Write the sample batch under ``landing/batch_id`` (kept as is if already complete)."""
    directory = Path(landing) / batch_id
    csv_text, bad_line = orders_csv(rows, seed)
    orders = directory / "orders.csv"
    notes = directory / "notes.txt"
    marker = directory / "_SUCCESS"
    if overwrite or not marker.exists():
        directory.mkdir(parents=True, exist_ok=True)
        marker.unlink(missing_ok=True)
        _write_atomic(orders, csv_text.encode())
        _write_atomic(notes, notes_text(seed=seed))
        _write_atomic(marker, b"")
    return SampleBatch(directory, (orders, notes), rows, bad_line)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m aerofs_pipelines.sample_data",
        description="Write the deterministic sample batch (orders.csv, notes.txt, _SUCCESS).",
    )
    parser.add_argument("landing", help="landing folder (the batch goes in LANDING/BATCH)")
    parser.add_argument("--batch", default="sample", help="batch id (default: sample)")
    parser.add_argument("--rows", type=int, default=200, help="CSV data rows (default: 200)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--overwrite", action="store_true", help="rewrite a complete batch")
    args = parser.parse_args(argv)
    batch = write_sample_batch(
        args.landing, args.batch, rows=args.rows, seed=args.seed, overwrite=args.overwrite
    )
    print(batch.directory)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
