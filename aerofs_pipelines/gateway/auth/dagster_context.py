"""Per-request Dagster permissions from the authenticated principal's role.

The webserver builds each request's context with
``WorkspaceProcessContext.create_request_context(source)``, ``source`` being the
Starlette request or WebSocket. The gateway puts the principal into the connection's
ASGI scope (:data:`PRINCIPAL_SCOPE_KEY`); :class:`GatewayProcessContext` reads it there
and returns a :class:`RoleRequestContext` whose permissions are the role's, so Dagster's
own resolvers answer ``UnauthorizedError`` and the UI disables what the role may not do.
A request without a principal gets no permission at all (fail closed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aerofs_pipelines._dagster_compat import (
    PermissionResult,
    WorkspaceProcessContext,
    WorkspaceRequestContext,
)
from aerofs_pipelines.gateway.auth.permissions import location_permission_map, permission_map
from aerofs_pipelines.gateway.auth.roles import Role
from aerofs_pipelines.gateway.identity.principal import Principal

PRINCIPAL_SCOPE_KEY = "aerofs.principal"


def principal_of(source: object | None) -> Principal | None:
    """The principal the gateway attached to ``source`` (a Starlette connection), if any."""
    scope = getattr(source, "scope", None)
    if not isinstance(scope, Mapping):
        return None
    principal = scope.get(PRINCIPAL_SCOPE_KEY)
    return principal if isinstance(principal, Principal) else None


class RoleRequestContext(WorkspaceRequestContext):
    """A Dagster request context whose permissions are those of one role."""

    def __init__(self, *, role: Role | None, **kwargs: Any) -> None:
        kwargs["read_only"] = role is None or role < Role.launcher
        super().__init__(**kwargs)
        self._role = role
        self._permissions = permission_map(role)
        self._location_permissions = location_permission_map(role)

    @property
    def role(self) -> Role | None:
        """The caller's role (None: no identity, nothing allowed)."""
        return self._role

    @property
    def permissions(self) -> Mapping[str, PermissionResult]:
        return self._permissions

    def permissions_for_location(self, *, location_name: str) -> Mapping[str, PermissionResult]:
        return self._location_permissions


class GatewayProcessContext(WorkspaceProcessContext):
    """Dagster's process context, making request contexts for the calling principal."""

    def create_request_context(self, source: object | None = None) -> WorkspaceRequestContext:
        principal = principal_of(source)
        return RoleRequestContext(
            role=principal.role if principal is not None else None,
            instance=self.instance,
            current_workspace=self.get_current_workspace(),
            process_context=self,
            version=self.version,
            source=source,
        )
