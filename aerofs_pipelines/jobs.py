"""Jobs of the code location: one partitioned asset job over the per-batch assets."""

from __future__ import annotations

from typing import Any

import dagster as dg

BATCH_GROUP = "batch"

batch_job = dg.define_asset_job(
    "process_batch",
    selection=dg.AssetSelection.groups(BATCH_GROUP),
    description="Process batches: manifest, tables, text statistics and summary.",
    tags={"aerofs/pipeline": "batch"},
    executor_def=dg.in_process_executor,
)
"""What the landing sensor launches, one run per new batch (partitioned by ``batches``).

In process: a small batch's run costs one process, not one more per step; the Rust
kernels release the GIL, so a step still uses the cores it needs."""


def backfill_run_config(repository: dg.RepositoryDefinition) -> dict[str, Any]:
    """Run config that runs a backfill in process when the location's default executor allows.

    Backfills run the implicit asset job, whose executor is the code location's default.
    Dagster's default (``multi_or_in_process_executor``) starts one process per step (about
    2 s each here); in process, a run over many small batches pays that once, not per step.
    """
    executor = repository.get_implicit_global_asset_job_def().executor_def
    if executor.name == dg.multi_or_in_process_executor.name:
        return {"execution": {"config": {"in_process": {}}}}
    return {}


JOBS = [batch_job]
