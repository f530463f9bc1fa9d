"""The code location (``workspace.yaml`` loads ``aerofs_pipelines.definitions:defs``).

As Dagster's ``create-dagster`` template does it: the objects of the ``defs`` folder,
found by ``load_from_defs_folder`` (the project is described by ``dg.toml`` beside this
file, so an installed package finds it too), plus the resources and the executor, both
from the environment (``AEROFS_*``).
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from aerofs_pipelines.defs.jobs import run_executor
from aerofs_pipelines.defs.resources import default_resources


@dg.definitions
def defs() -> dg.Definitions:
    """Everything the code location serves."""
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        dg.Definitions(resources=default_resources(), executor=run_executor()),
    )
