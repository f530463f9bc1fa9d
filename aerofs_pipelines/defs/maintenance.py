"""``lake_maintenance``: the daily upkeep of the lake's Iceberg tables.

Every batch's commit rewrites its table's metadata, which lists every snapshot, so a
table that only grows makes each commit dearer (docs/capacity.md). The job expires the
snapshots older than ``AEROFS_LAKE_SNAPSHOT_RETENTION_DAYS`` (keeping the newest
:data:`KEEP_LAST` whatever their age) in every table of the catalog; the schedule runs it
daily at 03:00 UTC, after the nightly backfill.
"""

import datetime as dt

import dagster as dg

from aerofs_pipelines import config
from aerofs_pipelines.defs.resources import LakeTables
from aerofs_pipelines.lake.iceberg import NAMESPACE, expire_snapshots

__all__ = ["KEEP_LAST", "MAINTENANCE_CRON", "lake_maintenance", "lake_maintenance_job"]

MAINTENANCE_CRON = "0 3 * * *"
KEEP_LAST = 10
"""Snapshots kept whatever their age: time travel to the last batches stays possible."""


@dg.op(
    description="Expire old snapshots of every lake table (AEROFS_LAKE_SNAPSHOT_RETENTION_DAYS)."
)
def expire_lake_snapshots(context: dg.OpExecutionContext, lake_tables: LakeTables) -> int:
    catalog = lake_tables.catalog()
    if (NAMESPACE,) not in catalog.list_namespaces():
        context.log.info("no lake tables yet")
        return 0
    days = config.lake_snapshot_retention_days()
    older_than = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    total = 0
    for ident in sorted(catalog.list_tables(NAMESPACE)):
        dataset = ident[-1]
        expired = expire_snapshots(catalog, dataset, older_than=older_than, keep_last=KEEP_LAST)
        total += expired
        context.log.info(f"{'.'.join(ident)}: {expired} snapshots older than {days:g} days expired")
    return total


@dg.job(description="Upkeep of the lake's Iceberg tables: expire old snapshots.")
def lake_maintenance_job() -> None:
    expire_lake_snapshots()


lake_maintenance = dg.ScheduleDefinition(
    name="lake_maintenance",
    job=lake_maintenance_job,
    cron_schedule=MAINTENANCE_CRON,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily upkeep of the lake's Iceberg tables (snapshot expiry).",
)
