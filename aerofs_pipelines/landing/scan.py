"""Scanning the landing zone (a local folder or ``s3://bucket/prefix``) for complete batches.

Two sources feed the landing sensor; neither costs more when more batches are processed:

* **events**: locally an append-only journal (``<landing>/_aerofs/events/<UTC day>.log``,
  one batch id a line, read from a position kept in the sensor cursor); on S3 one empty
  object ``_aerofs/events/<batch id>`` per batch, and the SQS queue named by
  ``AEROFS_LANDING_QUEUE`` that receives the bucket's ``ObjectCreated`` notifications, if
  any. ``aerofs ingest`` and the batch API's completion write them through
  :func:`record_ready`, so a batch they land is found at the next tick, queue or not;
  batches other tools write are found by the queue or the sweep. A tick with nothing new
  costs one ``stat`` (local) or one ``ListObjectsV2`` (and an empty ``ReceiveMessage``).
* a **reconciliation sweep** that lists batch folders in name order, one bounded page per
  tick, so batches written by other tools are never missed, whatever order their ids
  arrive in. Locally it runs at most every ``sweep_interval`` seconds, and then only when
  the landing folder's mtime changed since the last complete sweep, that sweep left
  incomplete batches behind, or an hour passed; on S3 it runs every ``sweep_interval``
  seconds (every tick when no queue is configured: listing mode).

Batch ids are checked with :func:`~aerofs_pipelines.landing.batches.check_batch_id` before
they are used in any path or key; refused names come back with the reason. S3 goes
through :class:`~aerofs_pipelines.lake.storage.S3Storage` (one client, one retry policy);
the queue through :func:`~aerofs_pipelines.lake.storage.aws_client`.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote_plus

from aerofs_pipelines import config
from aerofs_pipelines.lake.storage import S3Storage, aws_client
from aerofs_pipelines.landing.batches import SUCCESS_MARKER, InvalidBatchIdError, check_batch_id

RESERVED_DIR = "_aerofs"
"""Our own folder in the landing zone (not a batch: ``_`` cannot start a batch id)."""
EVENTS_DIR = f"{RESERVED_DIR}/events"


@dataclass
class Refused:
    """A landing-zone name that is not a valid batch id, and why."""

    name: str
    reason: str


@dataclass
class EventBatch:
    """What one read of an event source returned."""

    batch_ids: list[str] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    position: Any = None
    """The new position in the source (journal: ``[segment, offset]``)."""
    ack: list[str] = field(default_factory=list)
    """Receipt handles to acknowledge once this tick is stored (SQS)."""
    more: bool = False
    """True when the source stopped at the limit and may hold more."""


@dataclass
class Page:
    """One page of a sweep: valid batch-folder names in name order."""

    names: list[str]
    refused: list[Refused]
    next_after: str | None
    """Resume after this name; ``None`` when the listing is exhausted."""


class Scanner(Protocol):
    """A landing zone as the landing sensor reads it: events, and a sweep of its folders."""

    url: str
    verify_events: bool
    """Check each event's marker before trusting it (cheap locally; an event is a marker on S3)."""

    def read_events(self, position: Any, limit: int) -> EventBatch:
        """Up to ``limit`` complete batch ids after ``position``."""

    def acknowledge(self, ack: list[str]) -> None:
        """Forget the events of the previous tick (its result was stored)."""

    def change_token(self) -> int | None:
        """A value that changes when batch folders are added (None: unknown, always sweep)."""

    def list_page(self, after: str | None, limit: int) -> Page:
        """Batch-folder names after ``after`` in name order, at most ``limit``."""

    def is_complete(self, batch_id: str) -> bool:
        """True when the (valid) batch has its success marker."""


def _checked(name: str) -> str | Refused:
    try:
        return check_batch_id(name)
    except InvalidBatchIdError as exc:
        return Refused(name, str(exc))


# ---------------------------------------------------------------------------------------------
# Local folder


def record_ready(landing: str, *batch_ids: str) -> None:
    """Announce complete batches to the landing sensor (call after writing ``_SUCCESS``).

    Locally one ``O_APPEND`` write of short lines to the journal: concurrent writers never
    interleave, and a sensor tick sees all of ``batch_ids`` or none. On S3 one empty
    object ``_aerofs/events/<batch id>`` each, which the sensor deletes once it has
    registered the batch.
    """
    for batch_id in batch_ids:
        check_batch_id(batch_id)
    if landing.startswith("s3://"):
        storage = S3Storage(landing.rstrip("/"))
        for batch_id in batch_ids:
            storage.write_bytes(f"{EVENTS_DIR}/{batch_id}", b"")
        return
    events = Path(landing) / EVENTS_DIR
    events.mkdir(parents=True, exist_ok=True)
    day = dt.datetime.now(dt.UTC).strftime("%Y%m%d")
    fd = os.open(events / f"{day}.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, "".join(f"{b}\n" for b in batch_ids).encode())
    finally:
        os.close(fd)


class LocalScanner:
    """A landing zone in a local folder, with its events journal."""

    verify_events = True

    def __init__(self, root: str) -> None:
        self.url = root
        self.root = Path(root)
        self.events = self.root / EVENTS_DIR
        self._names: list[str] | None = None
        self._links: set[str] = set()

    def read_events(self, position: Any, limit: int) -> EventBatch:
        """Journal lines after ``position`` = ``[segment, offset]``; only whole lines."""
        segment, offset = position if position else ("", 0)
        out = EventBatch(position=[segment, offset])
        try:
            segments = sorted(n for n in os.listdir(self.events) if n >= segment)
        except FileNotFoundError:
            return out
        for name in segments:
            if name != segment:
                segment, offset = name, 0
            path = self.events / name
            if os.stat(path).st_size <= offset:
                continue
            with open(path, "rb") as f:
                f.seek(offset)
                for line in f:
                    if not line.endswith(b"\n"):
                        break  # a writer is mid-line: read it next tick
                    if len(out.batch_ids) + len(out.refused) >= limit:
                        out.more = True
                        break
                    offset += len(line)
                    checked = _checked(line.decode("utf-8", "replace").strip())
                    if isinstance(checked, Refused):
                        out.refused.append(checked)
                    else:
                        out.batch_ids.append(checked)
            out.position = [segment, offset]
            if out.more:
                break
        return out

    def acknowledge(self, ack: list[str]) -> None:
        """Nothing to do: the journal position lives in the cursor."""

    def change_token(self) -> int | None:
        """The landing folder's mtime in ns: it changes when a batch folder is added."""
        try:
            return os.stat(self.root).st_mtime_ns
        except FileNotFoundError:
            return None

    def list_page(self, after: str | None, limit: int) -> Page:
        """Sorted batch folders after ``after`` (``scandir`` names; no per-entry ``stat``)."""
        if self._names is None:  # one listing per tick (the zone is opened per tick)
            try:
                with os.scandir(self.root) as it:
                    found = [e for e in it if e.is_dir() and e.name != RESERVED_DIR]
                self._names = sorted(e.name for e in found)
                self._links = {e.name for e in found if e.is_symlink()}
            except FileNotFoundError:
                self._names = []
        names = self._names
        if after is not None:
            names = names[bisect.bisect_right(names, after) :]
        page = names[:limit]
        out = _page(page, page[-1] if len(names) > limit else None)
        if self._links:  # a link could lead anywhere: batches are real folders
            links = [n for n in out.names if n in self._links]
            out.names = [n for n in out.names if n not in self._links]
            out.refused += [Refused(n, _LINKED_BATCH) for n in links]
        return out

    def is_complete(self, batch_id: str) -> bool:
        """``<root>/<batch_id>/_SUCCESS`` exists (in a real folder, not a symlinked one)."""
        folder = self.root / check_batch_id(batch_id)
        return not folder.is_symlink() and (folder / SUCCESS_MARKER).is_file()


_LINKED_BATCH = (
    "a symbolic link to a folder, not a batch folder: links are never followed "
    "out of the landing zone"
)


def _page(names: Sequence[str], next_after: str | None) -> Page:
    valid: list[str] = []
    refused: list[Refused] = []
    for name in names:
        checked = _checked(name)
        if isinstance(checked, Refused):
            refused.append(checked)
        else:
            valid.append(checked)
    return Page(valid, refused, next_after)


# ---------------------------------------------------------------------------------------------
# S3 (+ SQS notifications)


_EVENT_OBJECT = "object:"
"""Marks an event object's key among the acknowledgements (SQS receipt handles else)."""


class S3Scanner:
    """A landing zone under ``s3://bucket/prefix``: events from the event objects
    :func:`record_ready` writes, and from an SQS queue if given."""

    verify_events = False

    def __init__(self, url: str, queue: str | None = None) -> None:
        self.storage = S3Storage(url)
        self.url = self.storage.url
        self.bucket = self.storage.bucket
        self.prefix = f"{self.storage.prefix}/" if self.storage.prefix else ""
        self.queue = queue
        self._sqs: Any = None
        self._queue_url: str | None = None

    @property
    def sqs(self) -> Any:
        if self._sqs is None:
            self._sqs = aws_client("sqs")
        return self._sqs

    def queue_url(self) -> str:
        """The queue's URL (``AEROFS_LANDING_QUEUE`` may be a URL or a name)."""
        if self.queue is None:
            raise ValueError("no landing queue configured")
        if self._queue_url is None:
            if "://" in self.queue:
                self._queue_url = self.queue
            else:
                self._queue_url = self.sqs.get_queue_url(QueueName=self.queue)["QueueUrl"]
        return self._queue_url

    def _batch_of_key(self, key: str) -> str | Refused | None:
        """The batch a ``<prefix><batch>/_SUCCESS`` key completes; None for other keys."""
        if not key.startswith(self.prefix) or not key.endswith(f"/{SUCCESS_MARKER}"):
            return None
        name = key[len(self.prefix) : -len(SUCCESS_MARKER) - 1]
        return None if "/" in name else _checked(name)

    def _event_objects(self, out: EventBatch, limit: int) -> None:
        """The batches of ``_aerofs/events/<batch id>`` objects, up to ``limit`` (their
        keys go to ``ack``: deleted once the tick is stored). An event of a batch without
        its marker (not written by :func:`record_ready`) is dropped."""
        for item in self.storage.list_files(EVENTS_DIR):
            if len(out.batch_ids) >= limit:
                out.more = True
                return
            out.ack.append(_EVENT_OBJECT + item.key)
            found = _checked(item.key[len(EVENTS_DIR) + 1 :])
            if isinstance(found, Refused):
                out.refused.append(found)
            elif self.is_complete(found):
                out.batch_ids.append(found)

    def read_events(self, position: Any, limit: int) -> EventBatch:
        """Event objects, then notifications (no wait) until ``limit`` ids or an empty
        receive.

        Nothing is deleted here: event objects' keys and messages' receipt handles go to
        ``ack`` and are deleted by :meth:`acknowledge` on the next tick, once this tick's
        result is stored. An event seen twice yields an id already registered.
        """
        out = EventBatch()
        self._event_objects(out, limit)
        if self.queue is None or out.more:
            return out
        url = self.queue_url()
        while len(out.batch_ids) < limit:
            got = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not got:
                return out
            for message in got:
                out.ack.append(message["ReceiptHandle"])
                for key in _event_keys(message.get("Body", ""), self.bucket):
                    found = self._batch_of_key(key)
                    if isinstance(found, Refused):
                        out.refused.append(found)
                    elif found is not None:
                        out.batch_ids.append(found)
        out.more = True
        return out

    def acknowledge(self, ack: list[str]) -> None:
        """Delete the event objects and messages the previous tick read."""
        for item in ack:
            if item.startswith(_EVENT_OBJECT):
                self.storage.delete(item[len(_EVENT_OBJECT) :])
        handles = [h for h in ack if not h.startswith(_EVENT_OBJECT)]
        if not handles or self.queue is None:
            return
        url = self.queue_url()
        for i in range(0, len(handles), 10):
            entries = [
                {"Id": str(j), "ReceiptHandle": h} for j, h in enumerate(handles[i : i + 10])
            ]
            self.sqs.delete_message_batch(QueueUrl=url, Entries=entries)

    def change_token(self) -> int | None:
        """Unknown on S3: the sweep is paced by its interval instead."""
        return None

    def list_page(self, after: str | None, limit: int) -> Page:
        """Batch prefixes after ``after`` in name order, at most ``limit``."""
        # one more than asked, and one more for our own folder, to tell if more follow
        names = self.storage.list_dirs("", start_after=after, limit=limit + 2)
        names = [n for n in names if n != RESERVED_DIR]
        page = names[:limit]
        return _page(page, page[-1] if len(names) > limit and page else None)

    def is_complete(self, batch_id: str) -> bool:
        """``HEAD <prefix><batch_id>/_SUCCESS`` succeeds."""
        return self.storage.exists(f"{check_batch_id(batch_id)}/{SUCCESS_MARKER}")


def _event_keys(body: str, bucket: str) -> list[str]:
    """Object keys created in ``bucket`` by an S3 notification (direct or SNS-wrapped)."""
    try:
        doc = json.loads(body)
        if isinstance(doc, dict) and "Records" not in doc and "Message" in doc:
            doc = json.loads(doc["Message"])  # SNS envelope
    except (ValueError, TypeError):
        return []
    keys = []
    for record in doc.get("Records", []) if isinstance(doc, dict) else []:
        s3 = record.get("s3", {})
        if not str(record.get("eventName", "")).startswith("ObjectCreated"):
            continue
        if s3.get("bucket", {}).get("name") != bucket:
            continue
        keys.append(unquote_plus(s3.get("object", {}).get("key", "")))
    return keys


def open_scanner(url: str | None = None, queue: str | None = None) -> Scanner:
    """The scanner of the landing zone at ``url`` (default: ``AEROFS_LANDING``)."""
    url = url or config.landing_url()
    if url.startswith("s3://"):
        return S3Scanner(url, queue if queue is not None else config.landing_queue())
    return LocalScanner(url)
