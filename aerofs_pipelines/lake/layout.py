"""The lake's layout: every key of the lake is built, and parsed, here.

```
<lake>/manifests/<batch_id>.json                          every file of a batch, its status
<lake>/tables/<dataset>/batch=<batch_id>/<file>.<version>.parquet   a table (the file's stem)
<lake>/tables/<dataset>/metadata/                         its Iceberg table's metadata
<lake>/rejects/<dataset>/batch=<batch_id>/<file>.rejects.parquet   its rejected rows
<lake>/unregistered/tables/<name>/batch=<batch_id>/...     a file no registry pattern matches
<lake>/unregistered/rejects/<name>/batch=<batch_id>/...    (``<name>`` from its stem)
<lake>/text_stats/batch=<batch_id>/<file>.json            a text file's statistics
<lake>/catalog/files.parquet, <lake>/catalog/datasets.json  the cross-batch catalog
<lake>/_dagster/<asset>/<batch_id>.parquet                values passed between assets
```

Batch ids and file names are checked before they get here (``landing.batches``,
``lake.storage.safe_key``). Only the standard library is imported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aerofs_pipelines.lake.storage import Storage

BATCH_COLUMN = "batch_id"
"""The column every table row carries: its batch (the lake tables' identity partition)."""
MANIFESTS = "manifests"
TABLES = "tables"
REJECTS = "rejects"
TEXT_STATS = "text_stats"
UNREGISTERED = "unregistered"
"""The area of tables whose files no registry pattern matches: converted, kept apart from
the datasets' tables, never published to a lake table (``aerofs datasets suggest``)."""
CATALOG_FILES_KEY = "catalog/files.parquet"
CATALOG_DATASETS_KEY = "catalog/datasets.json"
IO_PREFIX = "_dagster"
"""Folder of the lake where the IO manager keeps asset values."""

MAX_OUTPUT_NAME_BYTES = 160
"""Longest lake object name (one segment of an output key) a file may give rise to.

Filesystems cap a name at 255 bytes, and an atomic write first writes a hidden
temporary sibling whose name adds the writer's host, pid and a random suffix."""
MAX_OUTPUT_KEY_BYTES = 800
"""Longest output key: S3 caps a whole key at 1,024 bytes, the lake prefix included."""


def _stem(name: str) -> str:
    return str(PurePosixPath(name).with_suffix(""))


def manifest_key(batch_id: str) -> str:
    """The manifest of a batch."""
    return f"{MANIFESTS}/{batch_id}.json"


def read_manifest(lake: Storage, batch_id: str) -> dict[str, Any]:
    """The manifest document of a batch (``batch.manifest.manifest_document``);
    FileNotFoundError while the batch has none."""
    doc: dict[str, Any] = json.loads(lake.read_bytes(manifest_key(batch_id)))
    return doc


def _area(registered: bool) -> str:
    return "" if registered else f"{UNREGISTERED}/"


def table_key(
    dataset: str,
    batch_id: str,
    name: str,
    version: str | None = None,
    *,
    registered: bool = True,
) -> str:
    """The Parquet table the CSV/TSV file ``name`` of a batch becomes; ``version`` (a
    hash of what it is made of) keeps the files of different inputs apart."""
    stem = f"{_stem(name)}.{version}" if version else _stem(name)
    return f"{_area(registered)}{TABLES}/{dataset}/batch={batch_id}/{stem}.parquet"


def rejects_key(dataset: str, batch_id: str, name: str, *, registered: bool = True) -> str:
    """The rejected rows of the CSV/TSV file ``name`` of a batch."""
    return f"{_area(registered)}{REJECTS}/{dataset}/batch={batch_id}/{_stem(name)}.rejects.parquet"


def text_stats_key(batch_id: str, name: str) -> str:
    """The statistics of the text file ``name`` of a batch."""
    return f"{TEXT_STATS}/batch={batch_id}/{name}.json"


@dataclass(frozen=True)
class TableFile:
    """A table of the lake, as :func:`parse_table_key` reads its key."""

    dataset: str
    batch_id: str
    file: str
    """The path below the batch folder (``<file>.parquet``)."""
    registered: bool = True
    """False in the unregistered area (the dataset is named after the file's stem)."""


def parse_table_key(key: str) -> TableFile | None:
    """The dataset, batch and file of ``[unregistered/]tables/<dataset>/batch=<id>/<file>
    .parquet``; None for any other key (a hidden temporary, another layout)."""
    registered = not key.startswith(f"{UNREGISTERED}/")
    parts = key.removeprefix(_area(registered)).split("/")
    if len(parts) < 4 or parts[0] != TABLES or not parts[2].startswith("batch="):
        return None
    if not parts[-1].endswith(".parquet") or parts[-1].startswith("."):
        return None
    return TableFile(parts[1], parts[2].removeprefix("batch="), "/".join(parts[3:]), registered)


def output_problem(name: str, keys: list[str]) -> str | None:
    """Why the lake objects of file ``name`` (their ``keys``) would have unusable names
    (a segment or a whole key too long for the filesystem or S3), or None."""
    for key in keys:
        longest = max(key.split("/"), key=lambda part: len(part.encode()))
        if len(longest.encode()) > MAX_OUTPUT_NAME_BYTES:
            return (
                f"{name}: file name too long: its lake output {longest[:40]}… would be "
                f"{len(longest.encode())} bytes (at most {MAX_OUTPUT_NAME_BYTES}); rename it"
            )
        if len(key.encode()) > MAX_OUTPUT_KEY_BYTES:
            return (
                f"{name}: path too long: its lake output key would be {len(key.encode())} "
                f"bytes (at most {MAX_OUTPUT_KEY_BYTES}); shorten its folders or name"
            )
    return None
