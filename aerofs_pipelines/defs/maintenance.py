"""``lake_maintenance``: the daily upkeep of the lake's Iceberg tables.

Every batch's commit rewrites its table's metadata, which lists every snapshot, so a
table that only grows makes each commit dearer (docs/capacity.md). The job expires the
snapshots older than ``AEROFS_LAKE_SNAPSHOT_RETENTION_DAYS`` (keeping the newest
:data:`KEEP_LAST` whatever their age) in every table of the catalog, then removes the
files of each table's folder that nothing references any more and that are older than
``lake.orphans.ORPHAN_MIN_AGE`` (never a data file written before its table existed: a
warning names ``aerofs tables adopt``, which brings such batches in). Alongside, it
removes the HTTP uploads of the landing zone left incomplete for
``AEROFS_UPLOAD_EXPIRY_HOURS`` (:func:`remove_abandoned`). The schedule runs it daily at
03:00 UTC, after the nightly backfill.
"""

import datetime as dt

import dagster as dg

from aerofs_pipelines import config
from aerofs_pipelines.defs.resources import LakeStore, LakeTables
from aerofs_pipelines.lake.iceberg import NAMESPACE, all_tables, expire_snapshots
from aerofs_pipelines.lake.layout import TABLES
from aerofs_pipelines.lake.orphans import ADOPT_COMMAND, ORPHAN_MIN_AGE, remove_orphan_files
from aerofs_pipelines.lake.storage import open_storage
from aerofs_pipelines.landing.uploads import remove_abandoned

__all__ = [
    "KEEP_LAST",
    "MAINTENANCE_CRON",
    "expire_lake_snapshots",
    "lake_maintenance",
    "lake_maintenance_job",
    "remove_abandoned_uploads",
    "remove_lake_orphan_files",
]

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


@dg.op(
    description="Remove the files of each lake table's folder that no snapshot references "
    "(after expiry), once they are older than three days; data files older than their "
    "table are kept (aerofs tables adopt)."
)
def remove_lake_orphan_files(
    context: dg.OpExecutionContext, expired: int, lake: LakeStore, lake_tables: LakeTables
) -> int:
    older_than = dt.datetime.now(dt.UTC) - ORPHAN_MIN_AGE
    total = 0
    for table in all_tables(lake_tables.catalog()):
        folder = f"{TABLES}/{table.name()[-1]}"
        if table.location().rstrip("/") != lake.storage.uri(folder):
            context.log.warning(
                f"{'.'.join(table.name())} lives at {table.location()}, outside this lake "
                f"({lake.storage.uri(folder)}): its files are left alone"
            )
            continue
        sweep = remove_orphan_files(table, lake.storage, folder, older_than=older_than)
        total += sweep.removed
        context.log.info(
            f"{sweep.table}: {sweep.removed} unreferenced files removed "
            f"({sweep.removed_bytes} bytes), {sweep.kept_young} younger ones kept, "
            f"{sweep.referenced} referenced"
        )
        if sweep.kept_pre_table:
            context.log.warning(
                f"{sweep.table}: {sweep.kept_pre_table} data files under "
                f"{lake.storage.uri(folder)} were written before the table existed and "
                "nothing references them (a lake from before the tables); they are kept: "
                f"run `{ADOPT_COMMAND}` to bring their batches into the table"
            )
    return total


@dg.op(
    description="Remove the HTTP uploads of the landing zone left incomplete for "
    "AEROFS_UPLOAD_EXPIRY_HOURS: their files and records, staged files, S3's unfinished "
    "multipart uploads."
)
def remove_abandoned_uploads(context: dg.OpExecutionContext) -> int:
    hours = config.upload_expiry_hours()
    landing = open_storage(config.landing_url())
    removed = remove_abandoned(landing, older_than=dt.timedelta(hours=hours))
    for batch_id in removed.batches:
        context.log.info(f"{landing.uri(batch_id)}: upload abandoned for {hours:g} hours, removed")
    context.log.info(
        f"{landing.uri()}: {len(removed.batches)} abandoned uploads removed "
        f"({removed.files} files), {removed.staged} staged files, "
        f"{removed.multipart} unfinished multipart uploads"
    )
    context.add_output_metadata(
        {
            "landing": landing.uri(),
            "batches": removed.batches,
            "files": removed.files,
            "staged": removed.staged,
            "multipart": removed.multipart,
        }
    )
    return len(removed.batches)


@dg.job(
    description="Upkeep of the lake's Iceberg tables: expire old snapshots, then remove "
    "the files nothing references any more; and remove abandoned HTTP uploads."
)
def lake_maintenance_job() -> None:
    remove_lake_orphan_files(expire_lake_snapshots())
    remove_abandoned_uploads()


lake_maintenance = dg.ScheduleDefinition(
    name="lake_maintenance",
    job=lake_maintenance_job,
    cron_schedule=MAINTENANCE_CRON,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily upkeep of the lake's Iceberg tables (snapshot expiry, orphan files) "
    "and of the landing zone (abandoned HTTP uploads).",
)
