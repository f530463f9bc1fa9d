"""The gateway ASGI app: authentication and authorization around Dagster's webserver.

Open without identity: ``/healthz``, ``/auth/login`` (page, its CSS, POST) and
``/auth/logout``. Everything else, each route of the wrapped webserver app included,
needs a session cookie or ``Authorization: Bearer``; anonymous HTML navigations are
redirected to the login page, other anonymous calls get 401, a role too low 403, and a
refused request never reaches Dagster.

Enforcement, in order, for a request to the webserver app:

1. body capped (``max_body_bytes``; 413);
2. the webserver route is matched with its own Starlette routes (no path guessing);
   GraphQL requests are judged by :mod:`graphql_policy` (unparsable → 400);
3. identity: bearer token, else the SSO header (only from ``trusted_proxies``), else
   the session cookie (401 / login redirect without one); a credential seen in the last
   few seconds is answered from the store's identity cache on the event loop, any other
   looked up in a worker thread (:mod:`identity_cache`: revocations in this process
   apply at once, from another process within its TTL, 5 s by default);
4. CSRF for writes with a cookie or SSO header: same ``Origin`` (or ``Referer``), else
   an ``X-CSRF-Token`` header matching the session (403);
5. role: GraphQL by its mutation fields, GET mutations refused (405), REST
   ``/report_asset_*`` editor, other writes admin (403); every mutation, allowed or
   denied, audited through the store;
6. the principal is put in the ASGI scope, where :class:`GatewayProcessContext` turns
   it into Dagster's per-request permissions.

WebSocket ``/graphql``: same identity at connect (refused before accept), a
cookie-authenticated connection must come from our origin, and ``start`` frames carrying
a mutation (or that cannot be parsed) are answered with an ``error`` frame and dropped.
HTML pages of the UI (GET requests accepting ``text/html``) get a small banner with the
user's name, role and a logout button; every response gets the security headers
(:mod:`responses`). The login page lives in :mod:`login_page`.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote, urlsplit

import anyio.to_thread
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, HTTPConnection, Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aerofs_pipelines.gateway.context import PRINCIPAL_SCOPE_KEY, GatewayProcessContext
from aerofs_pipelines.gateway.graphql_policy import PolicyError, Verdict, judge_http, judge_ws_start
from aerofs_pipelines.gateway.identity import Principal
from aerofs_pipelines.gateway.login_page import login_asset, login_page
from aerofs_pipelines.gateway.responses import banner_html, secured, with_banner
from aerofs_pipelines.gateway.roles import Role
from aerofs_pipelines.gateway.sessions import COOKIE_NAME as SESSION_COOKIE
from aerofs_pipelines.gateway.store import GatewayStore, LoginFailed, LoginThrottled

CSRF_COOKIE = "aerofs_csrf"
VIA_PROXY_SCOPE_KEY = "aerofs.via_proxy"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOGIN_BODY_LIMIT = 16 * 1024
_T = TypeVar("_T")
_ROUTE_CACHE_SIZE = 512


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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

    def is_trusted_proxy(self, address: str | None) -> bool:
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(ip in net for net in self.trusted_proxies)


class _BodyTooLarge(Exception):
    pass


def csrf_token(session_cookie: str) -> str:
    """The CSRF token of a session: unforgeable without the (HttpOnly) cookie."""
    return hashlib.sha256(b"aerofs.csrf:" + session_cookie.encode()).hexdigest()


def _client_address(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


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


def _default_port(scheme: str) -> str:
    return "443" if scheme in ("https", "wss") else "80"


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
        # (method, path, root_path) -> the webserver route matching it fully, if any
        self._route_cache: dict[tuple[str, str, str], BaseRoute | None] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            self._forwarded(scope)
            await self._http(scope, receive, send)
        elif kind == "websocket":
            self._forwarded(scope)
            await self._websocket(scope, receive, send)
        else:  # lifespan
            await self.inner(scope, receive, send)

    # ------------------------------------------------------------------ helpers

    def _forwarded(self, scope: Scope) -> None:
        """Believe ``X-Forwarded-For``/``-Proto`` only from a trusted proxy."""
        if not self.config.trusted_proxies or not self.config.is_trusted_proxy(
            _client_address(scope)
        ):
            return
        scope[VIA_PROXY_SCOPE_KEY] = True
        headers = Headers(scope=scope)
        hops = [h.strip() for h in ",".join(headers.getlist("x-forwarded-for")).split(",")]
        for hop in reversed([h for h in hops if h]):
            if not self.config.is_trusted_proxy(hop):
                scope["client"] = (hop, 0)
                break
        proto = headers.get("x-forwarded-proto", "").split(",")[-1].strip().lower()
        if proto in ("http", "https"):
            secure = proto == "https"
            if scope["type"] == "websocket":
                scope["scheme"] = "wss" if secure else "ws"
            else:
                scope["scheme"] = proto

    async def _run(self, fn: Callable[..., _T], *args: Any) -> _T:
        return await anyio.to_thread.run_sync(lambda: fn(*args))

    def _secure(self, scope: Scope) -> bool:
        if self.config.secure_cookies is not None:
            return self.config.secure_cookies
        return scope.get("scheme") in ("https", "wss")

    def _origin_ok(self, origin: str, conn: HTTPConnection) -> bool:
        origin = origin.strip().rstrip("/")
        if origin in self.config.allowed_origins:
            return True
        host = conn.headers.get("host", "")
        try:
            parts, own = urlsplit(origin), urlsplit(f"//{host}")
            port = str(parts.port or _default_port(parts.scheme))
            own_port = str(own.port or _default_port(conn.url.scheme))
        except ValueError:  # a malformed port
            return False
        if not parts.hostname or not own.hostname:
            return False
        return parts.hostname == own.hostname and port == own_port

    def _csrf_ok(self, conn: HTTPConnection, form_token: str | None = None) -> bool:
        """A cookie-authenticated write comes from our own pages (or carries the token)."""
        origin = conn.headers.get("origin")
        if origin is not None and origin != "null":
            return self._origin_ok(origin, conn)
        referer = conn.headers.get("referer")
        if referer:
            parts = urlsplit(referer)
            return self._origin_ok(f"{parts.scheme}://{parts.netloc}", conn)
        token = conn.headers.get(CSRF_HEADER) or form_token
        cookie = conn.cookies.get(SESSION_COOKIE)
        return bool(token and cookie and hmac.compare_digest(token, csrf_token(cookie)))

    async def _authenticate(self, conn: HTTPConnection) -> tuple[Principal | None, bool]:
        """The caller, and whether the browser sent the credential on its own (cookie or
        SSO header: CSRF applies). A bad bearer token is no identity, never a fallback."""
        store = self.store
        auth = conn.headers.get("authorization")
        if auth is not None:
            scheme, _, secret = auth.strip().partition(" ")
            secret = secret.strip()
            if scheme.lower() != "bearer" or not secret:
                return None, False
            principal = store.cached_identity("token", secret)
            if principal is None:
                principal = await self._run(store.resolve_token, secret)
            return principal, False
        header = self.config.user_header
        if header and conn.scope.get(VIA_PROXY_SCOPE_KEY) and conn.headers.get(header):
            name = conn.headers[header].strip()
            principal = store.cached_identity("user", name)
            if principal is None:
                principal = await self._run(store.resolve_user, name)
            return principal, True
        cookie = conn.cookies.get(SESSION_COOKIE)
        if not cookie:
            return None, False
        principal = store.cached_identity("session", cookie)
        if principal is None:
            principal = await self._run(store.resolve_session, cookie)
        return principal, principal is not None

    def _inner_route(self, scope: Scope) -> BaseRoute | None:
        """The webserver route matching an HTTP request fully (memoized by method and
        path: matching depends on nothing else)."""
        key = (scope["method"], scope["path"], scope.get("root_path", ""))
        try:
            return self._route_cache[key]
        except KeyError:
            pass
        found = None
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                found = route
                break
        if len(self._route_cache) >= _ROUTE_CACHE_SIZE:
            self._route_cache.clear()
        self._route_cache[key] = found
        return found

    async def _read_body(self, request: Request, limit: int) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            raise _BodyTooLarge
        chunks: list[bytes] = []
        size = 0
        receive = request.receive
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect
            if message["type"] != "http.request":
                continue
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

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
                address=_client_address(scope),
                outcome=outcome,
                operation=action.operation,
                fields=action.fields,
                variables=action.variables,
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
        await response(scope, receive, secured(send, scope.get("scheme") == "https"))

    def _classify(self, scope: Scope, request: Request, body: bytes) -> _Action:
        """What a request to the webserver app does and the least role it needs
        (PolicyError for a GraphQL request that cannot be judged)."""
        method, path = scope["method"], scope["path"]
        route = self._inner_route(scope)
        if getattr(route, "name", None) == "graphql-http":
            verdict = judge_http(
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
        route_path = str(getattr(route, "path", ""))
        if route_path.startswith("/report_asset_"):
            return _Action(Role.editor, True, route_path.split("/")[1], (path,))
        if method in SAFE_METHODS:
            return _Action(Role.viewer, False)
        return _Action(Role.admin, True, f"{method} {path}")  # no such write: fail closed

    async def _guarded(self, scope: Scope, request: Request, send: Send) -> Response | None:
        """Check a request to the webserver app; forward it, or the refusal to send."""
        method: str = scope["method"]
        try:
            body = await self._read_body(request, self.config.max_body_bytes)
        except _BodyTooLarge:
            return _error(413, "request body too large", "PAYLOAD_TOO_LARGE")
        except ClientDisconnect:
            return Response(status_code=400)
        principal, ambient = await self._authenticate(request)
        try:
            action = self._classify(scope, request, body)
        except PolicyError as exc:
            if principal is None:
                return _unauthenticated(request, method)
            await self._audit(scope, principal, "denied", _Action(Role.admin, True), str(exc))
            return _error(400, f"request refused: {exc}", "BAD_REQUEST")

        async def refuse(response: Response, reason: str) -> Response:
            if action.mutation:
                await self._audit(scope, principal, "denied", action, reason)
            return response

        if principal is None:
            return await refuse(_unauthenticated(request, method), "no identity")
        if ambient and method not in SAFE_METHODS and not self._csrf_ok(request):
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
        https = scope.get("scheme") == "https"
        if method == "GET" and "text/html" in request.headers.get("accept", ""):
            wrapped = with_banner(send, https, lambda: self._banner(request, principal))
        else:
            wrapped = secured(send, https)
        await self.inner(scope, _replay(body, request.receive), wrapped)
        return None

    def _banner(self, conn: HTTPConnection, principal: Principal) -> bytes:
        cookie = conn.cookies.get(SESSION_COOKIE)
        return banner_html(principal, csrf_token(cookie) if cookie else None)

    # ------------------------------------------------------------------ /auth

    async def _auth_route(self, request: Request) -> Response:
        path, method = request.url.path, request.method
        if path == "/auth/login" and method in ("GET", "HEAD"):
            principal, _ = await self._authenticate(request)
            target = _safe_next(request.query_params.get("next"))
            if principal is not None:
                return RedirectResponse(target, status_code=303)
            return login_page(target)
        if path == "/auth/login" and method == "POST":
            return await self._login(request)
        if path == "/auth/logout" and method == "POST":
            return await self._logout(request)
        if path == "/auth/me" and method in ("GET", "HEAD"):
            principal, _ = await self._authenticate(request)
            if principal is None:
                return _error(401, "authentication required", "UNAUTHENTICATED")
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
        body = await self._read_body(request, LOGIN_BODY_LIMIT)
        if "application/json" in request.headers.get("content-type", ""):
            data = json.loads(body or b"{}")
            if not isinstance(data, dict):
                raise ValueError("expected a JSON object")
            return {k: v for k, v in data.items() if isinstance(v, str)}, True
        pairs = parse_qs(body.decode(), keep_blank_values=True)
        return {k: v[0] for k, v in pairs.items()}, False

    async def _login(self, request: Request) -> Response:
        origin = request.headers.get("origin")
        if origin is not None and origin != "null" and not self._origin_ok(origin, request):
            return _error(403, "cross-site login refused", "CSRF")
        try:
            fields, as_json = await self._form(request)
        except _BodyTooLarge:
            return _error(413, "request body too large", "PAYLOAD_TOO_LARGE")
        except (ValueError, UnicodeDecodeError, ClientDisconnect):
            return _error(400, "expected form or JSON fields username and password", "BAD_REQUEST")
        target = _safe_next(fields.get("next"))
        address = _client_address(request.scope)
        try:
            principal = await self._run(
                self.store.login, fields.get("username", ""), fields.get("password", ""), address
            )
            cookie = await self._run(self.store.create_session, principal, address)
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
        except (_BodyTooLarge, ValueError, UnicodeDecodeError, ClientDisconnect):
            fields, as_json = {}, False
        as_json = as_json or "application/json" in request.headers.get("accept", "")
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie and request.headers.get("authorization") is None:
            if not self._csrf_ok(request, fields.get("csrf_token")):
                return _error(403, "cross-site request refused (CSRF check)", "CSRF")
            await self._run(
                lambda: self.store.revoke_session(cookie, address=_client_address(request.scope))
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
        principal, ambient = await self._authenticate(conn)
        if principal is None:
            return await _deny_ws(scope, receive, send, 401, "authentication required")
        origin = conn.headers.get("origin")
        if ambient and origin is not None and not self._origin_ok(origin, conn):
            return await _deny_ws(scope, receive, send, 403, "cross-site WebSocket refused")
        scope[PRINCIPAL_SCOPE_KEY] = principal
        await self.inner(scope, self._ws_guard(scope, receive, send, principal), send)

    def _ws_guard(
        self, scope: Scope, receive: Receive, send: Send, principal: Principal
    ) -> Receive:
        limit = self.config.max_body_bytes

        async def refuse(frame_id: Any, message: str) -> None:
            error = {"type": "error", "id": frame_id, "payload": {"message": message}}
            await send({"type": "websocket.send", "text": json.dumps(error)})

        async def guarded() -> Message:
            while True:
                message = await receive()
                if message["type"] != "websocket.receive":
                    return message
                raw = message.get("text")
                if raw is None:
                    raw = (message.get("bytes") or b"").decode("utf-8", "replace")
                if len(raw) > limit:
                    await send({"type": "websocket.close", "code": 1009})
                    return {"type": "websocket.disconnect", "code": 1009}
                try:
                    frame = json.loads(raw)
                except ValueError:
                    await refuse(None, "frame is not JSON")
                    continue
                if not isinstance(frame, dict):
                    await refuse(None, "frame is not a JSON object")
                    continue
                if frame.get("type") != "start":
                    return message
                try:
                    op = judge_ws_start(frame.get("payload"))
                except PolicyError as exc:
                    await refuse(frame.get("id"), f"request refused: {exc}")
                    continue
                if op.has_mutation:
                    action = _Action(op.least_role, True, op.name, op.fields, Verdict((op,)))
                    await self._audit(scope, principal, "denied", action, "mutation over WebSocket")
                    await refuse(frame.get("id"), "mutations are not accepted over WebSocket")
                    continue
                return message

        return guarded


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` giving the buffered body once, then the client's messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _deny_ws(scope: Scope, receive: Receive, send: Send, status: int, message: str) -> None:
    """Refuse a WebSocket handshake: an HTTP status where supported, else a close code."""
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
