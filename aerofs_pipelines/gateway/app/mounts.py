"""Apps the gateway serves beside Dagster's webserver, behind the same rules.

A mounted app (the batch API, :mod:`aerofs_pipelines.api`) declares its path prefixes,
its endpoints and the banner links it adds. For each endpoint: the method and path
template, the least role, and whether it writes. The gateway applies to them what it
applies to the webserver's routes: identity (anonymous: 401, or the login page for HTML
navigations), CSRF for cookie writes, the role (403), the audit of every write, allowed or
denied, as a mutation named by the endpoint's ``operation``. A path under a prefix that
matches no endpoint is 404 (405 for another method) before the app sees it.

The gateway does not read a mounted app's request body: an upload streams through, and
the app caps it itself. The app finds the caller in ``scope["aerofs.principal"]``
(:func:`aerofs_pipelines.gateway.auth.dagster_context.principal_of`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from re import Pattern
from typing import Any, Protocol

from starlette.routing import compile_path
from starlette.types import Receive, Scope, Send

from aerofs_pipelines.gateway.auth.roles import Role

__all__ = ["BannerLink", "Endpoint", "MountedApp", "match_endpoint"]


@dataclass(frozen=True)
class Endpoint:
    """One route of a mounted app, and what it takes to call it."""

    method: str
    path: str
    """A Starlette path template, e.g. ``/api/batches/{batch_id}``."""
    least_role: Role
    operation: str
    """The name the audit log records for a write (e.g. ``uploadBatchFile``)."""
    writes: bool = False
    pattern: Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        regex, _, _ = compile_path(self.path)
        object.__setattr__(self, "pattern", regex)


@dataclass(frozen=True)
class BannerLink:
    """A link the user banner shows to callers of at least ``least_role``."""

    label: str
    href: str
    least_role: Role
    test_id: str


class MountedApp(Protocol):
    """An ASGI app the gateway serves under ``prefixes``, one rule per endpoint."""

    prefixes: Sequence[str]
    endpoints: Sequence[Endpoint]
    links: Sequence[BannerLink]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...


def serves(app: MountedApp, path: str) -> bool:
    """Whether ``path`` lies under one of the app's prefixes."""
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in app.prefixes)


def match_endpoint(
    app: MountedApp, method: str, path: str
) -> tuple[Endpoint | None, Mapping[str, Any], bool]:
    """The endpoint for ``method path`` and its path parameters; the last item tells
    whether the path matched some endpoint with another method (405 rather than 404)."""
    other_method = False
    wanted = "GET" if method == "HEAD" else method
    for endpoint in app.endpoints:
        found = endpoint.pattern.match(path)
        if found is None:
            continue
        if endpoint.method == wanted:
            return endpoint, found.groupdict(), False
        other_method = True
    return None, {}, other_method
