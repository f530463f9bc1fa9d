"""The gateway ASGI app: authentication and authorization around Dagster's webserver.

Open without identity: ``/healthz``, ``/auth/login`` (page, its CSS, POST) and
``/auth/logout``. Everything else, each route of the wrapped webserver app included,
needs a session cookie or ``Authorization: Bearer``; anonymous HTML navigations are
redirected to the login page, other anonymous calls get 401, a role too low 403, and a
refused request never reaches Dagster.

Layers, outermost first: :class:`~proxy_headers.ProxyHeadersMiddleware` (client
address and scheme from trusted proxies), :class:`~responses.SecurityHeadersMiddleware`
(headers on every response, error pages included), then the gateway itself. For a
request to the webserver app, in order:

1. identity, from the headers alone: bearer token, else the SSO header (only through a
   trusted proxy), else the session cookie. Nobody: 401 (or the login redirect) before
   the body is read or anything is parsed; a few of these are audited per address and
   minute (:class:`~audit.AnonymousAuditLimit`). A credential seen in the last few
   seconds is answered from the identity cache on the event loop, any other is looked
   up in a worker thread (:mod:`identity_cache`);
2. the webserver route, matched with its own Starlette routes, and its rule
   (:mod:`route_policy`): what it may serve (file-serving routes allow-list their
   paths: 404 otherwise) and the least role;
3. the body, capped (``max_body_bytes``; 413);
4. for GraphQL, the document judged by :mod:`graphql_policy` in a worker thread
   (bounded in size, depth and fragments; unjudgeable → 400);
5. CSRF for writes with a cookie or SSO header (:mod:`origins`; 403);
6. the role (403; GET mutations 405); every mutation, allowed or denied, audited;
7. the principal is put in the ASGI scope, where :class:`GatewayProcessContext` turns
   it into Dagster's per-request permissions.

WebSocket ``/graphql``: the same identity at connect (refused before accept), a
cookie-authenticated connection must come from our origin; each ``start`` frame checks
the identity again (within the identity cache's time) and is refused when it carries a
mutation; a connection whose credential was revoked (logout, disable, token revoked) is
closed with code 4401 (:mod:`websocket`). HTML pages of the UI get a small banner with
the user's name, role and a logout button. The login page lives in :mod:`login_page`.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote

import anyio.to_thread
from starlette.requests import ClientDisconnect, HTTPConnection, Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from aerofs_pipelines.gateway.audit import AnonymousAuditLimit
from aerofs_pipelines.gateway.bodies import BodyTooLarge, parse_json, read_body
from aerofs_pipelines.gateway.context import PRINCIPAL_SCOPE_KEY, GatewayProcessContext
from aerofs_pipelines.gateway.graphql_policy import PolicyError, Verdict, judge_http
from aerofs_pipelines.gateway.identity import Caller, Credential, Principal
from aerofs_pipelines.gateway.login_page import login_asset, login_page
from aerofs_pipelines.gateway.origins import OriginRule, csrf_token
from aerofs_pipelines.gateway.proxy_headers import (
    VIA_PROXY_SCOPE_KEY,
    Network,
    ProxyHeadersMiddleware,
    client_address,
)
from aerofs_pipelines.gateway.responses import (
    SecurityHeadersMiddleware,
    banner_html,
    with_banner,
)
from aerofs_pipelines.gateway.roles import Role
from aerofs_pipelines.gateway.route_policy import RouteRule, rule_for
from aerofs_pipelines.gateway.sessions import COOKIE_NAME as SESSION_COOKIE
from aerofs_pipelines.gateway.store import GatewayStore, LoginFailed, LoginThrottled
from aerofs_pipelines.gateway.websocket import guard_websocket

CSRF_COOKIE = "aerofs_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOGIN_BODY_LIMIT = 16 * 1024
# Password checks (argon2id: 64 MiB and tens of milliseconds each) run a few at a time on
# threads of their own, so a flood of logins neither exhausts memory nor takes the worker
# threads every other request needs; past a queue of waiting logins the answer is 429.
LOGIN_CONCURRENCY = 4
LOGIN_QUEUE = 64
_T = TypeVar("_T")
_ROUTE_CACHE_SIZE = 512


def _env_list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


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
        raw_max = os.environ.get("AEROFS_MAX_BODY_BYTES", "").strip()
        secure = os.environ.get("AEROFS_SECURE_COOKIES", "").strip().lower()
        return cls(
            max_body_bytes=int(raw_max) if raw_max else cls.max_body_bytes,
            allowed_origins=frozenset(o.rstrip("/") for o in _env_list("AEROFS_ALLOWED_ORIGINS")),
            secure_cookies={"1": True, "true": True, "0": False, "false": False}.get(secure),
            trusted_proxies=tuple(
                ipaddress.ip_network(p, strict=False) for p in _env_list("AEROFS_TRUSTED_PROXIES")
            ),
            user_header=os.environ.get("AEROFS_TRUSTED_USER_HEADER", "").strip() or None,
        )


def _error(status: int, message: str, code: str, **headers: str) -> JSONResponse:
    body = {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}
    return JSONResponse(body, status_code=status, headers={"cache-control": "no-store", **headers})


def _unauthenticated(request: HTTPConnection, method: str) -> Response:
    if method in ("GET", "HEAD") and "text/html" in request.headers.get("accept", ""):
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        target = raw_path.decode("latin-1") + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/auth/login?next={quote(target, safe='')}", status_code=303)
    return _error(
        401, "authentication required", "UNAUTHENTICATED", **{"www-authenticate": "Bearer"}
    )


def _safe_next(value: str | None) -> str:
    """A local path to go to after login (never another site)."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return "/"
    if any(c == "\\" or ord(c) < 0x21 or ord(c) == 0x7F for c in value):
        return "/"  # browsers drop tabs and newlines: "/\t/evil" would become "//evil"
    return value


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
        self, inner: ASGIApp, routes: list[BaseRoute], store: GatewayStore, config: GatewayConfig
    ) -> None:
        self.inner = inner
        self.routes = routes
        self.store = store
        self.config = config
        self.origins = OriginRule(config.allowed_origins)
        self.anonymous_audit = AnonymousAuditLimit()
        self._login_slots = anyio.CapacityLimiter(LOGIN_CONCURRENCY)
        self._logins_in_flight = 0
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

    def _credential(self, conn: HTTPConnection) -> Credential | None:
        """What the request presents: a bearer token, else the SSO header (only through
        a trusted proxy), else the session cookie. A malformed ``Authorization`` header
        is no credential, never a fallback to the cookie."""
        auth = conn.headers.get("authorization")
        if auth is not None:
            scheme, _, secret = auth.strip().partition(" ")
            secret = secret.strip()
            if scheme.lower() != "bearer" or not secret:
                return None
            return Credential("token", secret, ambient=False)
        header = self.config.user_header
        if header and conn.scope.get(VIA_PROXY_SCOPE_KEY) and conn.headers.get(header):
            return Credential("user", conn.headers[header].strip(), ambient=True)
        cookie = conn.cookies.get(SESSION_COOKIE)
        return Credential("session", cookie, ambient=True) if cookie else None

    async def _identify(self, credential: Credential) -> Principal | None:
        """The principal of ``credential`` as the store sees it now (None: not valid):
        from the identity cache on the event loop, else the database in a thread."""
        store = self.store
        principal = store.cached_identity(credential.kind, credential.secret)
        if principal is None:
            resolve = {
                "token": store.resolve_token,
                "session": store.resolve_session,
                "user": store.resolve_user,
            }[credential.kind]
            principal = await self._run(resolve, credential.secret)
        return principal

    async def _authenticate(self, conn: HTTPConnection) -> Caller | None:
        """The caller, from the request's headers alone (the body is not read)."""
        credential = self._credential(conn)
        if credential is None:
            return None
        principal = await self._identify(credential)
        return None if principal is None else Caller(principal, credential)

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
            lambda: self.store.audit(
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
            lambda: self.store.audit(
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
            response = await self._auth_route(request)
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
        caller = await self._authenticate(request)
        if caller is None:
            await self._audit_anonymous(scope)
            return _unauthenticated(request, method)
        principal = caller.principal
        route, params = self._inner_route(scope)
        rule = rule_for(route)
        if rule is not None and rule.refusal(params) is not None:
            return _error(404, "not found", "NOT_FOUND")
        try:
            body = await read_body(
                request.receive, request.headers.get("content-length"), self.config.max_body_bytes
            )
        except BodyTooLarge:
            return _error(413, "request body too large", "PAYLOAD_TOO_LARGE")
        except ClientDisconnect:
            return Response(status_code=400)
        try:
            action = await self._classify(scope, request, route, rule, body)
        except PolicyError as exc:
            await self._audit(scope, principal, "denied", _Action(Role.admin, True), str(exc))
            return _error(400, f"request refused: {exc}", "BAD_REQUEST")

        async def refuse(response: Response, reason: str) -> Response:
            if action.mutation:
                await self._audit(scope, principal, "denied", action, reason)
            return response

        cross_site = method not in SAFE_METHODS and not self.origins.write_allowed(request)
        if caller.credential.ambient and cross_site:
            return await refuse(
                _error(403, "cross-site request refused (CSRF check)", "CSRF"), "csrf check"
            )
        if action.verdict is not None and action.mutation and method != "POST":
            return await refuse(
                _error(405, "mutations must be sent with POST", "METHOD_NOT_ALLOWED", allow="POST"),
                f"mutation sent with {method}",
            )
        if principal.role < action.required:
            needs = action.required.name
            message = f"role {principal.role.name} may not do this (needs {needs})"
            return await refuse(_error(403, message, "FORBIDDEN"), f"needs {needs}")
        if action.mutation:
            await self._audit(scope, principal, "allowed", action)
        scope[PRINCIPAL_SCOPE_KEY] = principal
        if method == "GET" and "text/html" in request.headers.get("accept", ""):
            send = with_banner(send, lambda: self._banner(request, principal))
        await self.inner(scope, _replay(body, request.receive), send)
        return None

    def _banner(self, conn: HTTPConnection, principal: Principal) -> bytes:
        cookie = conn.cookies.get(SESSION_COOKIE)
        return banner_html(principal, csrf_token(cookie) if cookie else None)

    # ------------------------------------------------------------------ /auth

    async def _auth_route(self, request: Request) -> Response:
        path, method = request.url.path, request.method
        if path == "/auth/login" and method in ("GET", "HEAD"):
            caller = await self._authenticate(request)
            target = _safe_next(request.query_params.get("next"))
            if caller is not None:
                return RedirectResponse(target, status_code=303)
            return login_page(target)
        if path == "/auth/login" and method == "POST":
            return await self._login(request)
        if path == "/auth/logout" and method == "POST":
            return await self._logout(request)
        if path == "/auth/me" and method in ("GET", "HEAD"):
            caller = await self._authenticate(request)
            if caller is None:
                return _error(401, "authentication required", "UNAUTHENTICATED")
            principal = caller.principal
            me: dict[str, Any] = {
                "username": principal.username,
                "role": principal.role.name,
                "via": principal.via,
            }
            cookie = request.cookies.get(SESSION_COOKIE)
            if principal.via == "session" and cookie:
                me["csrf_token"] = csrf_token(cookie)
            return JSONResponse(me, headers={"cache-control": "no-store"})
        asset = login_asset(path) if method in ("GET", "HEAD") else None
        if asset is not None:
            return asset
        if path in ("/auth/login", "/auth/logout", "/auth/me"):
            return _error(405, "method not allowed", "METHOD_NOT_ALLOWED")
        return _error(404, "not found", "NOT_FOUND")

    async def _form(self, request: Request) -> tuple[dict[str, str], bool]:
        """The fields of a JSON or urlencoded body, and whether it was JSON."""
        body = await read_body(
            request.receive, request.headers.get("content-length"), LOGIN_BODY_LIMIT
        )
        if "application/json" in request.headers.get("content-type", ""):
            data = parse_json(body or b"{}")
            if not isinstance(data, dict):
                raise ValueError("expected a JSON object")
            return {k: v for k, v in data.items() if isinstance(v, str)}, True
        pairs = parse_qs(body.decode(), keep_blank_values=True)
        return {k: v[0] for k, v in pairs.items()}, False

    async def _login(self, request: Request) -> Response:
        if not self.origins.login_allowed(request):
            return _error(403, "cross-site login refused", "CSRF")
        try:
            fields, as_json = await self._form(request)
        except BodyTooLarge:
            return _error(413, "request body too large", "PAYLOAD_TOO_LARGE")
        except (ValueError, ClientDisconnect):  # UnicodeDecodeError is a ValueError
            return _error(400, "expected form or JSON fields username and password", "BAD_REQUEST")
        target = _safe_next(fields.get("next"))
        address = client_address(request.scope)
        store = self.store

        def audit_throttled() -> bool:
            return self.anonymous_audit.admit(address, store.now()) != "drop"

        def login() -> Principal:
            name, secret = fields.get("username", ""), fields.get("password", "")
            return store.login(name, secret, address, audit_throttled=audit_throttled)

        try:
            if self._logins_in_flight >= LOGIN_CONCURRENCY + LOGIN_QUEUE:
                raise LoginThrottled(1)
            self._logins_in_flight += 1
            try:
                principal = await anyio.to_thread.run_sync(login, limiter=self._login_slots)
            finally:
                self._logins_in_flight -= 1
            cookie = await self._run(store.create_session, principal, address)
        except LoginThrottled as exc:
            retry = {"retry-after": str(exc.retry_after_seconds)}
            message = "too many attempts; try again later"
            if as_json:
                return _error(429, message, "THROTTLED", **retry)
            return login_page(target, message, status=429, headers=retry)
        except LoginFailed:
            message = "invalid username or password"
            if as_json:
                return _error(401, message, "LOGIN_FAILED")
            return login_page(target, message, status=401)
        if as_json:
            response: Response = JSONResponse(
                {
                    "username": principal.username,
                    "role": principal.role.name,
                    "csrf_token": csrf_token(cookie),
                },
                headers={"cache-control": "no-store"},
            )
        else:
            response = RedirectResponse(target, status_code=303)
        secure = self._secure(request.scope)
        response.set_cookie(SESSION_COOKIE, cookie, httponly=True, samesite="lax", secure=secure)
        response.set_cookie(CSRF_COOKIE, csrf_token(cookie), samesite="strict", secure=secure)
        return response

    async def _logout(self, request: Request) -> Response:
        try:
            fields, as_json = await self._form(request)
        except (BodyTooLarge, ValueError, ClientDisconnect):
            fields, as_json = {}, False
        as_json = as_json or "application/json" in request.headers.get("accept", "")
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie and request.headers.get("authorization") is None:
            if not self.origins.write_allowed(request, fields.get("csrf_token")):
                return _error(403, "cross-site request refused (CSRF check)", "CSRF")
            await self._run(
                lambda: self.store.revoke_session(cookie, address=client_address(request.scope))
            )
        response: Response = (
            JSONResponse({"ok": True}) if as_json else RedirectResponse("/auth/login", 303)
        )
        secure = self._secure(request.scope)
        response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax", secure=secure)
        response.delete_cookie(CSRF_COOKIE, samesite="strict", secure=secure)
        return response

    # ------------------------------------------------------------------ WebSocket

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        conn = HTTPConnection(scope)
        caller = await self._authenticate(conn)
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
            identify=lambda: self._identify(caller.credential),
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
    **starlette_kwargs: Any,
) -> Gateway:
    """The gateway around ``dagster_webserver``'s app for ``process_context``."""
    from dagster_webserver.app import create_app_from_workspace_process_context

    if not isinstance(process_context, GatewayProcessContext):
        raise TypeError("the gateway needs a GatewayProcessContext (role-derived permissions)")
    inner = create_app_from_workspace_process_context(process_context, **starlette_kwargs)
    return Gateway(inner, list(inner.routes), store, config or GatewayConfig.from_env())
