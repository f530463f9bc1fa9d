"""Instance storage chosen by the environment, so one ``dagster.yaml`` serves both setups.

``dagster_home/dagster.yaml`` names :class:`EnvSelectedStorage` as its ``storage: custom``
class. When the instance loads (webserver, daemon, code servers, run workers — each
process that rehydrates the instance ref), it becomes Dagster's own
``DagsterPostgresStorage`` if ``AEROFS_PG_URL`` or ``DAGSTER_PG_*`` is set
(:func:`aerofs_pipelines.config.postgres_url`), else ``DagsterSqliteStorage`` under
``base_dir``. Nothing is generated at start-up and the stock ``dagster`` commands work.

Loading the storage also sets two Dagster event-log switches (unless already set) in
every process that loads the instance, which is where runs are created and events stored:

- ``DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS=1``: a single-run backfill over N
  batches stores one "materialization planned" event per asset instead of N (Dagster
  notes that such partitions are then shown missing rather than failed when the run
  fails; the nightly backfill re-runs both).
- ``DAGSTER_EVENT_BATCH_SIZE=100``: the per-partition materializations of one step are
  written in batches (one INSERT on PostgreSQL).

On PostgreSQL every engine of the storage gets a connect-retry window
(:class:`ConnectRetry`, ``AEROFS_PG_RETRY_SECONDS``, default 60): dagster-postgres opens a
connection per operation and gives up after ~6 s of retries, so a database restart or
failover in the middle of a run would fail the step that was logging an event (as a step
failure, which run retries do not re-run). With the window, every process (run worker,
daemon, code server) waits for the database to come back, with backoff, and carries on.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Mapping
from typing import Any

import dagster as dg

from aerofs_pipelines import config
from aerofs_pipelines._dagster_compat import (
    ConfigurableClass,
    ConfigurableClassData,
    DagsterStorage,
    LocalComputeLogManager,
    sqlite_storage,
)

DAGSTER_EVENT_ENV = {
    "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "1",
    "DAGSTER_EVENT_BATCH_SIZE": "100",
}


def apply_event_env() -> None:
    """Set the event-log switches above, keeping any value already in the environment."""
    config.set_default_env(DAGSTER_EVENT_ENV)


_NOT_TRANSIENT = ("authentication failed", "password", "does not exist", "no pg_hba.conf")
"""Connection errors that waiting does not fix: fail at once."""

log = logging.getLogger("aerofs.instance_storage")


class ConnectRetry:
    """SQLAlchemy ``do_connect`` hook: retry a refused connection with backoff, up to a
    window counted from the first failure of the current outage.

    The outage clock is shared by every connection of the engines it is attached to, so
    the retries dagster-postgres adds on top fail fast once the window is spent instead
    of multiplying it. A successful connection ends the outage.
    """

    def __init__(self, window: float, *, max_delay: float = 2.0) -> None:
        self.window = window
        self.max_delay = max_delay
        self._down_since: float | None = None
        self._lock = threading.Lock()

    def __call__(self, dialect: Any, conn_rec: Any, cargs: Any, cparams: Any) -> Any:
        delay = 0.1
        while True:
            try:
                conn = dialect.connect(*cargs, **cparams)
            except dialect.loaded_dbapi.OperationalError as exc:
                text = str(exc).lower()
                if any(marker in text for marker in _NOT_TRANSIENT):
                    raise
                now = time.monotonic()
                with self._lock:
                    if self._down_since is None:
                        self._down_since = now
                        log.warning(
                            "PostgreSQL unreachable (%s); retrying for up to %.0f s",
                            " ".join(str(exc).split())[:200],
                            self.window,
                        )
                    left = self._down_since + self.window - now
                if left <= 0:
                    raise
                time.sleep(min(delay * random.uniform(0.5, 1.5), left))
                delay = min(delay * 2, self.max_delay)
                continue
            with self._lock:
                if self._down_since is not None:
                    log.warning(
                        "PostgreSQL reachable again after %.1f s",
                        time.monotonic() - self._down_since,
                    )
                self._down_since = None
            return conn


def add_connect_retry(storage: DagsterStorage, window: float | None = None) -> ConnectRetry | None:
    """Attach one :class:`ConnectRetry` to the engines of a dagster-postgres storage."""
    import sqlalchemy as sa

    window = config.pg_retry_seconds() if window is None else window
    if window <= 0:
        return None
    hook = ConnectRetry(window)
    for part in ("_run_storage", "_event_log_storage", "_schedule_storage"):
        engine = getattr(getattr(storage, part, None), "_engine", None)
        if isinstance(engine, sa.engine.Engine):
            sa.event.listen(engine, "do_connect", hook)
    return hook


def psycopg2_url(url: str) -> str:
    """``postgresql://…`` with dagster-postgres's driver (SQLAlchemy 2.1 defaults to psycopg 3)."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg2://" + url[len(scheme) :]
    return url


class EnvSelectedStorage(DagsterStorage, ConfigurableClass):
    """Not instantiated: :meth:`from_config_value` returns Dagster's SQLite or Postgres storage."""

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        """``base_dir`` for SQLite; ``should_autocreate_tables`` for PostgreSQL."""
        return {
            "base_dir": dg.Field(dg.StringSource, is_required=False),
            "should_autocreate_tables": dg.Field(bool, is_required=False, default_value=True),
        }

    @classmethod
    def from_config_value(  # type: ignore[override]  # returns Dagster's own storage class
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> DagsterStorage:
        """PostgreSQL when configured by the environment, else SQLite under ``base_dir``."""
        apply_event_env()
        url = config.postgres_url()
        if url:
            from dagster_postgres import DagsterPostgresStorage

            storage = DagsterPostgresStorage(
                postgres_url=psycopg2_url(url),
                should_autocreate_tables=bool(config_value.get("should_autocreate_tables", True)),
                inst_data=inst_data,
            )
            add_connect_retry(storage)
            return storage
        base_dir = config_value.get("base_dir") or str(config.dagster_home())
        return sqlite_storage(base_dir, inst_data)


COMPUTE_LOGS_FOLDER = "compute_logs"


class LocalComputeLogs(LocalComputeLogManager):
    """Not instantiated: :meth:`from_config_value` returns Dagster's own
    ``LocalComputeLogManager`` under ``<DAGSTER_HOME>/compute_logs``.

    Dagster's default puts compute logs in ``<DAGSTER_HOME>/storage``, a folder the
    webserver's ``/logs`` route serves from; naming a folder of their own keeps anything
    else that lands under ``DAGSTER_HOME`` out of reach of that route.
    """

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        """``base_dir`` overrides the folder."""
        return {"base_dir": dg.Field(dg.StringSource, is_required=False)}

    @classmethod
    def from_config_value(  # type: ignore[override]  # returns Dagster's own class
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> LocalComputeLogManager:
        """The manager for ``base_dir``, by default ``<DAGSTER_HOME>/compute_logs``."""
        base_dir = config_value.get("base_dir") or str(config.dagster_home() / COMPUTE_LOGS_FOLDER)
        return LocalComputeLogManager(base_dir=base_dir, inst_data=inst_data)
