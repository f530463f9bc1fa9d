"""Every setting of AeroFS Pipelines, read from the environment here and nowhere else.

Each setting is a function returning its typed, checked value, read at each call (so a
process sees the environment it runs in, and tests can set it). Everything has a default
that runs with nothing set (the embedded default). A value a setting does not accept
raises :class:`ConfigError`, one line naming the variable and what it accepts; the same
parsers serve every setting, so they agree on bad values.

:data:`SETTINGS` lists them all, with their group and help, for ``aerofs config``
(:func:`effective`) and the README's table. Only the standard library is imported.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

T = TypeVar("T")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_LANDING = "data/landing"
DEFAULT_LAKE = "data/lake"
DEFAULT_DAGSTER_HOME = "dagster_home"
EXECUTORS = ("in_process", "multiprocess", "k8s")


class ConfigError(ValueError):
    """A setting whose value is not one it accepts."""


# --------------------------------------------------------------------------- parsers


def _raw(name: str) -> str | None:
    """The variable's value, stripped; None when unset or blank."""
    value = os.environ.get(name, "").strip()
    return value or None


def is_set(name: str) -> bool:
    """Whether ``name`` has a (non-blank) value in the environment."""
    return _raw(name) is not None


def _bad(name: str, raw: str, accepts: str) -> ConfigError:
    return ConfigError(f"{name}={raw!r} is not {accepts}")


def _text(name: str, default: str | None = None) -> str | None:
    raw = _raw(name)
    return raw if raw is not None else default


def _int(name: str, default: int, *, least: int | None = None, most: int | None = None) -> int:
    raw = _raw(name)
    if raw is None:
        return default
    accepts = "an integer" + _bounds(least, most)
    try:
        value = int(raw)
    except ValueError:
        raise _bad(name, raw, accepts) from None
    if (least is not None and value < least) or (most is not None and value > most):
        raise _bad(name, raw, accepts)
    return value


def _float(
    name: str,
    default: float,
    *,
    least: float | None = None,
    most: float | None = None,
    positive: bool = False,
) -> float:
    raw = _raw(name)
    if raw is None:
        return default
    accepts = "a number" + (" > 0" if positive else _bounds(least, most))
    try:
        value = float(raw)
    except ValueError:
        raise _bad(name, raw, accepts) from None
    if value != value or value in (float("inf"), float("-inf")):  # nan, inf
        raise _bad(name, raw, accepts)
    if positive and value <= 0:
        raise _bad(name, raw, accepts)
    if (least is not None and value < least) or (most is not None and value > most):
        raise _bad(name, raw, accepts)
    return value


def _bounds(least: float | None, most: float | None) -> str:
    if least is not None and most is not None:
        return f" in [{least:g}, {most:g}]"
    if least is not None:
        return f" >= {least:g}"
    if most is not None:
        return f" <= {most:g}"
    return ""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _bool(name: str, default: bool | None) -> bool | None:
    raw = _raw(name)
    if raw is None:
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise _bad(name, raw, "a boolean (true/false, 1/0, yes/no, on/off)")


def _choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = _raw(name)
    if raw is None:
        return default
    if raw not in choices:
        raise _bad(name, raw, f"one of {', '.join(choices)}")
    return raw


def _list(name: str) -> tuple[str, ...]:
    raw = _raw(name) or ""
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _location(name: str, default: str) -> str:
    """A folder (made absolute) or ``s3://bucket/prefix`` (no trailing slash)."""
    raw = _raw(name) or default
    if raw.startswith("s3://"):
        if not raw[len("s3://") :].strip("/"):
            raise _bad(name, raw, "a folder or s3://bucket/prefix (the bucket is missing)")
        return raw.rstrip("/")
    if "://" in raw and not raw.startswith("file://"):
        raise _bad(name, raw, "a folder or s3://bucket/prefix")
    return str(Path(raw.removeprefix("file://")).expanduser().resolve())


# --------------------------------------------------------------------------- locations


def landing_url() -> str:
    """``AEROFS_LANDING``: the landing zone, an absolute folder or ``s3://bucket/prefix``."""
    return _location("AEROFS_LANDING", DEFAULT_LANDING)


def lake_url() -> str:
    """``AEROFS_LAKE``: the data lake, an absolute folder or ``s3://bucket/prefix``."""
    return _location("AEROFS_LAKE", DEFAULT_LAKE)


def datasets_path() -> str | None:
    """``AEROFS_DATASETS``: the dataset registry YAML (None: the packaged one)."""
    return _text("AEROFS_DATASETS")


def dagster_home() -> Path:
    """``DAGSTER_HOME``: the Dagster instance folder, absolute (default ``./dagster_home``)."""
    return Path(_text("DAGSTER_HOME", DEFAULT_DAGSTER_HOME) or DEFAULT_DAGSTER_HOME).resolve()


def export_dagster_home() -> Path:
    """Set ``DAGSTER_HOME`` for this process and its children (to its default when unset),
    so Dagster's own loaders find the same instance; the folder, created."""
    home = dagster_home()
    os.environ["DAGSTER_HOME"] = str(home)
    home.mkdir(parents=True, exist_ok=True)
    return home


# --------------------------------------------------------------------------- instance


def postgres_url() -> str | None:
    """The PostgreSQL URL when PostgreSQL instance storage is configured, else None.

    ``AEROFS_PG_URL`` wins; otherwise Dagster's ``DAGSTER_PG_*`` variables are assembled.
    """
    url = _text("AEROFS_PG_URL")
    if url:
        return url
    host = _text("DAGSTER_PG_HOST")
    if not host:
        return None
    user = os.environ.get("DAGSTER_PG_USERNAME", "postgres")
    password = os.environ.get("DAGSTER_PG_PASSWORD", "")
    db = os.environ.get("DAGSTER_PG_DB", "postgres")
    port = os.environ.get("DAGSTER_PG_PORT", "5432")
    user, password = quote(user, safe=""), quote(password, safe="")
    auth = f"{user}:{password}@" if password else f"{user}@"
    return f"postgresql://{auth}{host}:{port}/{db}"


def lake_catalog_url() -> str:
    """The SQLAlchemy URL of the lake's table catalog (pyiceberg's SQL catalog).

    ``AEROFS_LAKE_CATALOG_URL`` wins; else the instance's PostgreSQL database (its own
    schema, see ``lake.iceberg``); else ``$DAGSTER_HOME/lake/catalog.db`` (SQLite).
    """
    url = _text("AEROFS_LAKE_CATALOG_URL")
    if url:
        return url
    pg = postgres_url()
    if pg:
        scheme, _, rest = pg.partition("://")
        return f"postgresql+psycopg2://{rest}" if scheme in ("postgresql", "postgres") else pg
    return f"sqlite:///{dagster_home() / 'lake' / 'catalog.db'}"


def lake_snapshot_retention_days() -> float:
    """``AEROFS_LAKE_SNAPSHOT_RETENTION_DAYS``: how far back time travel reaches in the
    lake's tables; ``lake_maintenance`` expires older snapshots (default 7)."""
    return _float("AEROFS_LAKE_SNAPSHOT_RETENTION_DAYS", 7.0, least=0)


def pg_retry_seconds() -> float:
    """``AEROFS_PG_RETRY_SECONDS``: how long a process waits for PostgreSQL to come back
    (default 60; 0 turns the wait off)."""
    return _float("AEROFS_PG_RETRY_SECONDS", 60.0, least=0)


def executor_name() -> str:
    """``AEROFS_EXECUTOR``: how a run executes its steps (default ``in_process``)."""
    return _choice("AEROFS_EXECUTOR", "in_process", EXECUTORS)


def set_default_env(values: dict[str, str]) -> None:
    """Set variables of this process that are not set yet (Dagster's own switches)."""
    for name, value in values.items():
        os.environ.setdefault(name, value)


# --------------------------------------------------------------------------- S3


def s3_endpoint_url() -> str | None:
    """``AWS_ENDPOINT_URL``: an S3-compatible store (MinIO, moto), if set."""
    return _text("AWS_ENDPOINT_URL")


def aws_region() -> str | None:
    """``AWS_REGION`` (or ``AWS_DEFAULT_REGION``), if set."""
    return _text("AWS_REGION") or _text("AWS_DEFAULT_REGION")


def aws_max_attempts() -> int:
    """``AWS_MAX_ATTEMPTS``: S3 calls per request before an error (default 5)."""
    return _int("AWS_MAX_ATTEMPTS", 5, least=1)


def aws_retry_mode() -> str:
    """``AWS_RETRY_MODE``: botocore's retry mode (default ``standard``)."""
    return _choice("AWS_RETRY_MODE", "standard", ("standard", "adaptive", "legacy"))


# --------------------------------------------------------------------------- landing


def landing_queue() -> str | None:
    """``AEROFS_LANDING_QUEUE``: the SQS queue (URL or name) of the landing bucket's
    notifications, if any."""
    return _text("AEROFS_LANDING_QUEUE")


def sensor_max_per_tick() -> int:
    """``AEROFS_SENSOR_MAX_PER_TICK``: new batches per sensor tick (default 1000)."""
    return _int("AEROFS_SENSOR_MAX_PER_TICK", 1000, least=1)


def sweep_interval() -> float:
    """``AEROFS_SWEEP_INTERVAL``: seconds between reconciliation sweeps (default 60, or
    3600 with a queue)."""
    return _float("AEROFS_SWEEP_INTERVAL", 3600.0 if landing_queue() else 60.0, least=0)


def sensor_backfill_threshold() -> int:
    """``AEROFS_SENSOR_BACKFILL_THRESHOLD``: more new batches than this in one tick are
    launched as one backfill (default 20)."""
    return _int("AEROFS_SENSOR_BACKFILL_THRESHOLD", 20, least=0)


def ingest_lease_seconds() -> float:
    """``AEROFS_INGEST_LEASE_SECONDS``: after how long another ``aerofs ingest`` of the
    same id may take over the S3 lease of one that died (default 3600)."""
    return _float("AEROFS_INGEST_LEASE_SECONDS", 3600.0, positive=True)


def max_upload_bytes() -> int:
    """``AEROFS_MAX_UPLOAD_BYTES``: the largest file one HTTP upload may land (5 GiB)."""
    return _int("AEROFS_MAX_UPLOAD_BYTES", 5 * 1024**3, least=1)


def upload_expiry_hours() -> float:
    """``AEROFS_UPLOAD_EXPIRY_HOURS``: an HTTP upload left incomplete this long is
    abandoned; ``lake_maintenance`` removes what it landed (default 24)."""
    return _float("AEROFS_UPLOAD_EXPIRY_HOURS", 24.0, positive=True)


def api_token() -> str | None:
    """``AEROFS_TOKEN``: the API token ``aerofs ingest --url`` sends (else --token-stdin)."""
    return _text("AEROFS_TOKEN")


# --------------------------------------------------------------------------- gateway


def production() -> bool:
    """``AEROFS_ENV=production``: secrets must be given, never generated."""
    raw = _raw("AEROFS_ENV")
    if raw is None:
        return False
    if raw.lower() not in ("embedded", "production"):
        raise _bad("AEROFS_ENV", raw, "one of embedded, production")
    return raw.lower() == "production"


def secret_key() -> str | None:
    """``AEROFS_SECRET_KEY``: the session signing key, if set."""
    return _text("AEROFS_SECRET_KEY")


def admin_user() -> str:
    """``AEROFS_ADMIN_USER``: the first admin's name (default ``admin``)."""
    return _text("AEROFS_ADMIN_USER", "admin") or "admin"


def admin_password() -> str | None:
    """``AEROFS_ADMIN_PASSWORD``: the first admin's password, if given (not stripped)."""
    return os.environ.get("AEROFS_ADMIN_PASSWORD") or None


def session_hours() -> float:
    """``AEROFS_SESSION_HOURS``: absolute session lifetime (default 12)."""
    return _float("AEROFS_SESSION_HOURS", 12.0, positive=True)


def session_idle_minutes() -> float:
    """``AEROFS_SESSION_IDLE_MINUTES``: idle expiry (default 0: none)."""
    return _float("AEROFS_SESSION_IDLE_MINUTES", 0.0, least=0)


def identity_cache_seconds() -> float:
    """``AEROFS_IDENTITY_CACHE_SECONDS``: how long a resolved credential is cached
    (default 5; 0 turns the cache off; at most 60)."""
    return _float("AEROFS_IDENTITY_CACHE_SECONDS", 5.0, least=0, most=60)


def login_max_failures() -> int:
    """``AEROFS_LOGIN_MAX_FAILURES``: failed logins of a user name before a lockout."""
    return _int("AEROFS_LOGIN_MAX_FAILURES", 5, least=1)


def login_lockout_seconds() -> int:
    """``AEROFS_LOGIN_LOCKOUT_SECONDS``: the first lockout, doubling up to 15 minutes."""
    return _int("AEROFS_LOGIN_LOCKOUT_SECONDS", 30, least=1)


def login_address_max_failures() -> int:
    """``AEROFS_LOGIN_ADDRESS_MAX_FAILURES``: failed logins from one address in its
    window (default 30; 0 turns the per-address limit off)."""
    return _int("AEROFS_LOGIN_ADDRESS_MAX_FAILURES", 30, least=0)


def login_address_window_seconds() -> int:
    """``AEROFS_LOGIN_ADDRESS_WINDOW_SECONDS``: the per-address window (default 900)."""
    return _int("AEROFS_LOGIN_ADDRESS_WINDOW_SECONDS", 900, least=1)


def audit_retention_days() -> int:
    """``AEROFS_AUDIT_RETENTION_DAYS``: days audit records are kept (default 365;
    0 keeps them forever)."""
    return _int("AEROFS_AUDIT_RETENTION_DAYS", 365, least=0)


def trusted_user_header() -> str | None:
    """``AEROFS_TRUSTED_USER_HEADER``: SSO mode's user header (e.g. ``X-Forwarded-User``)."""
    return _text("AEROFS_TRUSTED_USER_HEADER")


def trusted_proxies() -> tuple[Network, ...]:
    """``AEROFS_TRUSTED_PROXIES``: addresses or CIDRs of the reverse proxies believed."""
    networks = []
    for item in _list("AEROFS_TRUSTED_PROXIES"):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise _bad("AEROFS_TRUSTED_PROXIES", item, "an IP address or CIDR") from None
    return tuple(networks)


def allowed_origins() -> frozenset[str]:
    """``AEROFS_ALLOWED_ORIGINS``: origins besides the gateway's own allowed to write
    with a session cookie (``https://host[:port]``)."""
    origins = set()
    for item in _list("AEROFS_ALLOWED_ORIGINS"):
        parts = urlsplit(item)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise _bad("AEROFS_ALLOWED_ORIGINS", item, "an origin such as https://host:port")
        origins.add(item.rstrip("/"))
    return frozenset(origins)


def secure_cookies() -> bool | None:
    """``AEROFS_SECURE_COOKIES``: force the cookies' Secure flag (None: over https)."""
    return _bool("AEROFS_SECURE_COOKIES", None)


def max_body_bytes() -> int:
    """``AEROFS_MAX_BODY_BYTES``: the request body and WebSocket frame cap (2 MiB)."""
    return _int("AEROFS_MAX_BODY_BYTES", 2 * 1024 * 1024, least=1024)


def serve_host() -> str:
    """``AEROFS_HOST``: the interface ``aerofs serve`` listens on (default 127.0.0.1)."""
    return _text("AEROFS_HOST", "127.0.0.1") or "127.0.0.1"


def serve_port() -> int:
    """``AEROFS_PORT``: the port ``aerofs serve`` listens on (default 3000)."""
    return _int("AEROFS_PORT", 3000, least=1, most=65535)


# --------------------------------------------------------------------------- alerts


def _url(
    name: str, schemes: tuple[str, ...], accepts: str, *, secret_path: bool = False
) -> str | None:
    """A URL of one of ``schemes`` with a host (and a numeric port, if any). A bad value
    is shown without its password, or without its path when the path is the secret."""
    raw = _raw(name)
    if raw is None:
        return None
    parts = urlsplit(raw)
    shown = _masked_url(raw) or raw
    if secret_path:
        shown = f"{parts.scheme}://{parts.hostname}/..." if parts.hostname else "***"
    try:
        port = parts.port  # raises on a port that is not a number
    except ValueError:
        port = -1
    if parts.scheme not in schemes or not parts.hostname or port == -1:
        raise _bad(name, shown, accepts)
    return raw


def alert_webhook_url() -> str | None:
    """``AEROFS_ALERT_WEBHOOK_URL``: where alerts are POSTed as JSON (Slack's incoming
    webhooks get Slack's payload), if set. A secret: such URLs carry their token."""
    return _url("AEROFS_ALERT_WEBHOOK_URL", ("http", "https"), "an http(s) URL", secret_path=True)


def alert_email_to() -> tuple[str, ...]:
    """``AEROFS_ALERT_EMAIL_TO``: comma-separated addresses alerts are mailed to (with
    ``AEROFS_SMTP_URL``)."""
    found = _list("AEROFS_ALERT_EMAIL_TO")
    for item in found:
        local, _, domain = item.partition("@")
        if not local or not domain or any(c.isspace() or c in "<>," for c in item):
            raise _bad("AEROFS_ALERT_EMAIL_TO", item, "an e-mail address")
    return found


def smtp_url() -> str | None:
    """``AEROFS_SMTP_URL``: the mail server for alerts, ``smtp://[user:password@]host[:port]``
    (STARTTLS when offered) or ``smtps://`` (TLS), if set."""
    return _url("AEROFS_SMTP_URL", ("smtp", "smtps"), "smtp://host:port or smtps://host:port")


def alert_email_from() -> str:
    """``AEROFS_ALERT_EMAIL_FROM``: the sender of alert e-mails (default
    ``aerofs@<hostname>``)."""
    return _text("AEROFS_ALERT_EMAIL_FROM") or f"aerofs@{socket.gethostname() or 'localhost'}"


def public_url() -> str | None:
    """``AEROFS_PUBLIC_URL``: the gateway's address as users reach it
    (``https://aerofs.example.com``), for links in alerts; unset: relative links."""
    url = _url("AEROFS_PUBLIC_URL", ("http", "https"), "an http(s) URL")
    return url.rstrip("/") if url else None


# --------------------------------------------------------------------------- listing


@dataclass(frozen=True)
class Setting:
    """One setting as ``aerofs config`` shows it."""

    name: str
    group: str
    help: str
    read: Callable[[], Any]
    secret: bool = False
    also: tuple[str, ...] = ()
    """Other variables that feed it (``DAGSTER_PG_*``, ``AWS_DEFAULT_REGION``)."""


def _masked_url(url: str | None) -> str | None:
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "AEROFS_LANDING", "locations", "landing zone: folder or s3://bucket/prefix", landing_url
    ),
    Setting("AEROFS_LAKE", "locations", "data lake: folder or s3://bucket/prefix", lake_url),
    Setting(
        "AEROFS_DATASETS", "locations", "dataset registry YAML (unset: packaged)", datasets_path
    ),
    Setting("DAGSTER_HOME", "locations", "the Dagster instance folder", dagster_home),
    Setting(
        "AEROFS_PG_URL",
        "instance",
        "PostgreSQL instance storage (unset: SQLite under DAGSTER_HOME)",
        lambda: _masked_url(postgres_url()),
        secret=True,
        also=("DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USERNAME", "DAGSTER_PG_DB"),
    ),
    Setting(
        "AEROFS_PG_RETRY_SECONDS", "instance", "wait for PostgreSQL to return", pg_retry_seconds
    ),
    Setting(
        "AEROFS_LAKE_SNAPSHOT_RETENTION_DAYS",
        "instance",
        "lake table snapshots kept (days)",
        lake_snapshot_retention_days,
    ),
    Setting(
        "AEROFS_LAKE_CATALOG_URL",
        "instance",
        "the lake's Iceberg catalog (unset: the instance's database)",
        lambda: _masked_url(lake_catalog_url()),
        secret=True,
    ),
    Setting("AEROFS_EXECUTOR", "instance", f"step executor: {', '.join(EXECUTORS)}", executor_name),
    Setting("AWS_ENDPOINT_URL", "s3", "S3-compatible endpoint", s3_endpoint_url),
    Setting("AWS_REGION", "s3", "S3 region", aws_region, also=("AWS_DEFAULT_REGION",)),
    Setting("AWS_MAX_ATTEMPTS", "s3", "S3 attempts per call", aws_max_attempts),
    Setting("AWS_RETRY_MODE", "s3", "botocore retry mode", aws_retry_mode),
    Setting("AEROFS_LANDING_QUEUE", "sensor", "SQS queue of landing notifications", landing_queue),
    Setting("AEROFS_SENSOR_MAX_PER_TICK", "sensor", "new batches per tick", sensor_max_per_tick),
    Setting("AEROFS_SWEEP_INTERVAL", "sensor", "seconds between sweeps", sweep_interval),
    Setting(
        "AEROFS_SENSOR_BACKFILL_THRESHOLD",
        "sensor",
        "more new batches than this: one backfill",
        sensor_backfill_threshold,
    ),
    Setting("AEROFS_INGEST_LEASE_SECONDS", "ingest", "S3 ingest lease", ingest_lease_seconds),
    Setting("AEROFS_TOKEN", "ingest", "API token of ingest --url", api_token, secret=True),
    Setting("AEROFS_MAX_UPLOAD_BYTES", "ingest", "largest HTTP upload", max_upload_bytes),
    Setting(
        "AEROFS_UPLOAD_EXPIRY_HOURS", "ingest", "incomplete uploads removed", upload_expiry_hours
    ),
    Setting(
        "AEROFS_ENV",
        "gateway",
        "embedded or production",
        lambda: "production" if production() else "embedded",
    ),
    Setting("AEROFS_SECRET_KEY", "gateway", "session signing key", secret_key, secret=True),
    Setting("AEROFS_ADMIN_USER", "gateway", "first admin's name", admin_user),
    Setting("AEROFS_ADMIN_PASSWORD", "gateway", "first admin's password", admin_password, True),
    Setting("AEROFS_SESSION_HOURS", "gateway", "session lifetime", session_hours),
    Setting(
        "AEROFS_SESSION_IDLE_MINUTES", "gateway", "idle expiry (0: none)", session_idle_minutes
    ),
    Setting("AEROFS_IDENTITY_CACHE_SECONDS", "gateway", "credential cache", identity_cache_seconds),
    Setting("AEROFS_LOGIN_MAX_FAILURES", "gateway", "failures before lockout", login_max_failures),
    Setting("AEROFS_LOGIN_LOCKOUT_SECONDS", "gateway", "first lockout", login_lockout_seconds),
    Setting(
        "AEROFS_LOGIN_ADDRESS_MAX_FAILURES",
        "gateway",
        "failures per address (0: off)",
        login_address_max_failures,
    ),
    Setting(
        "AEROFS_LOGIN_ADDRESS_WINDOW_SECONDS",
        "gateway",
        "per-address window",
        login_address_window_seconds,
    ),
    Setting(
        "AEROFS_AUDIT_RETENTION_DAYS",
        "gateway",
        "audit retention (0: forever)",
        audit_retention_days,
    ),
    Setting("AEROFS_TRUSTED_USER_HEADER", "gateway", "SSO user header", trusted_user_header),
    Setting(
        "AEROFS_TRUSTED_PROXIES",
        "gateway",
        "proxies whose forwarded headers are believed",
        lambda: [str(n) for n in trusted_proxies()],
    ),
    Setting(
        "AEROFS_ALLOWED_ORIGINS",
        "gateway",
        "extra origins for cookie writes",
        lambda: sorted(allowed_origins()),
    ),
    Setting(
        "AEROFS_SECURE_COOKIES", "gateway", "Secure cookies (unset: over https)", secure_cookies
    ),
    Setting("AEROFS_MAX_BODY_BYTES", "gateway", "request body cap", max_body_bytes),
    Setting("AEROFS_HOST", "serve", "interface of aerofs serve", serve_host),
    Setting("AEROFS_PORT", "serve", "port of aerofs serve", serve_port),
    Setting(
        "AEROFS_ALERT_WEBHOOK_URL",
        "alerts",
        "webhook for alerts (JSON; Slack's format for hooks.slack.com)",
        alert_webhook_url,
        secret=True,
    ),
    Setting(
        "AEROFS_ALERT_EMAIL_TO",
        "alerts",
        "alert e-mail recipients (with AEROFS_SMTP_URL)",
        lambda: list(alert_email_to()),
    ),
    Setting(
        "AEROFS_SMTP_URL",
        "alerts",
        "mail server: smtp://[user:password@]host:port or smtps://",
        lambda: _masked_url(smtp_url()),
        secret=True,
    ),
    Setting("AEROFS_ALERT_EMAIL_FROM", "alerts", "sender of alert e-mails", alert_email_from),
    Setting("AEROFS_PUBLIC_URL", "alerts", "the UI's address, for links in alerts", public_url),
)

_MASKED_BY_READER = ("AEROFS_PG_URL", "AEROFS_SMTP_URL")
"""Secret URLs shown with only their password masked (their reader masks it)."""


@dataclass(frozen=True)
class Effective:
    """A setting's value now, and where it came from."""

    setting: Setting
    value: Any
    source: str
    """``environment`` or ``default``."""
    error: str | None = None


def effective() -> list[Effective]:
    """Every setting with its value (secrets masked) and its source; a bad value is
    reported in ``error`` rather than raised, so all of them are shown at once."""
    out = []
    for setting in SETTINGS:
        names = (setting.name, *setting.also)
        source = "environment" if any(is_set(n) for n in names) else "default"
        try:
            value = setting.read()
        except ConfigError as exc:
            out.append(Effective(setting, None, source, str(exc)))
            continue
        if setting.secret and value is not None and setting.name not in _MASKED_BY_READER:
            value = "***"
        out.append(Effective(setting, value, source))
    return out
