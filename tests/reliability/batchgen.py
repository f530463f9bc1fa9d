"""Seeded small batches (CSV + text) and the checks that every output matches its input.

:func:`make_batches` writes ``n`` source batches under a folder: each one or two CSV tables
(``events.csv``, sometimes ``refunds.csv``; ids unique across all batches) and one or two
text files, a few KB each. :func:`land` puts them in the landing zone the way
``aerofs ingest`` does (files, then ``_SUCCESS`` with its file list, then the journal).

:func:`verify_batch` checks one processed batch against its source, independently of the
pipeline's code: every CSV row is in its Parquet table exactly once (the sorted rows are
equal), every text file has its statistics (lines and words counted here), and the
manifest lists every file with its content digest. It returns one line per output, so a
caller can also check nothing else was written.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from aerofs_pipelines import kernels
from aerofs_pipelines.lake.storage import Storage
from aerofs_pipelines.landing.ingest import ingest

WORDS = [
    *("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india"),
    *("juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo"),
    *("sierra", "tango", "uniform", "victor", "whiskey", "xray", "yankee", "zulu"),
]
LABELS = ("north", "south", "east", "west", "Zoë", 'quote "q"', "comma, inside")
TABLES = {"events.csv": "events", "refunds.csv": "refunds"}


@dataclass
class SourceBatch:
    """One generated batch: its id, folder and what its files contain."""

    batch_id: str
    folder: Path
    rows: dict[str, list[tuple[int, str, float]]] = field(default_factory=dict)
    """CSV file → (id, label, amount) rows."""
    texts: dict[str, str] = field(default_factory=dict)
    """Text file → its content."""

    @property
    def files(self) -> list[str]:
        return sorted([*self.rows, *self.texts])


def _csv_field(value: str) -> str:
    if any(c in value for c in ',"\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def make_batch(root: Path, batch_id: str, index: int, seed: int = 7) -> SourceBatch:
    """One batch: 1-2 CSV tables (20-60 rows) and 1-2 text files, seeded by ``index``."""
    rng = random.Random(seed * 1_000_003 + index)
    folder = root / batch_id
    folder.mkdir(parents=True)
    batch = SourceBatch(batch_id, folder)
    names = ["events.csv"] + (["refunds.csv"] if index % 3 == 0 else [])
    for t, name in enumerate(names):
        first = (index * 4 + t) * 1000
        rows = [
            (first + i, rng.choice(LABELS), round(rng.uniform(-500, 5000), 2))
            for i in range(rng.randint(20, 60))
        ]
        lines = ["id,label,amount"]
        lines += [f"{i},{_csv_field(label)},{amount:.2f}" for i, label, amount in rows]
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        batch.rows[name] = rows
    for t in range(1 + index % 2):
        name = f"notes-{t}.txt"
        text = "".join(
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))) + "\n"
            for _ in range(rng.randint(10, 40))
        )
        (folder / name).write_text(text, encoding="utf-8")
        batch.texts[name] = text
    return batch


def make_batches(root: Path, ids: list[str], seed: int = 7) -> list[SourceBatch]:
    return [make_batch(root, batch_id, i, seed) for i, batch_id in enumerate(ids)]


def land(batch: SourceBatch, landing: str) -> None:
    """Land ``batch`` as ``aerofs ingest`` does (marker with its file list, journal)."""
    ingest([str(batch.folder)], batch.batch_id, landing)


def verify_batch(lake: Storage, batch: SourceBatch) -> list[str]:
    """Assert every output of ``batch`` matches its source; the lake keys checked."""
    b = batch.batch_id
    manifest = json.loads(lake.read_bytes(f"manifests/{b}.json"))
    by_name = {f["name"]: f for f in manifest["files"]}
    assert sorted(by_name) == sorted([*batch.files, "_SUCCESS"]), (b, sorted(by_name))
    for name in batch.files:
        entry = by_name[name]
        assert entry["status"] == "processed", (b, entry)
        assert entry["digest"] == kernels.digest(batch.folder / name), (b, name)
    keys = [f"manifests/{b}.json"]
    for name, rows in batch.rows.items():
        key = by_name[name]["output"]
        # no registry pattern claims them: the lake's unregistered area
        assert key.startswith(f"unregistered/tables/{TABLES[name]}/batch={b}/{Path(name).stem}."), (
            key
        )
        with lake.local_path(key) as path:
            table = pq.read_table(path)
        got = sorted(
            (int(r["id"]), str(r["label"]), round(float(r["amount"]), 2)) for r in table.to_pylist()
        )
        assert got == sorted(rows), f"{b}/{name}: rows differ from the input"
        assert not lake.exists(
            f"unregistered/rejects/{TABLES[name]}/batch={b}/{Path(name).stem}.rejects.parquet"
        )
        keys.append(key)
    for name, text in batch.texts.items():
        key = f"text_stats/batch={b}/{name}.json"
        stats = json.loads(lake.read_bytes(key))
        assert stats["lines"] == text.count("\n"), (b, name)
        assert stats["words"] == len(re.findall(r"\w+", text)), (b, name)
        assert stats["digest"] == by_name[name]["digest"], (b, name)
        keys.append(key)
    return keys


def lake_outputs(lake: Path) -> list[str]:
    """Every per-batch output file in a local lake (manifests, tables, rejects, stats)."""
    out = []
    for top in ("manifests", "tables", "rejects", "unregistered", "text_stats"):
        base = lake / top
        if base.is_dir():
            out += [
                p.relative_to(lake).as_posix()
                for p in base.rglob("*")
                if p.is_file() and "metadata" not in p.relative_to(base).parts  # Iceberg's
            ]
    return sorted(out)
