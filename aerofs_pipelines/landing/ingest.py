"""Ingest local files into the landing zone as one complete batch.

Files are copied one by one (each atomically), then ``_SUCCESS`` is written last: the
sensor only ever sees complete batches. The marker lists every file with its size and
digest (:func:`aerofs_pipelines.landing.batches.marker_document`), which pins the batch: a file
added or changed afterwards is not merged into it (the manifest says so).

A batch id is landed once: an id that is already complete is refused, and so is an id
another ``aerofs ingest`` is landing right now (local landing zones: an advisory lock on
the batch folder, released by the kernel if that process dies; S3: a lease object created
with a conditional write, see :func:`_s3_lease`). The leftovers of an interrupted ingest of
the same id are cleared first.

Only the standard library is imported at module level.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aerofs_pipelines.lake.storage import Storage

__all__ = [
    "BatchExistsError",
    "BatchInFlightError",
    "IngestResult",
    "announce_batch",
    "batch_lock",
    "collect_files",
    "ingest",
]


class BatchExistsError(ValueError):
    """The batch id is already complete in the landing zone."""


class BatchInFlightError(BatchExistsError):
    """Another ``aerofs ingest`` is landing the same batch id right now."""


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
    from aerofs_pipelines.lake.storage import safe_key
    from aerofs_pipelines.landing.batches import SUCCESS_MARKER

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
                for entry in [*dirnames, *sorted(filenames)]:
                    src = Path(dirpath) / entry
                    if src.is_symlink():  # never follow a link out of the folder given
                        raise ValueError(f"{src}: a symbolic link; give its target instead")
                    if entry in dirnames:
                        continue
                    if not stat.S_ISREG(src.lstat().st_mode):
                        raise ValueError(f"{src}: not a regular file")
                    if entry == SUCCESS_MARKER and Path(dirpath) == path:
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
    from aerofs_pipelines import config
    from aerofs_pipelines.kernels import digest
    from aerofs_pipelines.lake.storage import Storage, open_storage
    from aerofs_pipelines.landing.batches import SUCCESS_MARKER, check_batch_id, marker_document

    check_batch_id(batch_id)
    store = (
        landing if isinstance(landing, Storage) else open_storage(landing or config.landing_url())
    )
    _refuse_complete(store, batch_id)
    files = collect_files(paths)
    with batch_lock(store, batch_id):
        _refuse_complete(store, batch_id)  # another ingest may have completed it meanwhile
        _refuse_uploading(store, batch_id)
        leftovers = store.list_files(batch_id)
        for item in leftovers:
            store.delete(item.key)
        copied: list[tuple[str, int]] = []
        listed: list[tuple[str, int, str]] = []
        for src, name in files:
            size, hexdigest = src.stat().st_size, digest(src)
            store.put_file(src, f"{batch_id}/{name}")
            copied.append((name, size))
            listed.append((name, size, hexdigest))
        store.write_bytes(f"{batch_id}/{SUCCESS_MARKER}", marker_document(batch_id, listed))
        announce_batch(store, batch_id)
    return IngestResult(batch_id, store.uri(), copied, len(leftovers))


def _refuse_complete(store: Storage, batch_id: str) -> None:
    from aerofs_pipelines.landing.batches import SUCCESS_MARKER

    if store.exists(f"{batch_id}/{SUCCESS_MARKER}"):
        raise BatchExistsError(
            f"batch {batch_id!r} is already complete in {store.uri()}; choose a new batch id"
        )


def _refuse_uploading(store: Storage, batch_id: str) -> None:
    """An HTTP upload of the id is under way: its files are not an interrupted ingest's."""
    from aerofs_pipelines import config
    from aerofs_pipelines.landing.uploads import BatchUploads

    if BatchUploads(store, max_bytes=config.max_upload_bytes()).claimed(batch_id):
        raise BatchInFlightError(
            f"batch {batch_id!r} is being uploaded over HTTP right now; choose a new batch id"
        )


@contextlib.contextmanager
def batch_lock(store: Storage, batch_id: str) -> Iterator[None]:
    """Hold an exclusive, non-blocking lock on a local batch folder while landing it.

    ``flock`` on the folder itself: no lock file to go stale, the kernel drops the lock
    when the holder exits or is killed. S3 has no such lock: there :func:`_s3_lease`.
    """
    if not store.is_local:
        with _s3_lease(store, batch_id):
            yield
        return
    import fcntl

    folder = Path(store.uri(batch_id))
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BatchInFlightError(
                f"batch {batch_id!r} is being ingested by another process right now; "
                "choose a new batch id"
            ) from None
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def _s3_lease(store: Storage, batch_id: str) -> Iterator[None]:
    """Hold ``<landing>/_aerofs/ingest-locks/<batch_id>`` while landing a batch on S3.

    Created with ``If-None-Match: *``: of two ingests of one id, S3 lets exactly one
    create it; the other is refused. Deleted when the ingest ends. A lease older than
    ``AEROFS_INGEST_LEASE_SECONDS`` (1 h) was left by an ingest that died: it is taken
    over with ``If-Match`` on its ETag, so two ingests reviving it cannot both win.
    """
    import datetime as dt
    import json

    from aerofs_pipelines import config
    from aerofs_pipelines.lake.storage import S3Storage, owner_tag
    from aerofs_pipelines.landing.scan import RESERVED_DIR

    assert isinstance(store, S3Storage)
    key = f"{RESERVED_DIR}/ingest-locks/{batch_id}"
    now = dt.datetime.now(dt.UTC)
    lease = {"batch_id": batch_id, "owner": owner_tag(), "started": now.isoformat()}
    body = json.dumps(lease).encode()
    held = store.write_if(key, body)
    if not held:
        current = store.head(key)
        if current is None:  # released meanwhile: one more try
            held = store.write_if(key, body)
        else:
            etag, modified = current
            age = (now - modified).total_seconds()
            if age >= config.ingest_lease_seconds():
                held = store.write_if(key, body, etag=etag)
        if not held:
            raise BatchInFlightError(
                f"batch {batch_id!r} is being ingested by another process right now "
                f"(lease {store.uri(key)}); choose a new batch id, or wait: a lease left "
                "by a writer that died is taken over after AEROFS_INGEST_LEASE_SECONDS "
                f"({config.ingest_lease_seconds():g} s)"
            )
    try:
        yield
    finally:
        store.delete(key)


def announce_batch(store: Storage, batch_id: str) -> None:
    """Tell the landing sensor about the new batch: its journal locally, an event object
    on S3 (:func:`aerofs_pipelines.landing.scan.record_ready`)."""
    from aerofs_pipelines.landing.scan import record_ready

    record_ready(store.url, batch_id)
