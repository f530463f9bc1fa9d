"""Seeded, mostly incompressible CSV tables large enough to catch a run mid-write."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

PAYLOAD_CHARS = 80


def write_big_csv(path: Path, rows: int, *, seed: int = 20240501, chunk: int = 250_000) -> int:
    """Write ``rows`` rows of ``id,amount,payload`` (random base64 payloads: the Parquet
    stays large); returns the file size. Same seed and rows, same bytes."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        writer = None
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            raw = rng.bytes(n * PAYLOAD_CHARS * 3 // 4)
            text = np.frombuffer(base64.b64encode(raw), dtype=f"S{PAYLOAD_CHARS}")
            table = pa.table(
                {
                    "id": pa.array(np.arange(start + 1, start + n + 1, dtype=np.int64)),
                    "amount": pa.array(np.round(rng.random(n) * 10_000, 2)),
                    "payload": pa.array(text.astype(object)).cast(pa.string()),
                }
            )
            if writer is None:
                writer = pacsv.CSVWriter(out, table.schema)
            writer.write_table(table)
        if writer is not None:
            writer.close()
    return path.stat().st_size
