"""Roles → Dagster permission names: the roles table against dagster's own list."""

from __future__ import annotations

import pytest
from dagster._core.workspace.permissions import LOCATION_SCOPED_PERMISSIONS, Permissions

from aerofs_pipelines.gateway.auth.permissions import (
    PERMISSION_LEAST_ROLE,
    granted,
    location_permission_map,
    permission_map,
)
from aerofs_pipelines.gateway.auth.roles import Role

DESIGN_TABLE = {
    Role.launcher: {
        "launch_pipeline_execution",
        "launch_pipeline_reexecution",
        "terminate_pipeline_execution",
        "launch_partition_backfill",
        "cancel_partition_backfill",
    },
    Role.editor: {
        "start_schedule",
        "stop_running_schedule",
        "schedule_dry_run",
        "edit_sensor",
        "sensor_dry_run",
        "update_sensor_cursor",
        "delete_pipeline_run",
        "reload_repository_location",
        "reload_workspace",
        "wipe_assets",
        "report_runless_asset_events",
        "edit_dynamic_partitions",
        "toggle_auto_materialize",
        "refresh_component_state",
    },
    Role.admin: {"edit_concurrency_limit", "edit_app_managed_components"},
}


def test_every_dagster_permission_has_a_least_role() -> None:
    names = {p.value for p in Permissions}
    assert len(names) == 21
    assert set(PERMISSION_LEAST_ROLE) == names


def test_least_roles_follow_design_table() -> None:
    for role, names in DESIGN_TABLE.items():
        assert {n for n, least in PERMISSION_LEAST_ROLE.items() if least == role} == names
    assert not any(least == Role.viewer for least in PERMISSION_LEAST_ROLE.values())


@pytest.mark.parametrize("role", list(Role))
def test_roles_are_cumulative(role: Role) -> None:
    expected = set().union(*(names for r, names in DESIGN_TABLE.items() if r <= role))
    assert granted(role) == expected
    lower = [r for r in Role if r < role]
    assert all(granted(r) <= granted(role) for r in lower)


def test_maps_cover_every_permission_and_explain_refusals() -> None:
    assert granted(None) == frozenset()
    assert granted(Role.admin) == set(PERMISSION_LEAST_ROLE)
    viewer = permission_map(Role.viewer)
    assert set(viewer) == set(PERMISSION_LEAST_ROLE)
    assert not any(result.enabled for result in viewer.values())
    assert all(result.disabled_reason for result in viewer.values())
    admin = permission_map(Role.admin)
    assert all(r.enabled and r.disabled_reason is None for r in admin.values())
    scoped = location_permission_map(Role.launcher)
    assert set(scoped) == {p.value for p in LOCATION_SCOPED_PERMISSIONS}
    assert scoped["launch_pipeline_execution"].enabled
    assert not scoped["wipe_assets"].enabled
