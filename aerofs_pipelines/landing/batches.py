"""Batch identity: the id rule of the landing-zone contract, the ``_SUCCESS`` marker and
the content digest of a batch. Only the standard library is imported."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping

BATCH_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
_BATCH_ID = re.compile(BATCH_ID_PATTERN)
SUCCESS_MARKER = "_SUCCESS"


class InvalidBatchIdError(ValueError):
    """A batch id that breaks the contract; it is never used in a path."""


def is_valid_batch_id(batch_id: str) -> bool:
    """True when ``batch_id`` matches the landing-zone contract (and is not ``.``/``..``)."""
    return bool(_BATCH_ID.fullmatch(batch_id)) and batch_id not in {".", ".."}


def check_batch_id(batch_id: str) -> str:
    """Return ``batch_id`` unchanged, or raise InvalidBatchIdError saying why."""
    if not is_valid_batch_id(batch_id):
        raise InvalidBatchIdError(
            f"invalid batch id {batch_id!r}: must match {BATCH_ID_PATTERN} "
            "(letters, digits, '.', '_', '-'; first a letter or digit; at most 128)"
        )
    return batch_id


MARKER_FORMAT = "aerofs-batch/1"
"""``format`` of the file listing ``aerofs ingest`` writes into ``_SUCCESS``."""


def batch_digest(files: Iterable[tuple[str, str | None]]) -> str:
    """One hex digest of a batch's content: its files' names and content digests.

    ``files`` are ``(name inside the batch, content digest or None)``; the marker is left
    out, so the same files give the same digest whoever wrote the marker. Order-free.
    """
    lines = sorted(f"{name}\t{digest or '-'}\n" for name, digest in files if name != SUCCESS_MARKER)
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def marker_document(batch_id: str, files: Iterable[tuple[str, int, str]]) -> bytes:
    """The ``_SUCCESS`` content ``aerofs ingest`` writes: every file with size and digest.

    It pins what the batch is: files added after the marker, or changed, are not part of
    it (the manifest says so), and the batch digest can be read without hashing the files.
    """
    listed = sorted(files)
    doc = {
        "format": MARKER_FORMAT,
        "batch_id": batch_id,
        "files": [{"name": n, "size": s, "digest": d} for n, s, d in listed],
        "digest": batch_digest((n, d) for n, _, d in listed),
    }
    return (json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode()


def parse_marker(data: bytes) -> Mapping[str, tuple[int, str]] | None:
    """``{name: (size, digest)}`` from a ``_SUCCESS`` listing; None for any other marker.

    Other tools write an empty marker (or their own content): then the batch is every
    file present when its run lists it.
    """
    if not data.strip():
        return None
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    if not isinstance(doc, dict) or doc.get("format") != MARKER_FORMAT:
        return None
    out: dict[str, tuple[int, str]] = {}
    for item in doc.get("files") or []:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            out[item["name"]] = (int(item.get("size", -1)), str(item.get("digest", "")))
    return out
