"""What each route of Dagster's webserver app may do through the gateway.

Every route the wrapped webserver serves has a rule here: the least role (REST writes:
from the roles table, :mod:`.policy`), whether it writes, and, for the routes that serve
files, an allow-list of what they may serve.
A route without a rule (one a future dagster-webserver adds) needs admin, so nothing
new opens by itself (``tests/gateway/auth/test_routes.py`` checks every route has a rule).

File-serving routes:

- ``/logs/{path}``: compute logs only: a log key of plain segments and the extension
  ``out`` or ``err``. The compute log manager resolves the key under its own folder; the
  gateway refuses anything else before Dagster sees it (no ``db``, no ``..``, no dot
  files), so even a secret that strayed into that folder would not be served.
- ``/download_debug/{run_id}``: a run id (a UUID).
- ``/notebook``, ``/dagit/notebook``: refused; this platform serves no notebooks, and
  the route would render any ``.ipynb`` file the code server can read.
- static files: Starlette's ``StaticFiles`` under the webserver's build folder.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from aerofs_pipelines.gateway.auth.policy import REST_WRITE_LEAST_ROLE
from aerofs_pipelines.gateway.auth.roles import Role

RouteKind = Literal["graphql", "read", "write", "refused"]
# one segment of a compute log key: run ids, "compute_logs", step keys (``op[mapping]``),
# tick and backfill ids and timestamps; never empty, never starting with a dot
_LOG_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-\[\]]{0,254}$")
_LOG_EXTENSIONS = frozenset({"out", "err"})
_MAX_LOG_KEY_SEGMENTS = 8


@dataclass(frozen=True)
class RouteRule:
    """The least role for a route, and the refusal reason for path parameters it may
    not serve (None: allowed)."""

    kind: RouteKind
    least_role: Role
    check: Callable[[Mapping[str, Any]], str | None] | None = None

    def refusal(self, path_params: Mapping[str, Any]) -> str | None:
        """Why this request may not be served (None: it may)."""
        if self.kind == "refused":
            return "not served by this platform"
        return self.check(path_params) if self.check is not None else None


def compute_log_refusal(path_params: Mapping[str, Any]) -> str | None:
    """Why ``/logs/{path}`` may not serve ``path`` (None: a compute log it may serve)."""
    segments = str(path_params.get("path", "")).split("/")
    *key, extension = segments
    if extension not in _LOG_EXTENSIONS:
        return "only compute logs (.out, .err) are served"
    if not key or len(key) > _MAX_LOG_KEY_SEGMENTS:
        return "not a compute log key"
    if not all(_LOG_SEGMENT.match(s) for s in key):
        return "not a compute log key"
    return None


def run_id_refusal(path_params: Mapping[str, Any]) -> str | None:
    """Why ``/download_debug/{run_id}`` may not serve ``run_id`` (None: a run id)."""
    run_id = str(path_params.get("run_id", ""))
    try:
        return None if str(uuid.UUID(run_id)) == run_id else "not a run id"
    except ValueError:
        return "not a run id"


READ = RouteRule("read", Role.viewer)
# by the route's path in dagster-webserver 1.13 (``build_routes``)
RULES: Mapping[str, RouteRule] = {
    "/graphql": RouteRule("graphql", Role.viewer),  # judged by graphql_policy
    "/server_info": READ,
    "/dagit_info": READ,
    "/logs/{path:path}": RouteRule("read", Role.viewer, compute_log_refusal),
    "/download_debug/{run_id:str}": RouteRule("read", Role.viewer, run_id_refusal),
    "/notebook": RouteRule("refused", Role.viewer),
    "/dagit/notebook": RouteRule("refused", Role.viewer),
    **{path: RouteRule("write", role) for path, role in REST_WRITE_LEAST_ROLE.items()},
    "/{path:path}": READ,  # the UI's index.html, for every client-side route
    "/": READ,
}
UNKNOWN = RouteRule("write", Role.admin)


def rule_for(route: BaseRoute | None) -> RouteRule | None:
    """The rule of a webserver route; None when no route matched (the webserver
    answers 404); ``UNKNOWN`` (admin) for a route this table does not know."""
    if route is None:
        return None
    if isinstance(route, Mount) and isinstance(route.app, StaticFiles):
        return READ
    if isinstance(route, Route) and route.name == "root_static":  # a file of the build
        return READ
    if isinstance(route, Route | WebSocketRoute):
        return RULES.get(route.path, UNKNOWN)
    return UNKNOWN
