"""Landing a batch file by file, from pieces that arrive over the network (HTTP ingest).

The same batch contract as ``aerofs ingest`` (:mod:`.ingest`), spread over requests:

1. each file streams in (:meth:`BatchUploads.begin` → :class:`FileUpload`): hashed
   (BLAKE3) on the way, held where no reader sees it (a staged file locally, a multipart
   upload on S3), published at ``<batch>/<name>`` only when whole and, if the client sent
   one, its digest matched. It never replaces a file: the same name with the same content
   again is accepted as a repeat, other content is refused (:class:`ContentConflict`);
2. :meth:`BatchUploads.complete` writes ``_SUCCESS`` listing every file with size and
   digest, exactly as ``aerofs ingest`` does, and tells the sensor; from then on the batch
   takes no file (:class:`BatchComplete`).

The first upload claims the batch for its *owner* (the client's upload id, else the
user): another owner is refused (:class:`BatchClaimed`) until the batch completes or its
upload is abandoned, so two racing clients never merge. A claim, each file's size and
digest, and local staged files live under ``_aerofs/uploads/`` (the reserved prefix the
sensor ignores). An upload left incomplete for ``AEROFS_UPLOAD_EXPIRY_HOURS`` is removed
by :func:`remove_abandoned` (run by ``lake_maintenance``), S3's unfinished multipart
uploads with it.

Storage calls block: callers on an event loop run these in a worker thread.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aerofs_pipelines.kernels import Blake3
from aerofs_pipelines.lake.storage import NewObject, S3Storage, Storage, StoredFile
from aerofs_pipelines.landing.batches import (
    SUCCESS_MARKER,
    check_batch_id,
    is_valid_batch_id,
    marker_document,
    parse_marker,
)
from aerofs_pipelines.landing.scan import RESERVED_DIR

__all__ = [
    "BatchClaimed",
    "BatchComplete",
    "BatchUploads",
    "CompletedBatch",
    "ContentConflict",
    "DigestMismatch",
    "FileListMismatch",
    "FileUpload",
    "InvalidName",
    "LandingState",
    "NothingUploaded",
    "Removed",
    "UploadError",
    "UploadTooLarge",
    "UploadedFile",
    "remove_abandoned",
]

UPLOADS_DIR = f"{RESERVED_DIR}/uploads"
STAGING_DIR = f"{UPLOADS_DIR}/.staging"
CLAIM = "claim.json"


class UploadError(ValueError):
    """An upload or completion refused; ``code`` names the reason for API clients."""

    code = "UPLOAD_REFUSED"


class InvalidName(UploadError):
    code = "INVALID_NAME"


class UploadTooLarge(UploadError):
    code = "PAYLOAD_TOO_LARGE"


class DigestMismatch(UploadError):
    code = "DIGEST_MISMATCH"


class BatchComplete(UploadError):
    code = "BATCH_COMPLETE"


class BatchClaimed(UploadError):
    code = "BATCH_IN_FLIGHT"


class ContentConflict(UploadError):
    code = "CONTENT_CONFLICT"


class NothingUploaded(UploadError):
    code = "NOTHING_UPLOADED"


class FileListMismatch(UploadError):
    code = "FILE_LIST_MISMATCH"


def check_file_name(name: str) -> str:
    """``name`` unchanged, or :class:`InvalidName`: file names follow the batch id rule
    (one path segment, no ``..``, nothing hidden or reserved like ``_SUCCESS``)."""
    if not is_valid_batch_id(name):
        raise InvalidName(
            f"invalid file name {name!r}: letters, digits, '.', '_', '-', first a letter or "
            "digit, at most 128 (the batch id rule; no folders)"
        )
    return name


@dataclass(frozen=True)
class UploadedFile:
    """A file of a batch as an upload left it."""

    batch_id: str
    name: str
    size: int
    digest: str
    created: bool
    """False: the batch already held this name with this content (a repeat)."""


@dataclass(frozen=True)
class CompletedBatch:
    batch_id: str
    files: list[tuple[str, int, str]]
    """(name, size, digest) of every file, sorted by name, as the marker lists them."""
    digest: str
    created: bool
    """False: the batch was already complete with exactly these files."""


@dataclass(frozen=True)
class LandingState:
    """What the landing zone holds of a batch."""

    batch_id: str
    state: Literal["absent", "uploading", "landed"]
    files: list[tuple[str, int, str | None]] = field(default_factory=list)
    """(name, size, digest if known) of each file, sorted by name."""
    owner: str | None = None
    started: str | None = None
    """When the upload was claimed (ISO 8601), while uploading."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class FileUpload:
    """One file streaming into a batch: :meth:`write` pieces, then :meth:`finish` (or
    :meth:`abort`; used as a context manager it aborts unless finished)."""

    def __init__(
        self, uploads: BatchUploads, batch_id: str, name: str, target: NewObject, limit: int
    ) -> None:
        self.uploads, self.batch_id, self.name = uploads, batch_id, name
        self.target, self.limit = target, limit
        self.hasher = Blake3()
        self.done = False

    @property
    def size(self) -> int:
        return int(self.hasher.length)

    def write(self, data: bytes) -> None:
        if self.size + len(data) > self.limit:
            self.abort()
            raise UploadTooLarge(
                f"{self.name}: larger than AEROFS_MAX_UPLOAD_BYTES ({self.limit:,} bytes)"
            )
        self.hasher.update(data)
        self.target.write(data)

    def finish(self, expected_digest: str | None = None) -> UploadedFile:
        """Publish the file (nothing is kept when it fails)."""
        digest = self.hasher.hexdigest()
        self.done = True
        if expected_digest is not None and expected_digest.lower() != digest:
            self.target.abort()
            raise DigestMismatch(
                f"{self.name}: content digest is blake3 {digest}, the client expected "
                f"{expected_digest.lower()}; nothing was kept"
            )
        store, key = self.uploads.store, f"{self.batch_id}/{self.name}"
        if store.exists(f"{self.batch_id}/{SUCCESS_MARKER}"):
            self.target.abort()
            raise self.uploads.complete_error(self.batch_id)
        if not self.target.commit():
            existing = self.uploads.digest_of(self.batch_id, self.name)
            if existing != digest:
                raise ContentConflict(
                    f"{self.name}: batch {self.batch_id!r} already holds this name with other "
                    f"content (blake3 {existing}); upload it under another name"
                )
            return UploadedFile(self.batch_id, self.name, self.size, digest, created=False)
        self.uploads.record(self.batch_id, self.name, self.size, digest)
        marker = self.uploads.read_marker(self.batch_id)
        if marker is not None and self.name not in marker:  # completed meanwhile
            store.delete(key)
            raise self.uploads.complete_error(self.batch_id)
        return UploadedFile(self.batch_id, self.name, self.size, digest, created=True)

    def abort(self) -> None:
        self.done = True
        self.target.abort()

    def __enter__(self) -> FileUpload:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.done:
            self.abort()


class BatchUploads:
    """Uploads into one landing zone."""

    def __init__(self, store: Storage, *, max_bytes: int) -> None:
        self.store = store
        self.max_bytes = max_bytes

    # ---------------------------------------------------------------- records

    def _claim_key(self, batch_id: str) -> str:
        return f"{UPLOADS_DIR}/{batch_id}/{CLAIM}"

    def _record_key(self, batch_id: str, name: str) -> str:
        return f"{UPLOADS_DIR}/{batch_id}/files/{name}.json"

    def read_marker(self, batch_id: str) -> Mapping[str, tuple[int, str]] | None:
        """The files the batch's ``_SUCCESS`` lists (``{}`` for a marker listing none,
        such as another tool's empty one); None while the batch is not complete."""
        try:
            data = self.store.read_bytes(f"{batch_id}/{SUCCESS_MARKER}")
        except FileNotFoundError:
            return None
        return parse_marker(data) or {}

    def complete_error(self, batch_id: str) -> BatchComplete:
        return BatchComplete(
            f"batch {batch_id!r} is complete: it takes no more files; land them as a new batch"
        )

    def _claim(self, batch_id: str, owner: str) -> None:
        """Claim the batch for ``owner``, or :class:`BatchClaimed`."""
        key = self._claim_key(batch_id)
        body = json.dumps({"owner": owner, "started": _now().isoformat()}).encode()
        if _create(self.store, key, body):
            return
        current = self._read_json(key)
        holder = current.get("owner") if current else None
        if holder is None:  # released meanwhile (completed, or removed as abandoned)
            if _create(self.store, key, body):
                return
            current = self._read_json(key)
            holder = current.get("owner") if current else None
        if holder != owner:
            raise BatchClaimed(
                f"batch {batch_id!r} is being uploaded by another client (since "
                f"{(current or {}).get('started', '?')}); choose a new batch id"
            )

    def _read_json(self, key: str) -> dict[str, Any] | None:
        try:
            doc = json.loads(self.store.read_bytes(key))
        except (FileNotFoundError, ValueError):
            return None
        return doc if isinstance(doc, dict) else None

    def record(self, batch_id: str, name: str, size: int, digest: str) -> None:
        """Remember an uploaded file's size and digest (the marker lists them)."""
        body = json.dumps({"size": size, "digest": digest}).encode()
        self.store.write_bytes(self._record_key(batch_id, name), body)

    def digest_of(self, batch_id: str, name: str, size: int | None = None) -> str:
        """The digest of a batch's file: recorded at upload, else computed."""
        doc = self._read_json(self._record_key(batch_id, name))
        if doc is not None and (size is None or doc.get("size") == size):
            return str(doc["digest"])
        from aerofs_pipelines.kernels import digest

        with self.store.local_path(f"{batch_id}/{name}") as path:
            return digest(path)

    def _files(self, batch_id: str) -> list[StoredFile]:
        return [
            f
            for f in self.store.list_files(batch_id)
            if f.key != f"{batch_id}/{SUCCESS_MARKER}" and f.problem is None
        ]

    # ---------------------------------------------------------------- uploads

    def begin(self, batch_id: str, name: str, owner: str) -> FileUpload:
        """Start streaming ``name`` into ``batch_id`` for ``owner`` (claims the batch)."""
        check_batch_id(batch_id)
        check_file_name(name)
        if self.read_marker(batch_id) is not None:
            raise self.complete_error(batch_id)
        self._claim(batch_id, owner)
        target = self.store.create_new(f"{batch_id}/{name}", staging=STAGING_DIR)
        return FileUpload(self, batch_id, name, target, self.max_bytes)

    def complete(
        self, batch_id: str, owner: str, expected: Mapping[str, str] | None = None
    ) -> CompletedBatch:
        """Write the batch's ``_SUCCESS`` (once) and announce it.

        ``expected`` (name → digest), when given, must be exactly what the batch holds.
        A batch already complete with the same files is a repeat (``created`` False);
        with other files, :class:`BatchComplete`.
        """
        from aerofs_pipelines.landing.batches import batch_digest
        from aerofs_pipelines.landing.ingest import announce_batch, batch_lock

        check_batch_id(batch_id)
        with batch_lock(self.store, batch_id):
            marker = self.read_marker(batch_id)
            if marker is not None:
                listed = sorted((n, s, d) for n, (s, d) in marker.items())
                if expected is None or dict(expected) == {n: d for n, _, d in listed}:
                    digest = batch_digest((n, d) for n, _, d in listed)
                    return CompletedBatch(batch_id, listed, digest, created=False)
                raise BatchComplete(
                    f"batch {batch_id!r} is already complete with other files; choose a new "
                    "batch id"
                )
            claim = self._read_json(self._claim_key(batch_id))
            if claim is None:  # files, if any, are not an upload's (an interrupted ingest)
                raise NothingUploaded(f"batch {batch_id!r} has no upload under way to complete")
            if claim.get("owner") != owner:
                raise BatchClaimed(
                    f"batch {batch_id!r} is being uploaded by another client; it completes it"
                )
            stored = self._files(batch_id)
            if not stored:
                raise NothingUploaded(f"batch {batch_id!r} has no uploaded file to complete")
            prefix = len(batch_id) + 1
            files = sorted(
                (f.key[prefix:], f.size, self.digest_of(batch_id, f.key[prefix:], f.size))
                for f in stored
            )
            if expected is not None and dict(expected) != {n: d for n, _, d in files}:
                held = {n: d for n, _, d in files}
                missing = sorted(set(expected) - set(held))
                extra = sorted(set(held) - set(expected))
                differ = sorted(n for n in set(held) & set(expected) if held[n] != expected[n])
                raise FileListMismatch(
                    f"batch {batch_id!r} holds other files than the client expects "
                    f"(missing: {missing or 'none'}; not expected: {extra or 'none'}; other "
                    f"content: {differ or 'none'}); nothing was completed"
                )
            self.store.write_bytes(f"{batch_id}/{SUCCESS_MARKER}", marker_document(batch_id, files))
            announce_batch(self.store, batch_id)
            self._release(batch_id)
        return CompletedBatch(batch_id, files, batch_digest((n, d) for n, _, d in files), True)

    def _release(self, batch_id: str) -> None:
        _remove_records(self.store, batch_id)

    def claimed(self, batch_id: str) -> bool:
        """Whether an HTTP upload of ``batch_id`` is under way (claimed, incomplete)."""
        return self.store.exists(self._claim_key(batch_id))

    def state(self, batch_id: str) -> LandingState:
        """What the landing zone holds of ``batch_id``."""
        check_batch_id(batch_id)
        marker = self.read_marker(batch_id)
        prefix = len(batch_id) + 1
        if marker:
            files = sorted((n, s, d) for n, (s, d) in marker.items())
            return LandingState(batch_id, "landed", list(files))
        stored = self._files(batch_id)
        if marker is not None:  # another tool's marker: the batch is what is there
            return LandingState(
                batch_id, "landed", [(f.key[prefix:], f.size, None) for f in stored]
            )
        claim = self._read_json(self._claim_key(batch_id))
        if not stored and claim is None:
            return LandingState(batch_id, "absent")
        listed: list[tuple[str, int, str | None]] = []
        for f in stored:
            doc = self._read_json(self._record_key(batch_id, f.key[prefix:]))
            listed.append((f.key[prefix:], f.size, str(doc["digest"]) if doc else None))
        return LandingState(
            batch_id,
            "uploading",
            listed,
            owner=(claim or {}).get("owner"),
            started=(claim or {}).get("started"),
        )


def _create(store: Storage, key: str, body: bytes) -> bool:
    """Create ``key`` unless it exists (atomically); False when it did."""
    if isinstance(store, S3Storage):
        return store.write_if(key, body)
    with store.create_new(key, staging=STAGING_DIR) as new:
        new.write(body)
        return new.commit()


def _remove_records(store: Storage, batch_id: str) -> None:
    """Remove a batch's claim and file records (and, locally, their folders)."""
    folder = f"{UPLOADS_DIR}/{batch_id}"
    for f in store.list_files(folder):
        store.delete(f.key)
    if store.is_local:
        import shutil

        shutil.rmtree(store.uri(folder), ignore_errors=True)


@dataclass(frozen=True)
class Removed:
    """What :func:`remove_abandoned` removed."""

    batches: list[str]
    files: int
    staged: int
    multipart: int


def remove_abandoned(
    store: Storage, *, older_than: dt.timedelta, now: dt.datetime | None = None
) -> Removed:
    """Remove the uploads nobody touched for ``older_than``: an incomplete batch's files
    and records, staged files of writers that died, S3's unfinished multipart uploads.

    A batch counts as touched by its newest file or record. A completed batch's leftover
    records (a writer that died right after the marker) go, its files stay.
    """
    now = now or _now()
    cutoff = (now - older_than).timestamp()
    batches: list[str] = []
    removed_files = staged = 0
    for batch_id in store.list_dirs(UPLOADS_DIR):
        if batch_id.startswith("."):
            continue
        records = store.list_files(f"{UPLOADS_DIR}/{batch_id}")
        complete = store.exists(f"{batch_id}/{SUCCESS_MARKER}")
        files = [] if complete else store.list_files(batch_id)
        newest = max((f.modified or now.timestamp() for f in [*records, *files]), default=0.0)
        if newest >= cutoff and not complete:
            continue
        for f in files:
            store.delete(f.key)
            removed_files += 1
        if files and store.is_local:
            import contextlib
            import os

            with contextlib.suppress(OSError):  # not empty: something else landed there
                os.rmdir(store.uri(batch_id))
        _remove_records(store, batch_id)
        if not complete:
            batches.append(batch_id)
    for f in store.list_files(STAGING_DIR):
        if (f.modified or now.timestamp()) < cutoff:
            store.delete(f.key)
            staged += 1
    multipart = 0
    if isinstance(store, S3Storage):
        multipart = store.abort_multipart_uploads("", older_than=now - older_than)
    return Removed(sorted(batches), removed_files, staged, multipart)
