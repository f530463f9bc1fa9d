"""The gateway's own routes under ``/auth``: the login page and its assets, login,
logout, and ``/auth/me``; a table of handlers by path and method.

Logins: the origin rule first (no login from another site, :mod:`.csrf`), then the
password check, at most ``LOGIN_CONCURRENCY`` at once on threads of their own (argon2id
takes 64 MiB and tens of milliseconds each), so a flood of logins neither exhausts memory
nor takes the worker threads every other request needs; past ``LOGIN_QUEUE`` waiting,
429. A successful login sets the session cookie (HttpOnly, SameSite=Lax) and the CSRF
cookie.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qs

import anyio
import anyio.to_thread
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from aerofs_pipelines.gateway.app.anonymous_audit import AnonymousAuditLimit
from aerofs_pipelines.gateway.app.bodies import BodyTooLarge, read_body
from aerofs_pipelines.gateway.app.csrf import OriginRule, csrf_token
from aerofs_pipelines.gateway.app.errors import error
from aerofs_pipelines.gateway.app.login_page import login_asset, login_page
from aerofs_pipelines.gateway.app.proxy_headers import client_address
from aerofs_pipelines.gateway.auth.backends import Authenticator
from aerofs_pipelines.gateway.identity.principal import Principal
from aerofs_pipelines.gateway.identity.sessions import COOKIE_NAME as SESSION_COOKIE
from aerofs_pipelines.gateway.jsonsafe import parse_json
from aerofs_pipelines.gateway.store import GatewayStore, LoginFailed, LoginThrottled

__all__ = ["CSRF_COOKIE", "LOGIN_CONCURRENCY", "LOGIN_QUEUE", "AuthRoutes", "safe_next"]

CSRF_COOKIE = "aerofs_csrf"
LOGIN_BODY_LIMIT = 16 * 1024
LOGIN_CONCURRENCY = 4
LOGIN_QUEUE = 64

Handler = Callable[[Request], Awaitable[Response]]


def safe_next(value: str | None) -> str:
    """A local path to go to after login (never another site)."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return "/"
    if any(c == "\\" or ord(c) < 0x21 or ord(c) == 0x7F for c in value):
        return "/"  # browsers drop tabs and newlines: "/\t/evil" would become "//evil"
    return value


class AuthRoutes:
    """Handlers of ``/auth/*``."""

    def __init__(
        self,
        store: GatewayStore,
        auth: Authenticator,
        origins: OriginRule,
        anonymous_audit: AnonymousAuditLimit,
        secure_cookies: bool | None,
    ) -> None:
        self.store = store
        self.auth = auth
        self.origins = origins
        self.anonymous_audit = anonymous_audit
        self.secure_cookies = secure_cookies
        self._login_slots = anyio.CapacityLimiter(LOGIN_CONCURRENCY)
        self._logins_in_flight = 0
        self.routes: Mapping[str, Mapping[str, Handler]] = {
            "/auth/login": {"GET": self.page, "HEAD": self.page, "POST": self.login},
            "/auth/logout": {"POST": self.logout},
            "/auth/me": {"GET": self.me, "HEAD": self.me},
        }

    async def __call__(self, request: Request) -> Response:
        path, method = request.url.path, request.method
        handlers = self.routes.get(path)
        if handlers is not None:
            handler = handlers.get(method)
            if handler is None:
                return error(405, "method not allowed", "METHOD_NOT_ALLOWED")
            return await handler(request)
        asset = login_asset(path) if method in ("GET", "HEAD") else None
        return asset if asset is not None else error(404, "not found", "NOT_FOUND")

    def _secure(self, request: Request) -> bool:
        if self.secure_cookies is not None:
            return self.secure_cookies
        return request.scope.get("scheme") in ("https", "wss")

    async def page(self, request: Request) -> Response:
        """The login page, or on to ``next`` for someone already logged in."""
        target = safe_next(request.query_params.get("next"))
        if await self.auth.authenticate(request) is not None:
            return RedirectResponse(target, status_code=303)
        return login_page(target)

    async def me(self, request: Request) -> Response:
        """Who is calling (and the session's CSRF token for scripts of the UI)."""
        caller = await self.auth.authenticate(request)
        if caller is None:
            return error(401, "authentication required", "UNAUTHENTICATED")
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

    async def login(self, request: Request) -> Response:
        """Check a password; set the session and CSRF cookies."""
        if not self.origins.login_allowed(request):
            return error(403, "cross-site login refused", "CSRF")
        try:
            fields, as_json = await self._form(request)
        except BodyTooLarge:
            return error(413, "request body too large", "PAYLOAD_TOO_LARGE")
        except (ValueError, ClientDisconnect):  # UnicodeDecodeError is a ValueError
            return error(400, "expected form or JSON fields username and password", "BAD_REQUEST")
        target = safe_next(fields.get("next"))
        address = client_address(request.scope)
        store = self.store

        def audit_throttled() -> bool:
            return self.anonymous_audit.admit(address, store.now()) != "drop"

        def login() -> Principal:
            name, secret = fields.get("username", ""), fields.get("password", "")
            return store.logins.login(name, secret, address, audit_throttled=audit_throttled)

        try:
            if self._logins_in_flight >= LOGIN_CONCURRENCY + LOGIN_QUEUE:
                raise LoginThrottled(1)
            self._logins_in_flight += 1
            try:
                principal = await anyio.to_thread.run_sync(login, limiter=self._login_slots)
            finally:
                self._logins_in_flight -= 1
            cookie = await anyio.to_thread.run_sync(store.sessions.create, principal, address)
        except LoginThrottled as exc:
            retry = {"retry-after": str(exc.retry_after_seconds)}
            message = "too many attempts; try again later"
            if as_json:
                return error(429, message, "THROTTLED", **retry)
            return login_page(target, message, status=429, headers=retry)
        except LoginFailed:
            message = "invalid username or password"
            if as_json:
                return error(401, message, "LOGIN_FAILED")
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
        secure = self._secure(request)
        response.set_cookie(SESSION_COOKIE, cookie, httponly=True, samesite="lax", secure=secure)
        response.set_cookie(CSRF_COOKIE, csrf_token(cookie), samesite="strict", secure=secure)
        return response

    async def logout(self, request: Request) -> Response:
        """End the session (with CSRF proof) and clear the cookies."""
        try:
            fields, as_json = await self._form(request)
        except (BodyTooLarge, ValueError, ClientDisconnect):
            fields, as_json = {}, False
        as_json = as_json or "application/json" in request.headers.get("accept", "")
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie and request.headers.get("authorization") is None:
            if not self.origins.write_allowed(request, fields.get("csrf_token")):
                return error(403, "cross-site request refused (CSRF check)", "CSRF")
            address = client_address(request.scope)
            await anyio.to_thread.run_sync(
                lambda: self.store.sessions.revoke(cookie, address=address)
            )
        response: Response = (
            JSONResponse({"ok": True}) if as_json else RedirectResponse("/auth/login", 303)
        )
        secure = self._secure(request)
        response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax", secure=secure)
        response.delete_cookie(CSRF_COOKIE, samesite="strict", secure=secure)
        return response
