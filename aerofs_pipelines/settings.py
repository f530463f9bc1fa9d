"""Configuration from the environment; every default runs with nothing set.

One place reads the variables of DESIGN.md, so the CLI, the Dagster definitions and
the gateway agree on them:

- ``AEROFS_LANDING`` / ``AEROFS_LAKE``: a folder (default ``./data/landing``,
  ``./data/lake``) or ``s3://bucket/prefix``; ``AWS_ENDPOINT_URL`` for S3-compatible stores.
- ``DAGSTER_HOME`` (default ``./dagster_home``): SQLite instance unless
  ``AEROFS_PG_URL`` (or Dagster's ``DAGSTER_PG_*``) selects PostgreSQL.
- ``AEROFS_SECRET_KEY``: session signing key (required outside the embedded default).
- ``AEROFS_DATASETS``: the dataset registry YAML (default: the packaged one).
- ``AEROFS_EXECUTOR``: how a run executes its steps: ``in_process`` (default),
  ``multiprocess`` or ``k8s`` (a Kubernetes Job per step; needs the ``k8s`` extra).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

DEFAULT_LANDING = "data/landing"
DEFAULT_LAKE = "data/lake"
DEFAULT_DAGSTER_HOME = "dagster_home"


def _location(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip() or default
    if "://" in value:
        return value.rstrip("/")
    return str(Path(value).expanduser().resolve())


def landing_url() -> str:
    """The landing zone: an absolute folder path or ``s3://bucket/prefix``."""
    return _location("AEROFS_LANDING", DEFAULT_LANDING)


def lake_url() -> str:
    """The data lake: an absolute folder path or ``s3://bucket/prefix``."""
    return _location("AEROFS_LAKE", DEFAULT_LAKE)


def dagster_home() -> Path:
    """The Dagster instance folder (``DAGSTER_HOME``), absolute."""
    return Path(os.environ.get("DAGSTER_HOME", "").strip() or DEFAULT_DAGSTER_HOME).resolve()


def postgres_url() -> str | None:
    """The PostgreSQL URL when PostgreSQL instance storage is configured, else None.

    ``AEROFS_PG_URL`` wins; otherwise Dagster's ``DAGSTER_PG_*`` variables are assembled.
    """
    url = os.environ.get("AEROFS_PG_URL", "").strip()
    if url:
        return url
    host = os.environ.get("DAGSTER_PG_HOST", "").strip()
    if not host:
        return None
    user = os.environ.get("DAGSTER_PG_USERNAME", "postgres")
    password = os.environ.get("DAGSTER_PG_PASSWORD", "")
    db = os.environ.get("DAGSTER_PG_DB", "postgres")
    port = os.environ.get("DAGSTER_PG_PORT", "5432")
    user, password = quote(user, safe=""), quote(password, safe="")
    auth = f"{user}:{password}@" if password else f"{user}@"
    return f"postgresql://{auth}{host}:{port}/{db}"


def s3_endpoint_url() -> str | None:
    """``AWS_ENDPOINT_URL`` (S3-compatible stores such as MinIO or moto), if set."""
    return os.environ.get("AWS_ENDPOINT_URL", "").strip() or None


EXECUTORS = ("in_process", "multiprocess", "k8s")


def executor_name() -> str:
    """``AEROFS_EXECUTOR``: one of ``EXECUTORS`` (default ``in_process``)."""
    name = os.environ.get("AEROFS_EXECUTOR", "").strip() or "in_process"
    if name not in EXECUTORS:
        raise ValueError(f"AEROFS_EXECUTOR={name!r} is not one of {', '.join(EXECUTORS)}")
    return name
