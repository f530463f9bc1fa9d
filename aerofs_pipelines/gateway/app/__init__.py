"""The gateway ASGI app: authentication and authorization around Dagster's webserver.

Open without identity: ``/healthz``, ``/auth/login`` (page, its CSS, POST) and
``/auth/logout``. Everything else, each route of the wrapped webserver app included,
needs a session cookie or ``Authorization: Bearer``; anonymous HTML navigations are
redirected to the login page, other anonymous calls get 401, a role too low 403, and a
refused request never reaches Dagster.

Layers, outermost first: :mod:`.proxy_headers` (client address and scheme from trusted
proxies), :mod:`.security_headers` (headers on every response, error pages included),
then :class:`Gateway`: ``/healthz``, the ``/auth`` routes (:mod:`.auth_routes`), or a
request to the webserver app, which goes, in order, through:

1. identity, from the headers alone (:mod:`aerofs_pipelines.gateway.auth.backends`).
   Nobody: 401 (or the login redirect) before the body is read or anything is parsed; a
   few of these are audited per address and minute (:mod:`.anonymous_audit`);
2. the webserver route, matched with its own Starlette routes, and its rule
   (:mod:`aerofs_pipelines.gateway.auth.routes`): what it may serve (file-serving routes
   allow-list their paths: 404 otherwise) and the least role;
3. the body, capped (``max_body_bytes``; 413; :mod:`.bodies`);
4. for GraphQL, the document judged by :mod:`aerofs_pipelines.gateway.auth.graphql` in a
   worker thread (bounded in size, depth and fragments; unjudgeable → 400);
5. CSRF for writes with a cookie or SSO header (:mod:`.csrf`; 403);
6. the role (403; GET mutations 405); every mutation, allowed or denied, audited;
7. the principal is put in the ASGI scope, where
   :class:`~aerofs_pipelines.gateway.auth.dagster_context.GatewayProcessContext` turns it
   into Dagster's per-request permissions; HTML pages get the user banner (:mod:`.banner`).

WebSocket ``/graphql``: the same identity at connect (refused before accept), a
cookie-authenticated connection must come from our origin, and :mod:`.websocket` guards
it from then on (each ``start`` frame checked again; closed with 4401 once revoked).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio.to_thread
from starlette.requests import ClientDisconnect, HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from aerofs_pipelines import config
from aerofs_pipelines.gateway.app.anonymous_audit import AnonymousAuditLimit
from aerofs_pipelines.gateway.app.auth_routes import AuthRoutes
from aerofs_pipelines.gateway.app.banner import banner_html, with_banner
from aerofs_pipelines.gateway.app.bodies import BodyTooLarge, read_body
from aerofs_pipelines.gateway.app.csrf import OriginRule, csrf_token
from aerofs_pipelines.gateway.app.errors import error, unauthenticated
from aerofs_pipelines.gateway.app.mounts import MountedApp, match_endpoint, serves
from aerofs_pipelines.gateway.app.proxy_headers import (
    Network,
    ProxyHeadersMiddleware,
    client_address,
)
from aerofs_pipelines.gateway.app.security_headers import SecurityHeadersMiddleware
from aerofs_pipelines.gateway.app.websocket import guard_websocket
from aerofs_pipelines.gateway.auth.backends import Authenticator
from aerofs_pipelines.gateway.auth.dagster_context import PRINCIPAL_SCOPE_KEY, GatewayProcessContext
from aerofs_pipelines.gateway.auth.graphql import PolicyError, Verdict, judge_http
from aerofs_pipelines.gateway.auth.roles import Role
from aerofs_pipelines.gateway.auth.routes import RouteRule, rule_for
from aerofs_pipelines.gateway.identity.principal import Caller, Principal
from aerofs_pipelines.gateway.identity.sessions import COOKIE_NAME as SESSION_COOKIE
from aerofs_pipelines.gateway.store import GatewayStore

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_T = TypeVar("_T")
_ROUTE_CACHE_SIZE = 512


@dataclass(frozen=True)
class GatewayConfig:
    """Gateway settings; ``from_env`` reads them from the environment:

    - ``AEROFS_MAX_BODY_BYTES``: request body / WebSocket frame cap (default 2 MiB);
    - ``AEROFS_ALLOWED_ORIGINS``: extra origins allowed to write with a cookie;
    - ``AEROFS_SECURE_COOKIES``: force the cookies' Secure flag on/off (default: https);
    - ``AEROFS_TRUSTED_PROXIES``: addresses/CIDRs of reverse proxies whose
      ``X-Forwarded-For``/``X-Forwarded-Proto`` are believed;
    - ``AEROFS_TRUSTED_USER_HEADER``: SSO mode, e.g. ``X-Forwarded-User``: a request from
      a trusted proxy carrying it acts as that (existing, enabled) user.
    """

    max_body_bytes: int = 2 * 1024 * 1024
    allowed_origins: frozenset[str] = field(default_factory=frozenset)
    secure_cookies: bool | None = None
    trusted_proxies: tuple[Network, ...] = ()
    user_header: str | None = None

    @classmethod
    def from_env(cls) -> GatewayConfig:
        return cls(
            max_body_bytes=config.max_body_bytes(),
            allowed_origins=config.allowed_origins(),
            secure_cookies=config.secure_cookies(),
            trusted_proxies=config.trusted_proxies(),
            user_header=config.trusted_user_header(),
        )


@dataclass(frozen=True)
class _Action:
    """What a request does: the least role, whether it writes, what to audit."""

    required: Role
    mutation: bool
    operation: str | None = None
    fields: tuple[str, ...] = ()
    verdict: Verdict | None = None

    @property
    def variables(self) -> Mapping[str, Any] | None:
        if self.verdict is None:
            return None
        ops = self.verdict.mutations
        if len(ops) == 1:
            return ops[0].variables
        return {f"#{i}": op.variables or {} for i, op in enumerate(ops)} or None


class Gateway:
    """The ASGI app: the gateway's own routes, and the guarded webserver app."""

    def __init__(
        self,
        inner: ASGIApp,
        routes: list[BaseRoute],
        store: GatewayStore,
        config: GatewayConfig,
        mounts: Sequence[MountedApp] = (),
    ) -> None:
        self.inner = inner
        self.routes = routes
        self.mounts = tuple(mounts)
        self.store = store
        self.config = config
        self.origins = OriginRule(config.allowed_origins)
        self.auth = Authenticator.standard(store, config.user_header)
        self.anonymous_audit = AnonymousAuditLimit()
        self.auth_routes = AuthRoutes(
            store, self.auth, self.origins, self.anonymous_audit, config.secure_cookies
        )
        # (method, path, root_path) -> the webserver route matching it fully, if any,
        # with its path parameters
        self._route_cache: dict[tuple[str, str, str], tuple[BaseRoute | None, Any]] = {}
        app: ASGIApp = SecurityHeadersMiddleware(self._dispatch)
        self._app = ProxyHeadersMiddleware(app, config.trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        else:  # lifespan
            await self.inner(scope, receive, send)

    # ------------------------------------------------------------------ helpers

    async def _run(self, fn: Callable[..., _T], *args: Any) -> _T:
        return await anyio.to_thread.run_sync(lambda: fn(*args))

    def _secure(self, scope: Scope) -> bool:
        if self.config.secure_cookies is not None:
            return self.config.secure_cookies
        return scope.get("scheme") in ("https", "wss")

    def _inner_route(self, scope: Scope) -> tuple[BaseRoute | None, Mapping[str, Any]]:
        """The webserver route matching an HTTP request fully, and its path parameters
        (memoized by method and path: matching depends on nothing else)."""
        key = (scope["method"], scope["path"], scope.get("root_path", ""))
        cached = self._route_cache.get(key)
        if cached is not None:
            return cached
        found: tuple[BaseRoute | None, Any] = (None, {})
        for route in self.routes:
            match, child = route.matches(scope)
            if match is Match.FULL:
                found = (route, child.get("path_params", {}))
                break
        if len(self._route_cache) >= _ROUTE_CACHE_SIZE:
            self._route_cache.clear()
        self._route_cache[key] = found
        return found

    async def _audit(
        self,
        scope: Scope,
        principal: Principal | None,
        outcome: str,
        action: _Action,
        detail: str = "",
    ) -> None:
        """Record a mutation, allowed or denied (a failure here refuses the request)."""
        await self._run(
            lambda: self.store.audit.record(
                "mutation",
                username=principal.username if principal else None,
                role=principal.role if principal else None,
                address=client_address(scope),
                outcome=outcome,
                operation=action.operation,
                fields=action.fields,
                variables=action.variables,
                detail=detail,
            )
        )

    async def _audit_anonymous(self, scope: Scope) -> None:
        """Record a refused anonymous write, within :class:`AnonymousAuditLimit`."""
        method = scope["method"]
        if method in SAFE_METHODS:
            return
        address = client_address(scope)
        admitted = self.anonymous_audit.admit(address, self.store.now())
        if admitted == "drop":
            return
        detail = "no identity"
        if admitted == "last":
            detail += "; further anonymous requests from this address are not recorded this minute"
        await self._run(
            lambda: self.store.audit.record(
                "anonymous",
                username=None,
                role=None,
                address=address,
                outcome="denied",
                operation=f"{method} {scope['path']}",
                detail=detail,
            )
        )

    # ------------------------------------------------------------------ HTTP

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        request = Request(scope, receive)
        if path == "/healthz":
            response: Response = JSONResponse({"status": "ok"})
        elif path == "/auth" or path.startswith("/auth/"):
            response = await self.auth_routes(request)
        elif (mount := next((m for m in self.mounts if serves(m, path)), None)) is not None:
            refused = await self._mounted(mount, scope, request, send)
            if refused is None:  # answered by the mounted app
                return
            response = refused
        else:
            guarded = await self._guarded(scope, request, send)
            if guarded is None:  # answered by the webserver app
                return
            response = guarded
        await response(scope, receive, send)

    async def _classify(
        self,
        scope: Scope,
        request: Request,
        route: BaseRoute | None,
        rule: RouteRule | None,
        body: bytes,
    ) -> _Action:
        """What a request to the webserver app does and the least role it needs
        (PolicyError for a GraphQL request that cannot be judged)."""
        method, path = scope["method"], scope["path"]
        if rule is None:  # no route: the webserver answers 404 (or 405)
            if method in SAFE_METHODS:
                return _Action(Role.viewer, False)
            return _Action(Role.admin, True, f"{method} {path}")  # no such write: fail closed
        if rule.kind == "graphql":
            verdict = await self._run(
                judge_http,
                method,
                request.headers.get("content-type", ""),
                body,
                request.query_params.multi_items(),
            )
            return _Action(
                verdict.least_role,
                bool(verdict.mutations),
                verdict.operation_names or None,
                verdict.mutation_fields,
                verdict,
            )
        if rule.kind == "read":
            return _Action(rule.least_role, False)
        route_path = str(getattr(route, "path", ""))
        if route_path.startswith("/report_asset_"):
            return _Action(rule.least_role, True, route_path.split("/")[1], (path,))
        return _Action(rule.least_role, True, f"{method} {path}")

    async def _guarded(self, scope: Scope, request: Request, send: Send) -> Response | None:
        """Check a request to the webserver app; forward it, or the refusal to send."""
        method: str = scope["method"]
        caller = await self.auth.authenticate(request)
        if caller is None:
            await self._audit_anonymous(scope)
            return unauthenticated(request, method)
        principal = caller.principal
        route, params = self._inner_route(scope)
        rule = rule_for(route)
        if rule is not None and rule.refusal(params) is not None:
            return error(404, "not found", "NOT_FOUND")
        try:
            body = await read_body(
                request.receive, request.headers.get("content-length"), self.config.max_body_bytes
            )
        except BodyTooLarge:
            return error(413, "request body too large", "PAYLOAD_TOO_LARGE")
        except ClientDisconnect:
            return Response(status_code=400)
        try:
            action = await self._classify(scope, request, route, rule, body)
        except PolicyError as exc:
            await self._audit(scope, principal, "denied", _Action(Role.admin, True), str(exc))
            return error(400, f"request refused: {exc}", "BAD_REQUEST")

        refused = await self._authorize(scope, request, caller, action)
        if refused is not None:
            return refused
        send = self._admit(scope, request, principal, send)
        await self.inner(scope, _replay(body, request.receive), send)
        return None

    async def _authorize(
        self, scope: Scope, request: Request, caller: Caller, action: _Action
    ) -> Response | None:
        """The refusal of a known caller's request (audited when it writes), or None;
        an allowed write is audited here. For Dagster's routes and mounted apps alike."""
        method, principal = scope["method"], caller.principal

        async def refuse(response: Response, reason: str) -> Response:
            if action.mutation:
                await self._audit(scope, principal, "denied", action, reason)
            return response

        cross_site = method not in SAFE_METHODS and not self.origins.write_allowed(request)
        if caller.credential.ambient and cross_site:
            return await refuse(
                error(403, "cross-site request refused (CSRF check)", "CSRF"), "csrf check"
            )
        if action.verdict is not None and action.mutation and method != "POST":
            return await refuse(
                error(405, "mutations must be sent with POST", "METHOD_NOT_ALLOWED", allow="POST"),
                f"mutation sent with {method}",
            )
        if principal.role < action.required:
            needs = action.required.name
            message = f"role {principal.role.name} may not do this (needs {needs})"
            return await refuse(error(403, message, "FORBIDDEN"), f"needs {needs}")
        if action.mutation:
            await self._audit(scope, principal, "allowed", action)
        return None

    def _admit(self, scope: Scope, request: Request, principal: Principal, send: Send) -> Send:
        """Put the allowed caller in the scope; HTML pages get the user banner."""
        scope[PRINCIPAL_SCOPE_KEY] = principal
        if scope["method"] == "GET" and "text/html" in request.headers.get("accept", ""):
            return with_banner(send, lambda: self._banner(request, principal))
        return send

    async def _mounted(
        self, mount: MountedApp, scope: Scope, request: Request, send: Send
    ) -> Response | None:
        """Check a request to a mounted app (:mod:`.mounts`); forward it with its body
        unread, or return the refusal to send."""
        method, path = scope["method"], scope["path"]
        caller = await self.auth.authenticate(request)
        if caller is None:
            await self._audit_anonymous(scope)
            return unauthenticated(request, method)
        endpoint, _, other_method = match_endpoint(mount, method, path)
        if endpoint is None:
            if other_method:
                return error(405, "method not allowed", "METHOD_NOT_ALLOWED")
            return error(404, "not found", "NOT_FOUND")
        action = _Action(endpoint.least_role, endpoint.writes, endpoint.operation, (path,))
        refused = await self._authorize(scope, request, caller, action)
        if refused is not None:
            return refused
        await mount(scope, request.receive, self._admit(scope, request, caller.principal, send))
        return None

    def _banner(self, conn: HTTPConnection, principal: Principal) -> bytes:
        cookie = conn.cookies.get(SESSION_COOKIE)
        links = [link for m in self.mounts for link in m.links if principal.role >= link.least_role]
        return banner_html(principal, csrf_token(cookie) if cookie else None, links)

    # ------------------------------------------------------------------ WebSocket

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        conn = HTTPConnection(scope)
        caller = await self.auth.authenticate(conn)
        if caller is None:
            return await _deny_ws(scope, receive, send, 401, "authentication required")
        if caller.credential.ambient and not self.origins.websocket_allowed(conn):
            return await _deny_ws(scope, receive, send, 403, "cross-site WebSocket refused")
        scope[PRINCIPAL_SCOPE_KEY] = caller.principal

        async def audit_refused(principal: Principal, verdict: Verdict, reason: str) -> None:
            op = verdict.operations[0]
            action = _Action(op.least_role, True, op.name, op.fields, verdict)
            await self._audit(scope, principal, "denied", action, reason)

        await guard_websocket(
            self.inner,
            scope,
            receive,
            send,
            caller=caller,
            identify=lambda: self.auth.identify(caller.credential),
            revocations=lambda: self.store.identities.generation,
            recheck_seconds=self.store.identities.recheck_seconds,
            max_frame_bytes=self.config.max_body_bytes,
            audit_refused=audit_refused,
        )


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` giving the buffered body once, then the client's messages."""
    sent = False

    async def replay() -> Any:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _deny_ws(scope: Scope, receive: Receive, send: Send, status: int, message: str) -> None:
    """Refuse a WebSocket handshake: an HTTP status where supported, else a close code."""
    import json

    connect = await receive()
    if connect["type"] != "websocket.connect":
        return
    if "websocket.http.response" in scope.get("extensions", {}):
        body = json.dumps({"errors": [{"message": message}]}).encode()
        await send(
            {
                "type": "websocket.http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 4000 + status})


def create_app(
    process_context: GatewayProcessContext,
    store: GatewayStore,
    config: GatewayConfig | None = None,
    mounts: Sequence[MountedApp] = (),
    **starlette_kwargs: Any,
) -> Gateway:
    """The gateway around ``dagster_webserver``'s app for ``process_context``, and the
    ``mounts`` it serves beside it (:mod:`.mounts`)."""
    from dagster_webserver.app import create_app_from_workspace_process_context

    if not isinstance(process_context, GatewayProcessContext):
        raise TypeError("the gateway needs a GatewayProcessContext (role-derived permissions)")
    inner = create_app_from_workspace_process_context(process_context, **starlette_kwargs)
    return Gateway(inner, list(inner.routes), store, config or GatewayConfig.from_env(), mounts)
