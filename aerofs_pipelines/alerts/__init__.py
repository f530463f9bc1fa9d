"""Alerts: telling someone when a batch fails, without anyone watching the UI.

Plain Python, no Dagster (``defs/alerts.py`` turns Dagster's events into alerts: failed
runs, quarantined files, datasets gone quiet, failing sensors and schedules): what an
alert says and how each destination renders it (:mod:`.message`), sending it to a webhook
or over SMTP (:mod:`.delivery`), and the outbox that retries with backoff and remembers
what was sent, so an event is told once (:mod:`.outbox`).
"""

from aerofs_pipelines.alerts.delivery import (
    Destination,
    Email,
    Failure,
    Webhook,
    deliver,
    destinations_from_config,
)
from aerofs_pipelines.alerts.message import (
    Alert,
    dataset_stale,
    files_quarantined,
    run_failed,
    tick_failed,
)
from aerofs_pipelines.alerts.outbox import Outbox, Pending

__all__ = [
    "Alert",
    "Destination",
    "Email",
    "Failure",
    "Outbox",
    "Pending",
    "Webhook",
    "dataset_stale",
    "deliver",
    "destinations_from_config",
    "files_quarantined",
    "run_failed",
    "tick_failed",
]
