"""The one ``Definitions`` object of the code location (``workspace.yaml`` loads it)."""

from __future__ import annotations

import dagster as dg

from aerofs_pipelines.assets import BATCH_ASSETS
from aerofs_pipelines.catalog import CATALOG_ASSETS, catalog_automation_sensor
from aerofs_pipelines.checks import BATCH_CHECKS
from aerofs_pipelines.jobs import JOBS
from aerofs_pipelines.resources import default_resources
from aerofs_pipelines.schedules import SCHEDULES
from aerofs_pipelines.sensors import SENSORS
from aerofs_pipelines.settings import executor_name


def run_executor() -> dg.ExecutorDefinition:
    """The executor ``AEROFS_EXECUTOR`` names.

    ``in_process`` by default: a step per subprocess costs ~2 s each, far more than a
    small batch's work, and the kernels use every core themselves. ``k8s`` runs each
    step as its own Kubernetes Job (step-level parallelism under the K8sRunLauncher).
    """
    name = executor_name()
    if name == "k8s":
        from dagster_k8s import k8s_job_executor  # the `k8s` extra

        return k8s_job_executor
    return dg.multiprocess_executor if name == "multiprocess" else dg.in_process_executor


defs = dg.Definitions(
    assets=[*BATCH_ASSETS, *CATALOG_ASSETS],
    asset_checks=BATCH_CHECKS,
    jobs=JOBS,
    sensors=[*SENSORS, catalog_automation_sensor],
    schedules=SCHEDULES,
    resources=default_resources(),
    executor=run_executor(),
)
