"""Roles → Dagster's own permission names (the roles table of DESIGN.md).

Dagster's resolvers check these names (``dagster._core.workspace.permissions``) on the
request context; ``aerofs_pipelines.gateway.context`` hands them the caller's set, so a
viewer gets ``UnauthorizedError`` and disabled buttons, as in read-only mode.
"""

from __future__ import annotations

from collections.abc import Mapping

from dagster._core.workspace.permissions import (
    LOCATION_SCOPED_PERMISSIONS,
    PermissionResult,
    Permissions,
)

from aerofs_pipelines.gateway.roles import Role

P = Permissions

# The least role holding each of Dagster's 21 permissions (viewer holds none).
PERMISSION_LEAST_ROLE: Mapping[str, Role] = {
    P.LAUNCH_PIPELINE_EXECUTION.value: Role.launcher,
    P.LAUNCH_PIPELINE_REEXECUTION.value: Role.launcher,
    P.TERMINATE_PIPELINE_EXECUTION.value: Role.launcher,
    P.LAUNCH_PARTITION_BACKFILL.value: Role.launcher,
    P.CANCEL_PARTITION_BACKFILL.value: Role.launcher,
    P.START_SCHEDULE.value: Role.editor,
    P.STOP_RUNNING_SCHEDULE.value: Role.editor,
    P.SCHEDULE_DRY_RUN.value: Role.editor,
    P.EDIT_SENSOR.value: Role.editor,
    P.SENSOR_DRY_RUN.value: Role.editor,
    P.UPDATE_SENSOR_CURSOR.value: Role.editor,
    P.DELETE_PIPELINE_RUN.value: Role.editor,
    P.RELOAD_REPOSITORY_LOCATION.value: Role.editor,
    P.RELOAD_WORKSPACE.value: Role.editor,
    P.WIPE_ASSETS.value: Role.editor,
    P.REPORT_RUNLESS_ASSET_EVENTS.value: Role.editor,
    P.EDIT_DYNAMIC_PARTITIONS.value: Role.editor,
    P.TOGGLE_AUTO_MATERIALIZE.value: Role.editor,
    P.REFRESH_COMPONENT_STATE.value: Role.editor,
    P.EDIT_CONCURRENCY_LIMIT.value: Role.admin,
    P.EDIT_APP_MANAGED_COMPONENTS.value: Role.admin,
}

_DENIED_REASON = "Your role ({role}) does not allow this; ask an administrator."


def granted(role: Role | None) -> frozenset[str]:
    """The Dagster permission names ``role`` holds (none without a role)."""
    if role is None:
        return frozenset()
    return frozenset(name for name, least in PERMISSION_LEAST_ROLE.items() if role >= least)


def permission_map(role: Role | None) -> dict[str, PermissionResult]:
    """Every Dagster permission → enabled or not for ``role``, with a reason if not."""
    held = granted(role)
    reason = _DENIED_REASON.format(role=role.name if role is not None else "anonymous")
    return {
        name: PermissionResult(
            enabled=name in held, disabled_reason=None if name in held else reason
        )
        for name in PERMISSION_LEAST_ROLE
    }


def location_permission_map(role: Role | None) -> dict[str, PermissionResult]:
    """The location-scoped subset of :func:`permission_map` (what Dagster asks per location)."""
    scoped = {p.value for p in LOCATION_SCOPED_PERMISSIONS}
    return {name: result for name, result in permission_map(role).items() if name in scoped}
