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

defs = dg.Definitions(
    assets=[*BATCH_ASSETS, *CATALOG_ASSETS],
    asset_checks=BATCH_CHECKS,
    jobs=JOBS,
    sensors=[*SENSORS, catalog_automation_sensor],
    schedules=SCHEDULES,
    resources=default_resources(),
    # Steps of a batch run in the run's process: a step per subprocess costs ~2 s each,
    # far more than a small batch's work; the kernels use every core themselves.
    executor=dg.in_process_executor,
)
