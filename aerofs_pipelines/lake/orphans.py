"""Removing the files of a lake table that nothing references any more.

A table's folder (``tables/<dataset>/``) collects files no snapshot needs: the data
files of batches a re-run replaced, once the snapshots that held them expired; the
metadata, manifests and manifest lists of writers that lost a commit race or died
before committing; converted files of batches whose publish never happened. Iceberg
leaves them (its expiry rewrites metadata only); :func:`remove_orphan_files` deletes
them, but only those older than :data:`ORPHAN_MIN_AGE`, so a writer that is still on
its way to committing never loses a file it wrote.

A data file written before its table existed is never removed: lakes from before the
tables hold their batches there, unreferenced, and that can be the only copy of the
data. ``aerofs tables adopt`` (``lake.adopt``) brings such batches into the table.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyiceberg.table import Table

from aerofs_pipelines.lake.iceberg import table_created_at_ms
from aerofs_pipelines.lake.layout import parse_table_key
from aerofs_pipelines.lake.storage import Storage, StoredFile

__all__ = [
    "ADOPT_COMMAND",
    "ORPHAN_MIN_AGE",
    "OrphanSweep",
    "TableFiles",
    "referenced_files",
    "remove_orphan_files",
]

ORPHAN_MIN_AGE = dt.timedelta(days=3)
"""Iceberg's own default for orphan removal: far longer than any commit takes, and a
batch whose publish failed keeps its converted files for a retry for as long."""
ADOPT_COMMAND = "aerofs tables adopt"
"""What brings the data files a sweep keeps as older than their table into it."""


@dataclass(frozen=True)
class OrphanSweep:
    """What one sweep of a table's folder found and removed."""

    table: str
    files: int
    """Files in the table's folder."""
    referenced: int
    removed: int
    removed_bytes: int
    kept_young: int
    """Unreferenced files kept because they are younger than the cutoff."""
    kept_pre_table: int = 0
    """Unreferenced data files kept because they were written before the table was
    created: batches of a lake from before the tables (``aerofs tables adopt``)."""


def _path(uri: str) -> str:
    return uri.removeprefix("file://")


def referenced_files(table: Table) -> set[str]:
    """Every file the table's metadata references: its metadata files (current and
    logged), each snapshot's manifest list, every manifest, every data file."""
    io = table.io
    refs = {table.metadata_location, *(e.metadata_file for e in table.metadata.metadata_log)}
    manifests = {}
    for snapshot in table.metadata.snapshots:
        refs.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(io):
            manifests[manifest.manifest_path] = manifest
    refs.update(manifests)
    for manifest in manifests.values():
        for entry in manifest.fetch_manifest_entry(io, discard_deleted=False):
            refs.add(entry.data_file.file_path)
    return {_path(r) for r in refs}


@dataclass(frozen=True)
class TableFiles:
    """What a table's metadata tells of the files in its folder: those it references
    (read in full: a manifest that cannot be read raises), and when it was created."""

    refs: frozenset[str]
    created_s: float

    @classmethod
    def of(cls, table: Table) -> TableFiles:
        return cls(frozenset(referenced_files(table)), table_created_at_ms(table) / 1000)

    def references(self, lake: Storage, key: str) -> bool:
        return _path(lake.uri(key)) in self.refs

    def predates(self, item: StoredFile) -> bool:
        """Whether ``item`` is a data file (``batch=<id>/*.parquet``) last written before
        the table was created: a batch of a lake from before the tables."""
        written = item.modified
        return written is not None and written < self.created_s and bool(parse_table_key(item.key))


def remove_orphan_files(
    table: Table, lake: Storage, folder: str, *, older_than: dt.datetime
) -> OrphanSweep:
    """Delete the files under the lake key ``folder`` (the table's location) that the
    table does not reference and that were last written before ``older_than``, except
    data files (``batch=<id>/*.parquet``) written before the table was created.

    The references are read in full before anything is deleted: a manifest that cannot
    be read raises, and nothing is removed.
    """
    files = TableFiles.of(table)
    cutoff = older_than.timestamp()
    found = lake.list_files(folder)
    removed = removed_bytes = young = pre_table = 0
    for item in found:
        if item.problem or files.references(lake, item.key):
            continue
        if files.predates(item):
            pre_table += 1
            continue
        if item.modified is None or item.modified >= cutoff:
            young += 1
            continue
        lake.delete(item.key)
        removed += 1
        removed_bytes += item.size
    return OrphanSweep(
        table=".".join(table.name()),
        files=len(found),
        referenced=len(found) - removed - young - pre_table,
        removed=removed,
        removed_bytes=removed_bytes,
        kept_young=young,
        kept_pre_table=pre_table,
    )
