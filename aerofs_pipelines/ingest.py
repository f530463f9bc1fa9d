"""Ingest local files into the landing zone as one complete batch.

Files are copied one by one (each atomically), then ``_SUCCESS`` is written last: the
sensor only ever sees complete batches. A batch id that is already complete is refused;
the leftovers of an interrupted ingest of the same id are cleared first.

Only the standard library is imported at module level.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aerofs_pipelines.storage import Storage

__all__ = ["BatchExistsError", "IngestResult", "collect_files", "ingest"]


class BatchExistsError(ValueError):
    """The batch id is already complete in the landing zone."""


@dataclass(frozen=True)
class IngestResult:
    """What was ingested where."""

    batch_id: str
    landing: str
    files: list[tuple[str, int]] = field(default_factory=list)
    """(name inside the batch, size) pairs, sorted by name."""
    cleared: int = 0
    """Leftover files of an interrupted ingest that were removed first."""

    @property
    def bytes(self) -> int:
        return sum(size for _, size in self.files)


def collect_files(paths: list[str]) -> list[tuple[Path, str]]:
    """(source, name inside the batch) for each file; folders contribute their files.

    A file keeps its base name; a folder's files keep their path below the folder (a
    ``_SUCCESS`` marker at a folder's top is left out: re-ingesting a batch folder works).
    Raises FileNotFoundError for a missing path and ValueError for clashing names.
    """
    from aerofs_pipelines.batches import SUCCESS_MARKER
    from aerofs_pipelines.storage import safe_key

    found: dict[str, Path] = {}

    def add(src: Path, name: str) -> None:
        name = safe_key(name)
        if name == SUCCESS_MARKER:
            raise ValueError(f"{src}: {SUCCESS_MARKER} is reserved for the batch marker")
        if name in found:
            raise ValueError(f"{src} and {found[name]} would both be {name!r} in the batch")
        found[name] = src

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames.sort()
                for fname in sorted(filenames):
                    src = Path(dirpath) / fname
                    if fname == SUCCESS_MARKER and Path(dirpath) == path:
                        continue  # a landed batch's own marker, not data
                    add(src, src.relative_to(path).as_posix())
        elif path.is_file():
            add(path, path.name)
        elif path.exists():
            raise ValueError(f"{path}: not a regular file or folder")
        else:
            raise FileNotFoundError(2, "No such file or directory", str(path))
    if not found:
        raise ValueError("nothing to ingest: no files in the given paths")
    return sorted(((src, name) for name, src in found.items()), key=lambda t: t[1])


def ingest(paths: list[str], batch_id: str, landing: Storage | str | None = None) -> IngestResult:
    """Copy ``paths`` into ``<landing>/<batch_id>/`` and write ``_SUCCESS`` last."""
    from aerofs_pipelines import settings
    from aerofs_pipelines.batches import SUCCESS_MARKER, check_batch_id
    from aerofs_pipelines.storage import Storage, open_storage

    check_batch_id(batch_id)
    store = (
        landing if isinstance(landing, Storage) else open_storage(landing or settings.landing_url())
    )
    if store.exists(f"{batch_id}/{SUCCESS_MARKER}"):
        raise BatchExistsError(
            f"batch {batch_id!r} is already complete in {store.uri()}; choose a new batch id"
        )
    files = collect_files(paths)
    leftovers = store.list_files(batch_id)
    for item in leftovers:
        store.delete(item.key)
    copied: list[tuple[str, int]] = []
    for src, name in files:
        store.put_file(src, f"{batch_id}/{name}")
        copied.append((name, src.stat().st_size))
    store.write_bytes(f"{batch_id}/{SUCCESS_MARKER}", b"")
    _announce(store, batch_id)
    return IngestResult(batch_id, store.uri(), copied, len(leftovers))


def _announce(store: Storage, batch_id: str) -> None:
    """Tell the landing sensor's journal about the new batch (local landing zones)."""
    if not store.is_local:
        return
    from aerofs_pipelines.landing_scan import record_ready

    record_ready(store.url, batch_id)
