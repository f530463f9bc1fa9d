"""Prove nothing was lost or duplicated: the lake's outputs against the input files."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pyarrow.parquet as pq

from aerofs_pipelines import kernels
from aerofs_pipelines.lake.storage import Storage


def temp_keys(lake: Storage) -> list[str]:
    """Keys of temporary files of atomic writes (or anything hidden) left in the lake."""
    return [
        f.key
        for f in lake.list_files()
        if ".tmp-" in f.key or any(p.startswith(".") for p in f.key.split("/"))
    ]


def assert_lake_matches(lake: Storage, batch_id: str, sources: Mapping[str, Path]) -> None:
    """The batch's manifest, tables and text statistics are exactly those of ``sources``.

    ``sources`` maps each file name of the batch to its input (clean CSVs and text
    files). Every file is in the manifest as processed with the input's digest; each
    table has the input's rows, once, in order (content equal to the CSV parsed again);
    each text file's statistics equal the kernel's on the input; no temp file remains.
    """
    manifest = json.loads(lake.read_bytes(f"manifests/{batch_id}.json"))
    files = {f["name"]: f for f in manifest["files"]}
    assert set(files) == {*sources, "_SUCCESS"}, sorted(files)
    assert manifest["counts"] == {"processed": len(sources), "quarantined": 0, "skipped": 1}
    for name, src in sources.items():
        entry = files[name]
        assert entry["status"] == "processed", entry
        assert entry["digest"] == kernels.digest(src), name
        if entry["kind"] == "table":
            with lake.local_path(entry["output"]) as path:
                table = pq.read_table(path)
            assert set(table.column("batch_id").to_pylist()) <= {batch_id}, name
            table = table.drop_columns(["batch_id"])
            expected = kernels.read_csv(src, schema=table.schema).read_all()
            assert table.num_rows == expected.num_rows, name
            assert table.equals(expected), f"{name}: content differs from the input"
        else:
            stats = json.loads(lake.read_bytes(entry["output"]))
            expected_stats = kernels.analyze_text(src, top_k=20)
            assert {k: stats[k] for k in expected_stats} == expected_stats, name
            assert stats["digest"] == entry["digest"]
    assert temp_keys(lake) == []
