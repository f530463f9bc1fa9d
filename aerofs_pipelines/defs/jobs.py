"""How runs of the per-batch assets are launched, and how they execute.

Every run of the per-batch assets executes with the code location's executor,
:func:`run_executor` (``AEROFS_EXECUTOR``, in process by default), whoever launches it:

- the landing sensor (``defs/sensors.py``): one run per new batch, or one backfill for a
  backlog, of the ``batch`` group through Dagster's implicit asset job;
- backfills (the UI's "Materialize → backfill", the nightly schedule's re-runs, a
  backlog): the implicit asset job, one run per contiguous range of batches;
- ``process_batch`` (below): the same assets as a named job, for the UI's job launcher
  and GraphQL clients, and the target the nightly schedule names;
- the UI's "Materialize" of assets: the implicit asset job.

None of them pins an executor or run config of its own, so none runs differently.
"""

from __future__ import annotations

import dagster as dg

from aerofs_pipelines import config
from aerofs_pipelines.defs.assets import PER_BATCH_GROUPS

__all__ = ["PIPELINE_TAGS", "batch_job", "run_executor"]

PIPELINE_TAGS = {"aerofs/pipeline": "batch"}


def run_executor() -> dg.ExecutorDefinition:
    """The executor ``AEROFS_EXECUTOR`` names: the code location's, for every run.

    ``in_process`` by default: a step per subprocess costs seconds each, more than a
    small batch's work, and the kernels use every core themselves. ``k8s`` runs each step
    as its own Kubernetes Job (step-level parallelism under the K8sRunLauncher).
    """
    name = config.executor_name()
    if name == "k8s":
        from dagster_k8s import k8s_job_executor  # the `k8s` extra

        return k8s_job_executor
    return dg.multiprocess_executor if name == "multiprocess" else dg.in_process_executor


batch_job = dg.define_asset_job(
    "process_batch",
    selection=dg.AssetSelection.groups(*PER_BATCH_GROUPS),
    description="Process batches: manifest, tables, text statistics and summary.",
    tags=PIPELINE_TAGS,
)
"""The per-batch assets as a named job (the sensor and backfills select the same assets)."""
