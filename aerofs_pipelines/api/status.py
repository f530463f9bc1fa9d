"""Where a batch is, from landing to processed: the landing zone, its runs, its manifest.

``state``:

- ``uploading``: files are arriving over HTTP, the batch is not complete;
- ``landed``: complete (``_SUCCESS``), no run has picked it up yet;
- ``processing``: its newest run is queued or running;
- ``processed``: its newest run succeeded;
- ``failed``: its newest run failed or was canceled.

A batch's runs are those tagged with its partition (the sensor's run, a re-execution, a
backfill of single partitions) and the run that last planned its ``batch_manifest`` (a
backlog's single-run backfill covers many batches with one run).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from dagster import AssetKey, DagsterInstance, DagsterRunStatus, RunsFilter

from aerofs_pipelines.lake.layout import read_manifest
from aerofs_pipelines.lake.storage import Storage
from aerofs_pipelines.landing.uploads import BatchUploads, LandingState

__all__ = ["STATES", "BatchStatus", "batch_status"]

State = Literal["uploading", "landed", "processing", "processed", "failed"]
STATES: tuple[State, ...] = ("uploading", "landed", "processing", "processed", "failed")
FIRST_ASSET = AssetKey("batch_manifest")
"""The first asset of a batch's run (``defs.assets.batch_manifest``)."""
PARTITION_TAG = "dagster/partition"
RUNS_SHOWN = 20
_IN_FLIGHT = frozenset(
    {
        DagsterRunStatus.NOT_STARTED,
        DagsterRunStatus.QUEUED,
        DagsterRunStatus.STARTING,
        DagsterRunStatus.STARTED,
        DagsterRunStatus.CANCELING,
        DagsterRunStatus.MANAGED,
    }
)


@dataclass(frozen=True)
class BatchStatus:
    batch_id: str
    state: State
    landing: LandingState
    runs: list[dict[str, Any]]
    manifest: dict[str, Any] | None

    def document(self) -> dict[str, Any]:
        """The JSON the API answers (``BatchStatus`` in the OpenAPI document)."""
        outcomes = {f["name"]: f for f in (self.manifest or {}).get("files", [])}
        files = []
        for name, size, digest in self.landing.files:
            entry: dict[str, Any] = {"name": name, "size": size, "digest": digest}
            outcome = outcomes.get(name)
            if outcome is not None:
                entry["outcome"] = {
                    k: outcome.get(k) for k in ("kind", "dataset", "status", "reason", "output")
                }
            files.append(entry)
        partition = quote(f"tag:{PARTITION_TAG}={self.batch_id}", safe="")
        return {
            "batch_id": self.batch_id,
            "state": self.state,
            "files": files,
            "counts": (self.manifest or {}).get("counts"),
            "runs": self.runs,
            "upload": (
                {"owner": self.landing.owner, "started": self.landing.started}
                if self.landing.state == "uploading"
                else None
            ),
            "links": {
                "runs": f"/runs?q%5B0%5D={partition}",
                "assets": f"/assets/batch_summary?view=partitions&partition={quote(self.batch_id)}",
            },
        }


def _runs(instance: DagsterInstance, batch_id: str) -> list[Any]:
    records = list(
        instance.get_run_records(RunsFilter(tags={PARTITION_TAG: batch_id}), limit=RUNS_SHOWN)
    )
    planned = instance.get_latest_planned_materialization_info(FIRST_ASSET, batch_id)
    known = {r.dagster_run.run_id for r in records}
    if planned is not None and planned.run_id not in known:
        records.extend(instance.get_run_records(RunsFilter(run_ids=[planned.run_id])))
    records.sort(key=lambda r: r.create_timestamp, reverse=True)
    return records


def _run_document(record: Any) -> dict[str, Any]:
    run = record.dagster_run

    def iso(ts: float | None) -> str | None:
        import datetime as dt

        return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat() if ts else None

    return {
        "run_id": run.run_id,
        "status": run.status.value,
        "job": run.job_name,
        "created": record.create_timestamp.isoformat(),
        "started": iso(record.start_time),
        "ended": iso(record.end_time),
        "link": f"/runs/{run.run_id}",
    }


def batch_status(
    instance: DagsterInstance, uploads: BatchUploads, lake: Storage, batch_id: str
) -> BatchStatus | None:
    """The batch's status; None when neither the landing zone nor any run knows it."""
    landing = uploads.state(batch_id)
    records = _runs(instance, batch_id) if landing.state != "uploading" else []
    if landing.state == "absent" and not records:
        return None
    manifest: dict[str, Any] | None = None
    with contextlib.suppress(FileNotFoundError):
        manifest = read_manifest(lake, batch_id)
    state: State
    if landing.state == "uploading":
        state = "uploading"
    elif not records:
        state = "landed"
    else:
        newest = records[0].dagster_run.status
        if newest in _IN_FLIGHT:
            state = "processing"
        elif newest == DagsterRunStatus.SUCCESS:
            state = "processed"
        else:
            state = "failed"
    return BatchStatus(batch_id, state, landing, [_run_document(r) for r in records], manifest)
