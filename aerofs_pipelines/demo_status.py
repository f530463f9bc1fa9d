"""Wait until a batch is processed on the configured instance, then show what it produced.

Used by ``make run``: ``python -m aerofs_pipelines.demo_status BATCH --wait SECONDS``.
Exit 0 when the batch's ``batch_summary`` is materialized, 1 when its run failed or the
wait ran out (with the reason).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

import dagster as dg

from aerofs_pipelines import config
from aerofs_pipelines.lake.layout import manifest_key
from aerofs_pipelines.lake.storage import open_storage

SUMMARY = dg.AssetKey("batch_summary")
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def _summary_materialized(instance: dg.DagsterInstance, batch: str) -> bool:
    result = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=SUMMARY, asset_partitions=[batch]), limit=1
    )
    return bool(result.records)


def _failed_run(instance: dg.DagsterInstance, batch: str) -> dg.DagsterRun | None:
    runs = instance.get_runs(dg.RunsFilter(tags={"dagster/partition": batch}), limit=5)
    finished = runs and all(run.status in FINISHED for run in runs)
    if finished and runs[0].status != dg.DagsterRunStatus.SUCCESS:
        return runs[0]
    return None


def wait_for_batch(batch: str, wait_seconds: float) -> int:
    """Poll the instance until ``batch`` is processed; print the outcome; exit code."""
    instance = dg.DagsterInstance.get()
    deadline = time.monotonic() + wait_seconds
    while not _summary_materialized(instance, batch):
        failed = _failed_run(instance, batch)
        if failed is not None:
            print(
                f"run {failed.run_id} for batch {batch!r} ended {failed.status.value}; "
                "open it in the UI for the logs",
                file=sys.stderr,
            )
            return 1
        if time.monotonic() > deadline:
            print(f"batch {batch!r} not processed after {wait_seconds:.0f}s", file=sys.stderr)
            return 1
        time.sleep(1.0)
    lake = open_storage(config.lake_url())
    manifest = json.loads(lake.read_bytes(manifest_key(batch)))
    print(f"==> batch {batch!r} processed; lake: {config.lake_url()}")
    for entry in manifest.get("files", []):
        reason = f" ({entry['reason']})" if entry.get("reason") else ""
        print(f"    {entry.get('status', '?'):12} {entry.get('name', '?')}{reason}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aerofs_pipelines.demo_status")
    parser.add_argument("batch")
    parser.add_argument("--wait", type=float, default=300.0, metavar="SECONDS")
    args = parser.parse_args(argv)
    return wait_for_batch(args.batch, args.wait)


if __name__ == "__main__":
    raise SystemExit(main())
