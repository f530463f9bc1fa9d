"""A batch that landed again under an id already processed: the same content, or refused.

Batches are immutable once processed: an event (journal line, S3 notification) for a
registered batch id is compared by content digest with the manifest written when it was
processed. The same content is a no-op; different content is refused, with the files
added, changed and removed named, and never merged or re-run.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from aerofs_pipelines.batch.manifest import build_manifest
from aerofs_pipelines.lake.layout import read_manifest
from aerofs_pipelines.lake.storage import Storage
from aerofs_pipelines.landing.batches import SUCCESS_MARKER, batch_digest
from aerofs_pipelines.registry import Registry

__all__ = ["MAX_CHECKED", "Verdict", "judge_relanded"]

MAX_CHECKED = 50
"""Re-landed batches compared per call; more are reported unchecked."""

Digests = dict[str, str | None]


@dataclass(frozen=True)
class Verdict:
    """What a re-landing is, as a log line and its level."""

    level: Literal["info", "warning"]
    message: str


def _content(landing: Storage, batch_id: str, registry: Registry) -> Digests:
    """``{file: digest}`` of the batch as it is now, by the manifest's own rules."""
    entries = build_manifest(landing, batch_id, registry)
    return {e.name: e.digest for e in entries if e.name != SUCCESS_MARKER}


def _recorded(lake: Storage, batch_id: str) -> Digests | None:
    """``{file: digest}`` from the manifest written when the batch was processed, if any."""
    try:
        doc = read_manifest(lake, batch_id)
    except FileNotFoundError:
        return None
    return {f["name"]: f.get("digest") for f in doc.get("files", []) if f["name"] != SUCCESS_MARKER}


def _diff(before: Digests, now: Digests) -> str:
    def names(items: list[str]) -> str:
        return ", ".join(items[:5]) + (f" (+{len(items) - 5} more)" if len(items) > 5 else "")

    parts = []
    for label, items in (
        ("added", sorted(set(now) - set(before))),
        ("changed", sorted(k for k in set(now) & set(before) if now[k] != before[k])),
        ("removed", sorted(set(before) - set(now))),
    ):
        if items:
            parts.append(f"{label}: {names(items)}")
    return "; ".join(parts)


def _judge(landing: Storage, lake: Storage, registry: Registry, batch_id: str) -> Verdict:
    recorded = _recorded(lake, batch_id)
    if recorded is None:  # e.g. an SQS message delivered twice
        return Verdict(
            "info",
            f"batch {batch_id!r} announced again before it was processed: not requested "
            "again (its run processes the files its marker lists, or those present when it "
            "starts)",
        )
    try:
        now = _content(landing, batch_id, registry)
    except Exception as exc:  # an incomplete or unreadable re-landing: say so, go on
        return Verdict("warning", f"batch {batch_id!r} landed again but cannot be read: {exc}")
    old_digest = batch_digest(recorded.items())
    new_digest = batch_digest(now.items())
    if old_digest == new_digest:
        return Verdict(
            "info",
            f"batch {batch_id!r} landed again with the same content (digest "
            f"{new_digest[:16]}): already processed, nothing to do",
        )
    return Verdict(
        "warning",
        f"refused re-landing of batch {batch_id!r}: its content differs from the processed "
        f"batch (digest {old_digest[:16]} → {new_digest[:16]}; {_diff(recorded, now)}). "
        "Batches are immutable once processed: land the new content under a new batch id",
    )


def judge_relanded(
    landing: Storage, lake: Storage, registry: Registry, batch_ids: Iterable[str]
) -> Iterator[Verdict]:
    """A verdict for each of the first :data:`MAX_CHECKED` re-landed batches, then one
    for the rest, unchecked."""
    ids = list(batch_ids)
    for batch_id in ids[:MAX_CHECKED]:
        yield _judge(landing, lake, registry, batch_id)
    if len(ids) > MAX_CHECKED:
        rest = ids[MAX_CHECKED:]
        yield Verdict(
            "warning",
            f"{len(rest)} more registered batches landed again and were not compared: "
            f"{rest[0]} … {rest[-1]}",
        )
