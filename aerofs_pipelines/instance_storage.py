"""Instance storage chosen by the environment, so one ``dagster.yaml`` serves both setups.

``dagster_home/dagster.yaml`` names :class:`EnvSelectedStorage` as its ``storage: custom``
class. When the instance loads (webserver, daemon, code servers, run workers — each
process that rehydrates the instance ref), it becomes Dagster's own
``DagsterPostgresStorage`` if ``AEROFS_PG_URL`` or ``DAGSTER_PG_*`` is set
(:func:`aerofs_pipelines.settings.postgres_url`), else ``DagsterSqliteStorage`` under
``base_dir``. Nothing is generated at start-up and the stock ``dagster`` commands work.

Loading the storage also sets two Dagster event-log switches (unless already set) in
every process that loads the instance, which is where runs are created and events stored:

- ``DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS=1``: a single-run backfill over N
  batches stores one "materialization planned" event per asset instead of N (Dagster
  notes that such partitions are then shown missing rather than failed when the run
  fails; the nightly backfill re-runs both).
- ``DAGSTER_EVENT_BATCH_SIZE=100``: the per-partition materializations of one step are
  written in batches (one INSERT on PostgreSQL).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster._core.storage.base_storage import DagsterStorage
from dagster._serdes import ConfigurableClass, ConfigurableClassData

from aerofs_pipelines import settings

DAGSTER_EVENT_ENV = {
    "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "1",
    "DAGSTER_EVENT_BATCH_SIZE": "100",
}


def apply_event_env() -> None:
    """Set the event-log switches above, keeping any value already in the environment."""
    for name, value in DAGSTER_EVENT_ENV.items():
        os.environ.setdefault(name, value)


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
        url = settings.postgres_url()
        if url:
            from dagster_postgres import DagsterPostgresStorage

            return DagsterPostgresStorage(
                postgres_url=psycopg2_url(url),
                should_autocreate_tables=bool(config_value.get("should_autocreate_tables", True)),
                inst_data=inst_data,
            )
        from dagster._core.storage.sqlite_storage import DagsterSqliteStorage

        base_dir = config_value.get("base_dir") or str(settings.dagster_home())
        return DagsterSqliteStorage.from_local(base_dir=base_dir, inst_data=inst_data)
