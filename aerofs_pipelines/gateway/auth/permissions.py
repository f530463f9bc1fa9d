"""Roles → Dagster's own permission names (the roles table of docs/design.md).

Dagster's resolvers check these names (its ``Permissions`` enum) on the request context;
``aerofs_pipelines.gateway.auth.dagster_context`` hands them the caller's set, so a viewer gets
``UnauthorizedError`` and disabled buttons, as in read-only mode.
"""

from __future__ import annotations

from aerofs_pipelines._dagster_compat import LOCATION_SCOPED_PERMISSIONS, PermissionResult
from aerofs_pipelines.gateway.auth.policy import PERMISSION_LEAST_ROLE
from aerofs_pipelines.gateway.auth.roles import Role

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
