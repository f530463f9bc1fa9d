"""Sending an alert: a POST to a webhook, or an e-mail over SMTP.

Standard library only (``urllib``, ``smtplib``): nothing to install, nothing to pin.
Each attempt is bounded in time (every network operation times out after
:data:`TIMEOUT` seconds) and :func:`deliver` never raises because a destination is down
or refuses: it returns what failed, and the caller (the outbox) decides when to try
again. Errors are reported in one line without the destination's secrets (a webhook's
token-bearing path, the SMTP password).
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from aerofs_pipelines import config
from aerofs_pipelines.alerts.message import Alert, one_line

__all__ = [
    "TIMEOUT",
    "Destination",
    "Email",
    "Failure",
    "Webhook",
    "deliver",
    "destinations_from_config",
]

log = logging.getLogger(__name__)

TIMEOUT = 5.0
"""Seconds each network operation (connect, send, each reply) may take."""
MAX_RESPONSE = 64 * 1024
"""Bytes of a webhook's response read (the status is what counts)."""
USER_AGENT = "aerofs-pipelines-alerts"


@dataclass(frozen=True)
class Webhook:
    """A URL alerts are POSTed to as JSON; 2xx means delivered."""

    url: str
    name: str = "webhook"

    def describe(self) -> str:
        """The destination without its secret (the path of a Slack URL is its token)."""
        parts = urlsplit(self.url)
        return f"webhook {parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"


@dataclass(frozen=True)
class Email:
    """Recipients, the sender, and the mail server (``smtp://`` or ``smtps://``)."""

    smtp_url: str
    recipients: tuple[str, ...]
    sender: str
    name: str = "email"

    def describe(self) -> str:
        parts = urlsplit(self.smtp_url)
        return f"email via {parts.scheme}://{parts.hostname}:{_smtp_port(self.smtp_url)}"


Destination = Webhook | Email


@dataclass(frozen=True)
class Failure:
    """A destination that did not take the alert, and why (one line, no secrets)."""

    destination: str
    error: str


def destinations_from_config() -> list[Destination]:
    """The destinations the settings name (``AEROFS_ALERT_*``, ``AEROFS_SMTP_URL``).

    E-mail needs both recipients and a server: one without the other is a
    :class:`~aerofs_pipelines.config.ConfigError` rather than alerts silently not sent.
    """
    found: list[Destination] = []
    url = config.alert_webhook_url()
    if url:
        found.append(Webhook(url))
    recipients, server = config.alert_email_to(), config.smtp_url()
    if recipients and not server:
        raise config.ConfigError("AEROFS_ALERT_EMAIL_TO is set but AEROFS_SMTP_URL is not")
    if server and not recipients:
        raise config.ConfigError("AEROFS_SMTP_URL is set but AEROFS_ALERT_EMAIL_TO is not")
    if server:
        found.append(Email(server, recipients, config.alert_email_from()))
    return found


def deliver(
    alert: Alert, destinations: Sequence[Destination], *, timeout: float = TIMEOUT
) -> list[Failure]:
    """Send ``alert`` to each destination once; what failed (empty: all delivered)."""
    failures = []
    for destination in destinations:
        try:
            if isinstance(destination, Webhook):
                post_webhook(alert, destination, timeout)
            else:
                send_email(alert, destination, timeout)
        except Exception as exc:  # a destination down or refusing is never our error
            error = _describe_error(exc, destination)
            log.warning(f"alert {alert.key} not delivered to {destination.describe()}: {error}")
            failures.append(Failure(destination.name, error))
    return failures


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is not a delivery (urllib would re-send a POST as a bodiless GET)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def post_webhook(alert: Alert, hook: Webhook, timeout: float = TIMEOUT) -> None:
    """POST the alert's JSON; raises unless the answer is 2xx."""
    body = json.dumps(alert.webhook_payload(hook.url)).encode()
    request = urllib.request.Request(
        hook.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-AeroFS-Alert-Key": alert.key,
        },
    )
    # urlopen raises HTTPError for 4xx/5xx (and, without redirects, 3xx)
    with _OPENER.open(request, timeout=timeout) as response:
        response.read(MAX_RESPONSE)
        if not 200 <= response.status < 300:
            raise OSError(f"HTTP {response.status}")


def _smtp_port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (465 if parts.scheme == "smtps" else 25)


def send_email(alert: Alert, email: Email, timeout: float = TIMEOUT) -> None:
    """Mail the alert through ``email.smtp_url``: ``smtps://`` is TLS from the start,
    ``smtp://`` upgrades with STARTTLS when the server offers it; ``user:password`` in
    the URL logs in. Raises unless the server accepts it for at least one recipient (a
    partial refusal is logged, not retried: the others would get it twice)."""
    parts = urlsplit(email.smtp_url)
    host, port = parts.hostname or "", _smtp_port(email.smtp_url)
    tls = ssl.create_default_context()
    smtp: smtplib.SMTP
    if parts.scheme == "smtps":
        smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=tls)
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
    with smtp:
        smtp.ehlo()
        if parts.scheme == "smtp" and smtp.has_extn("starttls"):
            smtp.starttls(context=tls)
            smtp.ehlo()
        if parts.username:
            smtp.login(unquote(parts.username), unquote(parts.password or ""))
        refused = smtp.send_message(alert.email(email.sender, email.recipients))
    if refused:
        log.warning(f"alert {alert.key}: the mail server refused {sorted(refused)}")


def _describe_error(exc: Exception, destination: Destination) -> str:
    """One line naming the error, with the destination's URL (and its secrets) removed."""
    text = f"{type(exc).__name__}: {exc}"
    url = destination.url if isinstance(destination, Webhook) else destination.smtp_url
    parts = urlsplit(url)
    for secret in (url, parts.path, parts.password, unquote(parts.password or "")):
        if secret and len(secret) > 1:
            text = text.replace(secret, "***")
    return one_line(text, 200)
