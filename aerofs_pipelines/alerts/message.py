"""What an alert says, and how each destination reads it.

One :class:`Alert` per event, whatever the destination: the webhook, Slack and e-mail all
render the same facts, so they never disagree. An alert names the batch, the dataset
(when one is known), what failed and why in one line, and links to the run in the UI.
It carries no row data and no secrets: the reason is one line of bounded length
(:data:`MAX_REASON` characters), and credentials written into URLs or ``key=value``
pairs are masked before they get there (:func:`scrub`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "MAX_LINE",
    "MAX_REASON",
    "Alert",
    "dataset_stale",
    "describe_every",
    "files_quarantined",
    "one_line",
    "run_failed",
    "run_link",
    "scrub",
    "tick_failed",
]

MAX_REASON = 300
"""Characters of "why" an alert keeps (an error's message, a check's description)."""
MAX_LINE = 600
"""Characters of the whole one-line summary."""
PREFIX = "[AeroFS]"
SLACK_HOST = "hooks.slack.com"

_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/@]+@")
_SECRET_PAIRS = re.compile(
    r"(?i)\b((?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key)\s*[=:]\s*)[^\s,;&]+"
)


def scrub(text: str) -> str:
    """``text`` with credentials masked: ``scheme://user:pass@`` and ``password=…``."""
    return _SECRET_PAIRS.sub(r"\1***", _URL_CREDENTIALS.sub(r"\1***@", text))


def one_line(text: str, limit: int = MAX_REASON) -> str:
    """``text`` scrubbed, on one line (whitespace collapsed), at most ``limit`` characters."""
    line = " ".join(scrub(text).split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def ui_link(path: str, public_url: str | None) -> str:
    """A page of the UI: absolute under ``public_url``, else the relative ``path``."""
    return f"{public_url.rstrip('/')}{path}" if public_url else path


def run_link(run_id: str, public_url: str | None) -> str:
    """The run's page in the UI."""
    return ui_link(f"/runs/{run_id}", public_url)


def describe_every(every: timedelta) -> str:
    """``timedelta(days=1)`` → ``1d``; ``90 min`` → ``90m`` (the registry's own notation)."""
    seconds = int(every.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class Alert:
    """One event worth telling someone about."""

    key: str
    """Unique id of the event (``run-failed:<run_id>``): one message per key."""
    kind: str
    """What happened: ``run_failed``, ``files_quarantined``, ``dataset_stale`` or
    ``tick_failed``."""
    batch: str | None
    """The batch it happened to (None when the event is about no one batch)."""
    dataset: str | None
    """The dataset concerned, when one is known."""
    summary: str
    """What failed and why, one line."""
    link: str
    """The run (or, for an event of no run, the asset's or sensor's page) in the UI."""
    occurred_at: float
    """When the event happened (seconds since the epoch)."""
    run_id: str | None = None

    def headline(self) -> str:
        """The one line every destination starts with (and the e-mail's subject)."""
        return f"{PREFIX} {self.summary}"

    def text(self) -> str:
        """The headline and the link: a chat message or a log line."""
        return f"{self.headline()}\n{self.link}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def webhook_payload(self, url: str) -> dict[str, Any]:
        """The JSON body for ``url``: Slack's incoming-webhook format (``{"text"}``) when
        the URL is Slack's, else ``{"text", "alert": {every field}}``."""
        if (urlsplit(url).hostname or "").lower() == SLACK_HOST:
            return {"text": self.text()}
        return {"text": self.text(), "alert": self.to_dict()}

    def email(self, sender: str, recipients: tuple[str, ...] | list[str]) -> EmailMessage:
        """The alert as an e-mail: the headline as subject, the facts in the body."""
        msg = EmailMessage()
        msg["Subject"] = self.headline()
        msg["From"] = sender
        msg["To"] = ", ".join(recipients)
        msg["Date"] = formatdate(self.occurred_at, usegmt=True)
        msg["X-AeroFS-Alert-Key"] = self.key
        lines = [
            self.summary,
            "",
            f"batch:   {self.batch or '-'}",
            f"dataset: {self.dataset or '-'}",
            f"event:   {self.kind}",
            f"link:    {self.link}",
        ]
        msg.set_content("\n".join(lines) + "\n")
        return msg


def run_failed(
    *,
    run_id: str,
    batch: str | None,
    schedule: str | None = None,
    dataset: str | None,
    what: str,
    why: str | None,
    retries: int,
    occurred_at: float,
    public_url: str | None,
) -> Alert:
    """The alert for a batch's run (or a ``schedule``'s) that failed for good (after
    ``retries`` retries): ``what`` is the failed step or check, ``why`` its error."""
    if batch:
        subject = f"batch {batch}"
    else:
        subject = f"a run of schedule {schedule}" if schedule else "a batch run"
    if dataset:
        subject += f" ({dataset})"
    after = f" after {retries} {'retry' if retries == 1 else 'retries'}" if retries else ""
    summary = f"{subject} failed{after}: {one_line(what, 120)}"
    if why:
        summary += f" — {one_line(why)}"
    return Alert(
        key=f"run-failed:{run_id}",
        kind="run_failed",
        batch=batch,
        dataset=dataset,
        summary=one_line(summary, MAX_LINE),
        link=run_link(run_id, public_url),
        occurred_at=occurred_at,
        run_id=run_id,
    )


def files_quarantined(
    *,
    run_id: str,
    batch: str,
    quarantined: Sequence[tuple[str, str | None, str]],
    files: int,
    occurred_at: float,
    public_url: str | None,
) -> Alert:
    """The summary of a processed batch's quarantined files: ``quarantined`` is
    ``(file, dataset, reason)`` per file, ``files`` how many the batch had."""
    datasets = {d for _, d, _ in quarantined if d}
    dataset = datasets.pop() if len(datasets) == 1 else None
    first_file, _, first_reason = quarantined[0]
    reason = (
        first_reason if first_reason.startswith(first_file) else f"{first_file}: {first_reason}"
    )
    more = f" (and {len(quarantined) - 1} more)" if len(quarantined) > 1 else ""
    subject = f"batch {batch}" + (f" ({dataset})" if dataset else "")
    summary = (
        f"{subject}: {len(quarantined)} of {files} file(s) quarantined — {one_line(reason)}{more}"
    )
    return Alert(
        key=f"files-quarantined:{run_id}:{batch}",
        kind="files_quarantined",
        batch=batch,
        dataset=dataset,
        summary=one_line(summary, MAX_LINE),
        link=run_link(run_id, public_url),
        occurred_at=occurred_at,
        run_id=run_id,
    )


def dataset_stale(
    *,
    dataset: str,
    every: timedelta,
    since: float,
    last_batch: str | None,
    last_at: float | None,
    public_url: str | None,
) -> Alert:
    """A dataset expected every ``every`` that got no batch for longer (the freshness
    policy of ``lake/<dataset>`` failing ``since``); its last batch, when known."""
    last = ""
    if last_batch is not None:
        last = f" (last: batch {last_batch}" + (f", {_utc(last_at)})" if last_at else ")")
    summary = f"dataset {dataset} received no batch in {describe_every(every)}{last}"
    return Alert(
        key=f"dataset-stale:{dataset}:{since:.3f}",
        kind="dataset_stale",
        batch=last_batch,
        dataset=dataset,
        summary=one_line(summary, MAX_LINE),
        link=ui_link(f"/assets/lake/{dataset}", public_url),
        occurred_at=since,
    )


def tick_failed(
    *,
    kind: str,
    name: str,
    location: str,
    tick_id: int,
    error: str | None,
    occurred_at: float,
    public_url: str | None,
) -> Alert:
    """A sensor or schedule (``kind``) whose tick failed after ticks that did not: one
    alert per run of failures, not per failed tick."""
    summary = f"{kind} {name} failed"
    if error:
        summary += f" — {one_line(error)}"
    plural = "schedules" if kind == "schedule" else "sensors"
    return Alert(
        key=f"tick-failed:{location}:{name}:{tick_id}",
        kind="tick_failed",
        batch=None,
        dataset=None,
        summary=one_line(summary, MAX_LINE),
        link=ui_link(f"/locations/{location}/{plural}/{name}", public_url),
        occurred_at=occurred_at,
    )
