"""The roles table: what each role may do, in Dagster's permissions, GraphQL and REST.

One row per role (hierarchical: a role holds its own row and every row below it). The
GraphQL policy (:mod:`.graphql`), the REST route rules (:mod:`.routes`) and the
per-request Dagster permissions (:mod:`.permissions`) all read their least roles here,
and docs/design.md prints this table. Anything not in it needs admin: a mutation or a
route a future Dagster adds is closed until it is placed in a row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aerofs_pipelines._dagster_compat import Permissions as P
from aerofs_pipelines.gateway.auth.roles import Role

__all__ = [
    "MUTATION_LEAST_ROLE",
    "PERMISSION_LEAST_ROLE",
    "REST_WRITE_LEAST_ROLE",
    "ROLE_TABLE",
    "Grants",
    "mutation_least_role",
]


@dataclass(frozen=True)
class Grants:
    """What a role adds to the roles below it."""

    role: Role
    dagster_permissions: tuple[P, ...]
    """Dagster's own permission names: its resolvers check them, its UI disables buttons."""
    mutations: tuple[str, ...]
    """GraphQL mutation fields of the dagster 1.13 schema."""
    rest_writes: tuple[str, ...] = ()
    """Write routes of the webserver app, by path template."""


ROLE_TABLE: tuple[Grants, ...] = (
    Grants(Role.viewer, (), ("logTelemetry", "setNuxSeen")),
    Grants(
        Role.launcher,
        (
            P.LAUNCH_PIPELINE_EXECUTION,
            P.LAUNCH_PIPELINE_REEXECUTION,
            P.TERMINATE_PIPELINE_EXECUTION,
            P.LAUNCH_PARTITION_BACKFILL,
            P.CANCEL_PARTITION_BACKFILL,
        ),
        (
            "launchRun",
            "launchPipelineExecution",
            "launchMultipleRuns",
            "launchRunReexecution",
            "launchPipelineReexecution",
            "terminateRun",
            "terminateRuns",
            "terminatePipelineExecution",
            "launchPartitionBackfill",
            "resumePartitionBackfill",
            "reexecutePartitionBackfill",
            "cancelPartitionBackfill",
        ),
    ),
    Grants(
        Role.editor,
        (
            P.START_SCHEDULE,
            P.STOP_RUNNING_SCHEDULE,
            P.SCHEDULE_DRY_RUN,
            P.EDIT_SENSOR,
            P.SENSOR_DRY_RUN,
            P.UPDATE_SENSOR_CURSOR,
            P.DELETE_PIPELINE_RUN,
            P.RELOAD_REPOSITORY_LOCATION,
            P.RELOAD_WORKSPACE,
            P.WIPE_ASSETS,
            P.REPORT_RUNLESS_ASSET_EVENTS,
            P.EDIT_DYNAMIC_PARTITIONS,
            P.TOGGLE_AUTO_MATERIALIZE,
            P.REFRESH_COMPONENT_STATE,
        ),
        (
            "startSchedule",
            "stopRunningSchedule",
            "resetSchedule",
            "scheduleDryRun",
            "startSensor",
            "stopSensor",
            "resetSensor",
            "sensorDryRun",
            "setSensorCursor",
            "deleteRun",
            "deletePipelineRun",
            "reloadRepositoryLocation",
            "reloadWorkspace",
            "wipeAssets",
            "reportRunlessAssetEvents",
            "reportAssetCheckEvaluations",
            "addDynamicPartition",
            "deleteDynamicPartitions",
            "setAutoMaterializePaused",
            "refreshComponentState",
        ),
        (
            "/report_asset_materialization/{asset_key:path}",
            "/report_asset_check/{asset_key:path}",
            "/report_asset_observation/{asset_key:path}",
        ),
    ),
    Grants(
        Role.admin,
        (P.EDIT_CONCURRENCY_LIMIT, P.EDIT_APP_MANAGED_COMPONENTS),
        (
            "setConcurrencyLimit",
            "deleteConcurrencyLimit",
            "freeConcurrencySlots",
            "freeConcurrencySlotsForRun",
            "shutdownRepositoryLocation",
            "setAppManagedComponent",
            "deleteAppManagedComponent",
        ),
    ),
)

MUTATION_LEAST_ROLE: Mapping[str, Role] = {m: g.role for g in ROLE_TABLE for m in g.mutations}
PERMISSION_LEAST_ROLE: Mapping[str, Role] = {
    p.value: g.role for g in ROLE_TABLE for p in g.dagster_permissions
}
REST_WRITE_LEAST_ROLE: Mapping[str, Role] = {r: g.role for g in ROLE_TABLE for r in g.rest_writes}


def mutation_least_role(name: str) -> Role:
    """The least role for mutation field ``name``; admin for one not in the table."""
    return MUTATION_LEAST_ROLE.get(name, Role.admin)
