"""One storage interface over a local folder or ``s3://bucket/prefix``.

Keys are relative, ``/``-separated paths under the storage root. Every key is checked
before use (:func:`safe_key`): no absolute paths, no ``.``/``..`` or empty segments, no
NUL or backslash, so nothing is ever read or written outside the root. Locally, a
symbolic link that resolves outside the root is refused on read and flagged in listings.

Writes are atomic: locally a temporary file in the target folder, fsynced, then
``os.replace``; on S3 one ``PutObject`` or a multipart upload that is completed only when
every part is in (boto3's transfer manager aborts it otherwise), so a reader never sees a
half-written object. S3 goes through boto3 (not pyarrow's S3 filesystem, whose output
streams cannot be aborted: closing one after an error would publish a partial object).
``AWS_ENDPOINT_URL`` (or the ``endpoint_url`` argument) points it at S3-compatible stores.

This module imports only the standard library at module level (boto3 lazily), so the
``aerofs ingest`` command stays light.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import socket
import stat
import tempfile
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "LocalStorage",
    "NewObject",
    "S3Storage",
    "Storage",
    "StoredFile",
    "UnsafePathError",
    "atomic_target",
    "aws_client",
    "open_storage",
    "owner_tag",
    "safe_key",
    "scratch_dir",
    "sweep_stale_temps",
    "sync_local_files",
    "temp_path_for",
]

MULTIPART_THRESHOLD = 64 * 1024 * 1024
"""Files at least this large go up as multipart uploads (parts of this size)."""
STREAM_PART_BYTES = 8 * 1024 * 1024
"""Part size of a streamed write to S3 (:meth:`Storage.create_new`): what it buffers."""


class UnsafePathError(ValueError):
    """A key or link that would reach outside the storage root."""


@dataclass(frozen=True)
class StoredFile:
    """One file (object) found by :meth:`Storage.list_files`."""

    key: str
    """Path relative to the listed prefix's root (the storage root)."""
    size: int
    problem: str | None = None
    """Why this entry cannot be read safely (e.g. a symlink out of the root), if so."""
    modified: float | None = None
    """When it was last written (seconds since the epoch), where the listing says."""


def safe_key(key: str, *, allow_empty: bool = False) -> str:
    """Return ``key`` normalised (no trailing ``/``), or raise UnsafePathError saying why."""
    if not isinstance(key, str):
        raise UnsafePathError(f"key must be a string, got {type(key).__name__}")
    if "\x00" in key or "\\" in key:
        raise UnsafePathError(f"unsafe key {key!r}: NUL and backslash are not allowed")
    stripped = key.rstrip("/")
    if not stripped:
        if allow_empty:
            return ""
        raise UnsafePathError("empty key")
    if stripped.startswith("/"):
        raise UnsafePathError(f"unsafe key {key!r}: absolute paths are not allowed")
    for part in stripped.split("/"):
        if part in ("", ".", ".."):
            raise UnsafePathError(f"unsafe key {key!r}: empty, '.' or '..' segment")
    return stripped


class Storage(ABC):
    """A local folder or an S3 prefix, addressed by relative keys."""

    url: str

    def uri(self, key: str = "") -> str:
        """Full URL (or absolute path) of ``key``."""
        key = safe_key(key, allow_empty=True)
        return f"{self.url}/{key}" if key else self.url

    @property
    def is_local(self) -> bool:
        return isinstance(self, LocalStorage)

    @abstractmethod
    def exists(self, key: str) -> bool:
        """True when a file (object) exists at ``key``."""

    @abstractmethod
    def list_files(self, prefix: str = "") -> list[StoredFile]:
        """Every file under ``prefix`` (recursively), sorted by key."""

    @abstractmethod
    def list_dirs(
        self, prefix: str = "", *, start_after: str | None = None, limit: int | None = None
    ) -> list[str]:
        """Names of the immediate sub-folders of ``prefix`` after ``start_after``, in the
        storage's order (S3: by the bytes of ``<name>/``; local: by name), at most ``limit``."""

    @abstractmethod
    def read_bytes(self, key: str) -> bytes:
        """The whole content of ``key`` (FileNotFoundError when missing)."""

    @abstractmethod
    def write_bytes(self, key: str, data: bytes) -> None:
        """Write ``data`` at ``key`` atomically (replacing any previous content)."""

    @abstractmethod
    def put_file(self, local: str | os.PathLike[str], key: str) -> None:
        """Copy the local file ``local`` to ``key`` atomically."""

    @abstractmethod
    def local_path(self, key: str) -> contextlib.AbstractContextManager[Path]:
        """A local file with the content of ``key``, valid inside the ``with`` block.

        Local storage yields the file itself (checked to stay inside the root); S3
        downloads it into a temporary folder, keeping its base name.
        """

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key`` if it exists."""

    @abstractmethod
    def create_new(self, key: str, *, staging: str) -> NewObject:
        """Start writing a new object at ``key`` from a stream of pieces, in bounded memory.

        Nothing is visible at ``key`` until :meth:`NewObject.commit`, which never replaces
        an existing object. Locally the pieces go to a file under the ``staging`` folder
        (same filesystem, linked into place); on S3 to a multipart upload of ``key``.
        """


class NewObject(ABC):
    """An object being written piece by piece: invisible until committed, never
    replacing one; used as a context manager, it is aborted unless committed."""

    key: str
    committed: bool = False

    @abstractmethod
    def write(self, data: bytes) -> None:
        """Append ``data``."""

    @abstractmethod
    def _publish(self) -> bool:
        """Make the written bytes the object at ``key``; False if it already exists."""

    @abstractmethod
    def abort(self) -> None:
        """Drop what was written (idempotent)."""

    def commit(self) -> bool:
        """Publish the object; False (and nothing kept) when ``key`` already exists."""
        try:
            self.committed = self._publish()
        finally:
            if not self.committed:
                self.abort()
        return self.committed

    def __enter__(self) -> NewObject:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.committed:
            self.abort()


# --------------------------------------------------------------------------- local

_HOST = socket.gethostname().replace("/", "_").replace("@", "_") or "localhost"


def owner_tag() -> str:
    """``<pid>@<host>``: who writes a temporary file (a host name has no ``@``)."""
    return f"{os.getpid()}@{_HOST}"


def temp_path_for(path: Path) -> Path:
    """A hidden temporary sibling of ``path``, named after its writer (pid and host).

    ``.<name>.tmp-<pid>@<host>-<random>``: hidden, so listings of the lake (catalog,
    manifests) skip it; the writer's pid and host let :func:`sweep_stale_temps` tell a
    crashed writer's leftover from a write in progress.
    """
    return path.with_name(f".{path.name}.tmp-{owner_tag()}-{uuid.uuid4().hex[:12]}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def _owned_by_dead_process(owner: str) -> bool:
    """``<pid>@<host>-…`` names a process of this host that no longer runs."""
    pid_text, at, rest = owner.partition("@")
    if not at or rest.rpartition("-")[0] != _HOST or not pid_text.isdigit():
        return False  # not ours, or another host's
    return not _pid_alive(int(pid_text))


def _remove_entry(entry: os.DirEntry[str]) -> bool:
    """Remove a file or a folder tree; False if it was already gone."""
    try:
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.unlink(entry.path)
    except FileNotFoundError:
        return False
    return True


def _sweep_dead(folder: Path, owner_of: Callable[[str], str | None]) -> list[Path]:
    """Remove the entries of ``folder`` whose owner (``owner_of(name)``: ``<pid>@<host>-…``,
    or None for entries that are not temporary) is a dead process of this host."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    removed: list[Path] = []
    for entry in entries:
        owner = owner_of(entry.name)
        if owner is not None and _owned_by_dead_process(owner) and _remove_entry(entry):
            removed.append(Path(entry.path))
    return removed


# Folder -> its mtime when this process last left it without dead writers' temps.
_CLEAN_FOLDERS: dict[str, int] = {}
_CLEAN_FOLDERS_MAX = 100_000
_TEMP_MARK = ".tmp-"


def _temp_owner(name: str) -> str | None:
    """The owner part of a ``.<name>.tmp-<owner>`` temp (:func:`temp_path_for`), else None."""
    if name[:1] != "." or _TEMP_MARK not in name:
        return None
    return name.rpartition(_TEMP_MARK)[2]


def _sweep_dead_temps(folder: Path) -> list[Path]:
    """Remove every ``.<name>.tmp-<pid>@<this host>-…`` of ``folder`` whose pid is dead."""
    return _sweep_dead(folder, _temp_owner)


def _folder_mtime(folder: Path) -> int | None:
    try:
        return os.stat(folder).st_mtime_ns
    except OSError:
        return None


def sweep_stale_temps(path: Path) -> list[Path]:
    """Remove temporary files left in ``path``'s folder by dead writers on this host.

    A writer killed between creating its temporary file and ``os.replace`` (kill -9,
    OOM, power loss) leaves it behind; the next write into the folder removes it. Temps
    of live processes, and of other hosts sharing the folder, are left alone. Returns
    what was removed.

    Listing a folder of one file per batch costs more with every batch (docs/capacity.md),
    so a process lists a folder again only when its mtime moved since the folder was last
    left clean (:func:`_note_clean_write`): a run writing many batches lists it once.
    """
    folder = path.parent
    key = str(folder)
    before = _folder_mtime(folder)
    if before is None or _CLEAN_FOLDERS.get(key) == before:
        return []
    removed = _sweep_dead_temps(folder)
    after = _folder_mtime(folder)
    if after is not None:
        if len(_CLEAN_FOLDERS) >= _CLEAN_FOLDERS_MAX:
            _CLEAN_FOLDERS.clear()  # a process writing very many folders lists some again
        _CLEAN_FOLDERS[key] = after
    return removed


def _note_clean_write(path: Path) -> None:
    """Record that this process's own rename into ``path``'s folder added no stray temp.

    Called after ``os.replace`` of a write that :func:`sweep_stale_temps` preceded: the
    folder's mtime moved only by that rename (a temp another writer created meanwhile is
    a live write, and if it dies, the next process to write here removes it).
    """
    key = str(path.parent)
    if key in _CLEAN_FOLDERS:
        after = _folder_mtime(path.parent)
        if after is not None:
            _CLEAN_FOLDERS[key] = after


@lru_cache(maxsize=1)
def _sync_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(4, thread_name_prefix="aerofs-fsync")


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_local_files(locations: Iterable[str]) -> None:
    """fsync each local file of ``locations`` (paths or ``file://`` URIs), so a reference
    written after it never names a file a power loss emptied; an object store's files
    (``s3://``) are durable once written. Several are synced at once: the file system
    commits them in one journal transaction where it can, so three cost about one."""
    paths = _local_paths(locations)
    if len(paths) <= 1:
        for path in paths:
            _fsync_path(path)
        return
    list(_sync_pool().map(_fsync_path, paths))  # raises the first error


def start_sync(locations: Iterable[str]) -> Callable[[], None]:
    """:func:`sync_local_files` in the background: the caller goes on with other work
    (writing the file that will name these) and calls the returned function to wait for
    the syncs, which raises the first error."""
    pending = [_sync_pool().submit(_fsync_path, path) for path in _local_paths(locations)]

    def wait() -> None:
        for future in pending:
            future.result()

    return wait


def _local_paths(locations: Iterable[str]) -> list[str]:
    return [path for location in locations if (path := local_path(location)) is not None]


def local_path(location: str) -> str | None:
    """The path of a local file's location (a path or a ``file://`` URI); None for an
    object store's."""
    parts = urlsplit(location)
    if parts.scheme in ("", "file"):
        return parts.path if parts.scheme else location
    return None


def open_local_output(path: str, *, overwrite: bool) -> int:
    """A descriptor to write the local file ``path``: created, its folder made if
    missing (a new table's first file); an existing file is truncated with
    ``overwrite``, else refused (``FileExistsError``), with no window between the look
    and the create."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        return os.open(path, flags, 0o666)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return os.open(path, flags, 0o666)


def create_local_file(path: str, parts: Sequence[bytes]) -> None:
    """Write a new file (refused if it exists: ``FileExistsError``) from ``parts``, in
    one system call where it can: no joined copy of them in memory, and fsync it on the
    same descriptor before returning. Its folder is made if missing. A failed write
    removes it."""
    fd = open_local_output(path, overwrite=False)
    try:
        views = [memoryview(part) for part in parts if part]
        while views:
            written = os.writev(fd, views)
            while views and written >= len(views[0]):
                written -= len(views.pop(0))
            if views:
                views[0] = views[0][written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(path)
        raise
    os.close(fd)


@contextlib.contextmanager
def atomic_target(path: Path) -> Iterator[Path]:
    """A temporary sibling of ``path`` to write; on success it is fsynced and renamed over
    ``path`` (readers see the old file or the new one, never half of one), else removed.

    Dead writers' temps in the folder are swept first (:func:`sweep_stale_temps`).
    """
    sweep_stale_temps(path)
    tmp = temp_path_for(path)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _note_clean_write(path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def scratch_dir(kind: str) -> Iterator[Path]:
    """A private temporary folder (in ``TMPDIR``) for work files, removed on exit.

    Named ``aerofs-<kind>-<pid>@<host>-…``: a folder left by a killed process (kill -9
    skips the clean-up) is removed by the next process that asks for one of its kind.
    """
    base = Path(tempfile.gettempdir())
    prefix = f"aerofs-{kind}-"
    _sweep_dead(base, lambda name: name[len(prefix) :] if name.startswith(prefix) else None)
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}{owner_tag()}-", dir=base))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


_SPECIAL_KINDS = (
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _special_file(path: Path) -> str | None:
    """Why ``path`` is not a regular file that can be read without blocking, or None."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None  # reported by the caller's own stat
    for test, what in _SPECIAL_KINDS:
        if test(mode):
            return f"not a regular file ({what}): not read"
    return None


def _unsafe_name(key: str) -> str | None:
    """Why a listed ``key`` must never be used as a path (see :func:`safe_key`), or None."""
    try:
        safe_key(key)
    except UnsafePathError as exc:
        return f"unsafe name, never read: {str(exc).rpartition(': ')[2]}"
    return None


class LocalStorage(Storage):
    """A folder on the local filesystem."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()
        self.url = str(self.root)

    def _path(self, key: str, *, allow_empty: bool = False) -> Path:
        key = safe_key(key, allow_empty=allow_empty)
        return self.root.joinpath(*key.split("/")) if key else self.root

    def _inside(self, path: Path) -> bool:
        return path == self.root or path.is_relative_to(self.root)

    def _check_link(self, path: Path) -> str | None:
        """Why ``path`` (a symlink somewhere on its way) is unsafe to read, or None."""
        try:
            real = path.resolve(strict=True)
        except FileNotFoundError:
            return "broken symbolic link" if path.is_symlink() else None
        except (OSError, RuntimeError) as exc:  # loops
            return f"unresolvable path: {exc}"
        if not self._inside(real):
            return "symbolic link points outside the storage root"
        return None

    def _readable(self, key: str) -> Path:
        path = self._path(key)
        problem = self._check_link(path)
        if problem is not None:
            raise UnsafePathError(f"{key}: {problem}")
        return path

    def _writable(self, key: str) -> Path:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not self._inside(path.parent.resolve()):
            raise UnsafePathError(f"{key}: parent folder resolves outside the storage root")
        return path

    def exists(self, key: str) -> bool:
        path = self._path(key)
        return path.is_file() and self._check_link(path) is None

    def list_files(self, prefix: str = "") -> list[StoredFile]:
        base = self._path(prefix, allow_empty=True)
        if base.is_symlink() or not base.is_dir():
            return []
        out: list[StoredFile] = []
        for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
            here = Path(dirpath)
            for name in filenames + [d for d in dirnames if (here / d).is_symlink()]:
                path = here / name
                key = path.relative_to(self.root).as_posix()
                problem = self._check_link(path) if path.is_symlink() else None
                if problem is None and path.is_dir():
                    problem = "symbolic link to a folder (not followed)"
                if problem is None:
                    problem = _special_file(path) or _unsafe_name(key)
                modified: float | None = None
                try:
                    info = path.lstat() if problem else path.stat()
                    size, modified = info.st_size, info.st_mtime
                except OSError as exc:
                    size, problem = 0, f"cannot stat: {exc.strerror}"
                out.append(StoredFile(key, size, problem, modified))
        out.sort(key=lambda f: f.key)
        return out

    def list_dirs(
        self, prefix: str = "", *, start_after: str | None = None, limit: int | None = None
    ) -> list[str]:
        base = self._path(prefix, allow_empty=True)
        try:
            names = sorted(e.name for e in os.scandir(base) if e.is_dir(follow_symlinks=False))
        except (FileNotFoundError, NotADirectoryError):
            return []
        if start_after is not None:
            names = [n for n in names if n > start_after]
        return names[:limit] if limit is not None else names

    def read_bytes(self, key: str) -> bytes:
        return self._readable(key).read_bytes()

    def _atomic(self, key: str) -> contextlib.AbstractContextManager[Path]:
        return atomic_target(self._writable(key))

    def write_bytes(self, key: str, data: bytes) -> None:
        with self._atomic(key) as tmp:
            tmp.write_bytes(data)

    def put_file(self, local: str | os.PathLike[str], key: str) -> None:
        with self._atomic(key) as tmp:
            shutil.copyfile(local, tmp)

    @contextlib.contextmanager
    def _local_path(self, key: str) -> Iterator[Path]:
        path = self._readable(key)
        if not path.is_file():
            raise FileNotFoundError(2, "No such file", str(path))
        yield path

    def local_path(self, key: str) -> contextlib.AbstractContextManager[Path]:
        return self._local_path(key)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def create_new(self, key: str, *, staging: str) -> NewObject:
        final = self._path(key)
        folder = self._writable(f"{safe_key(staging)}/.keep").parent
        staged = folder / f"{owner_tag()}-{uuid.uuid4().hex}.part"
        return _LocalNewObject(key, final, staged, self._inside)


class _LocalNewObject(NewObject):
    """A staged file, fsynced and hard-linked into place (``link`` never replaces)."""

    def __init__(self, key: str, final: Path, staged: Path, inside: Callable[[Path], bool]) -> None:
        self.key, self.final, self.staged, self._inside = key, final, staged, inside
        self._fh: Any = open(staged, "xb")  # noqa: SIM115 - closed by commit or abort

    def write(self, data: bytes) -> None:
        self._fh.write(data)

    def _publish(self) -> bool:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        self.final.parent.mkdir(parents=True, exist_ok=True)
        if not self._inside(self.final.parent.resolve()):  # a linked folder on the way
            raise UnsafePathError(f"{self.key}: parent folder resolves outside the storage root")
        try:
            os.link(self.staged, self.final)
        except FileExistsError:
            return False
        self.staged.unlink(missing_ok=True)
        return True

    def abort(self) -> None:
        self._fh.close()
        self.staged.unlink(missing_ok=True)


# --------------------------------------------------------------------------- S3


def aws_client(service: str, endpoint_url: str | None = None) -> Any:
    """A boto3 client for ``service`` (``s3``, ``sqs``) with the project's retry policy:
    transient errors (503 SlowDown, 500, resets, refused) retried with exponential backoff
    and jitter, ``AWS_MAX_ATTEMPTS`` / ``AWS_RETRY_MODE`` overriding the defaults as for
    any client. ``endpoint_url`` defaults to ``AWS_ENDPOINT_URL``. One client per
    configuration and process (they are thread-safe)."""
    from aerofs_pipelines import config

    return _client(
        service,
        endpoint_url or config.s3_endpoint_url(),
        config.aws_region(),
        config.aws_max_attempts(),
        config.aws_retry_mode(),
    )


@lru_cache(maxsize=16)
def _client(
    service: str, endpoint_url: str | None, region: str | None, attempts: int, mode: str
) -> Any:
    import boto3
    from botocore.config import Config

    retries = Config(retries={"max_attempts": attempts, "mode": mode})
    return boto3.session.Session().client(
        service, endpoint_url=endpoint_url, region_name=region, config=retries
    )


def _is_missing(exc: Exception) -> bool:
    code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")


def _lost_condition(exc: Exception) -> bool:
    """True when S3 refused a conditional write: another writer got there first."""
    code = getattr(exc, "response", {}).get("Error", {}).get("Code")
    return code in {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}


class S3Storage(Storage):
    """A prefix in an S3 (or S3-compatible) bucket."""

    def __init__(self, url: str, *, endpoint_url: str | None = None) -> None:
        if not url.startswith("s3://"):
            raise ValueError(f"not an s3:// URL: {url!r}")
        bucket, _, prefix = url[len("s3://") :].partition("/")
        if not bucket:
            raise ValueError(f"no bucket in {url!r}")
        self.bucket = bucket
        self.prefix = safe_key(prefix, allow_empty=True)
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self.client = aws_client("s3", endpoint_url)

    def _key(self, key: str, *, allow_empty: bool = False) -> str:
        key = safe_key(key, allow_empty=allow_empty)
        return "/".join(p for p in (self.prefix, key) if p)

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            if _is_missing(exc):
                return False
            raise
        return True

    def _pages(self, prefix: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("list_objects_v2")
        yield from paginator.paginate(Bucket=self.bucket, Prefix=prefix, **kwargs)

    def list_files(self, prefix: str = "") -> list[StoredFile]:
        full = self._key(prefix, allow_empty=True)
        full = f"{full}/" if full else ""
        strip = len(self.prefix) + 1 if self.prefix else 0
        out: list[StoredFile] = []
        for page in self._pages(full):
            for obj in page.get("Contents", []):
                name: str = obj["Key"]
                if name.endswith("/"):
                    continue  # a folder marker, not a file
                rel = name[strip:]
                try:
                    safe_key(rel)
                    problem = None
                except UnsafePathError as exc:
                    problem = str(exc)
                when = obj.get("LastModified")
                modified = when.timestamp() if when is not None else None
                out.append(StoredFile(rel, int(obj["Size"]), problem, modified))
        out.sort(key=lambda f: f.key)
        return out

    def list_dirs(
        self, prefix: str = "", *, start_after: str | None = None, limit: int | None = None
    ) -> list[str]:
        full = self._key(prefix, allow_empty=True)
        full = f"{full}/" if full else ""
        kwargs: dict[str, Any] = {"Delimiter": "/"}
        if start_after is not None:
            # past every key of the folder start_after (U+10FFFF sorts after any UTF-8).
            # S3 orders by the keys' bytes, so "k1-x/" comes before "k1/": the names come
            # in that order, which is the order to page in.
            kwargs["StartAfter"] = f"{full}{start_after}/\U0010ffff"
        names: list[str] = []
        for page in self._pages(full, **kwargs):
            for common in page.get("CommonPrefixes", []):
                name = common["Prefix"][len(full) :].rstrip("/")
                if name == start_after:
                    continue
                names.append(name)
                if limit is not None and len(names) >= limit:
                    return names
        return names

    def read_bytes(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            if _is_missing(exc):
                raise FileNotFoundError(2, "No such object", self.uri(key)) from exc
            raise
        data: bytes = response["Body"].read()
        return data

    def write_bytes(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def write_if(self, key: str, data: bytes, *, etag: str | None = None) -> bool:
        """A conditional write: create ``key`` only if it does not exist (``etag`` None,
        ``If-None-Match: *``), or replace it only if its ETag is still ``etag``
        (``If-Match``). False when S3 refuses: another writer got there first."""
        condition = {"IfNoneMatch": "*"} if etag is None else {"IfMatch": etag}
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **condition)
        except Exception as exc:
            if _lost_condition(exc):
                return False
            raise
        return True

    def head(self, key: str) -> tuple[str, dt.datetime] | None:
        """``(ETag, LastModified)`` of ``key``, or None when it does not exist."""
        try:
            response = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            if _is_missing(exc):
                return None
            raise
        return str(response["ETag"]), response["LastModified"]

    def put_file(self, local: str | os.PathLike[str], key: str) -> None:
        size = os.path.getsize(local)
        if size < MULTIPART_THRESHOLD:
            with open(local, "rb") as fh:
                self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=fh)
            return
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_THRESHOLD
        )
        self.client.upload_file(os.fspath(local), self.bucket, self._key(key), Config=config)

    @contextlib.contextmanager
    def _local_path(self, key: str) -> Iterator[Path]:
        full = self._key(key)
        with scratch_dir("s3") as tmp:
            path = tmp / PurePosixPath(full).name
            try:
                self.client.download_file(self.bucket, full, str(path))
            except Exception as exc:
                if _is_missing(exc):
                    raise FileNotFoundError(2, "No such object", self.uri(key)) from exc
                raise
            yield path

    def local_path(self, key: str) -> contextlib.AbstractContextManager[Path]:
        return self._local_path(key)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def create_new(self, key: str, *, staging: str) -> NewObject:
        return _S3NewObject(self, key)

    def abort_multipart_uploads(self, prefix: str, *, older_than: dt.datetime) -> int:
        """Abort the multipart uploads under ``prefix`` started before ``older_than``
        (a writer that died mid-stream leaves one: invisible, but its parts are billed)."""
        full = self._key(prefix, allow_empty=True)
        paginator = self.client.get_paginator("list_multipart_uploads")
        aborted = 0
        for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{full}/" if full else ""):
            for upload in page.get("Uploads", []):
                if upload["Initiated"] < older_than:
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    aborted += 1
        return aborted


class _S3NewObject(NewObject):
    """One ``PutObject`` for a small object, else a multipart upload of
    :data:`STREAM_PART_BYTES` parts; either with ``If-None-Match: *``."""

    def __init__(self, store: S3Storage, key: str) -> None:
        self.key, self.store = key, store
        self.full = store._key(key)
        self.pending: list[bytes] = []
        """Pieces not sent yet, fewer than a part's bytes (kept as given: no copies)."""
        self.pending_bytes = 0
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []

    def _send_part(self, data: bytes) -> None:
        client = self.store.client
        if self.upload_id is None:
            started = client.create_multipart_upload(Bucket=self.store.bucket, Key=self.full)
            self.upload_id = str(started["UploadId"])
        number = len(self.parts) + 1
        sent = client.upload_part(
            Bucket=self.store.bucket,
            Key=self.full,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=data,
        )
        self.parts.append({"ETag": sent["ETag"], "PartNumber": number})

    def write(self, data: bytes) -> None:
        self.pending.append(data)
        self.pending_bytes += len(data)
        while self.pending_bytes >= STREAM_PART_BYTES:
            # one copy per part, the pieces joined; only a piece straddling the part's end
            # is split (memory: about two parts, whatever the object's size)
            part: list[bytes] = []
            size = 0
            while size < STREAM_PART_BYTES:
                piece = self.pending.pop(0)
                room = STREAM_PART_BYTES - size
                if len(piece) > room:
                    self.pending.insert(0, piece[room:])
                    piece = piece[:room]
                part.append(piece)
                size += len(piece)
            self.pending_bytes -= size
            self._send_part(b"".join(part))

    def _publish(self) -> bool:
        client, bucket = self.store.client, self.store.bucket
        try:
            if self.upload_id is None:
                client.put_object(
                    Bucket=bucket, Key=self.full, Body=b"".join(self.pending), IfNoneMatch="*"
                )
            else:
                if self.pending:
                    self._send_part(b"".join(self.pending))
                    self.pending, self.pending_bytes = [], 0
                client.complete_multipart_upload(
                    Bucket=bucket,
                    Key=self.full,
                    UploadId=self.upload_id,
                    MultipartUpload={"Parts": self.parts},
                    IfNoneMatch="*",
                )
                self.upload_id = None
        except Exception as exc:
            if _lost_condition(exc):
                return False
            raise
        return True

    def abort(self) -> None:
        self.pending, self.pending_bytes = [], 0
        if self.upload_id is not None:
            upload_id, self.upload_id = self.upload_id, None
            try:
                self.store.client.abort_multipart_upload(
                    Bucket=self.store.bucket, Key=self.full, UploadId=upload_id
                )
            except Exception as exc:  # already aborted (as abandoned, by maintenance)
                if getattr(exc, "response", {}).get("Error", {}).get("Code") != "NoSuchUpload":
                    raise


def open_storage(url: str, *, endpoint_url: str | None = None) -> Storage:
    """Storage for a folder path or an ``s3://bucket/prefix`` URL."""
    url = url.strip()
    if url.startswith("s3://"):
        return S3Storage(url.rstrip("/"), endpoint_url=endpoint_url)
    if "://" in url and not url.startswith("file://"):
        raise ValueError(f"unsupported storage URL {url!r}: use a folder or s3://bucket/prefix")
    return LocalStorage(url.removeprefix("file://"))
