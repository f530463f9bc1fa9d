"""What the gateway adds to responses.

- :class:`SecurityHeadersMiddleware`: the security headers on every response, the
  gateway's own, the webserver's, and the error page of an exception (a 500 it writes
  itself, so no response leaves without them);
- the user banner (name, role, logout) before ``</body>`` of a successful HTML page,
  only for GET requests that accept HTML (:func:`with_banner`).
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aerofs_pipelines.gateway.identity import Principal

_SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
)
_FRAME_CSP = (b"content-security-policy", b"frame-ancestors 'none'")
_HSTS = (b"strict-transport-security", b"max-age=31536000")


def add_security_headers(message: Message, https: bool) -> None:
    """Add the security headers to an ``http.response.start`` message (in place): the
    defaults where the app set none, a frame-ancestors CSP always, HSTS over https."""
    raw: list[tuple[bytes, bytes]] = list(message.get("headers", ()))
    present = {name.lower() for name, _ in raw}
    raw.extend(h for h in _SECURITY_HEADERS if h[0] not in present)
    raw.append(_FRAME_CSP)
    if https:
        if _HSTS[0] in present:
            raw = [h for h in raw if h[0].lower() != _HSTS[0]]
        raw.append(_HSTS)
    message["headers"] = raw


_log = logging.getLogger("aerofs.gateway")
_STARTS = frozenset({"http.response.start", "websocket.http.response.start"})


class SecurityHeadersMiddleware:
    """Adds the security headers to every HTTP response (and WebSocket refusal), and
    turns an exception before the response started into a 500 that carries them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") in ("https", "wss")
        started = False

        async def secured(message: Message) -> None:
            nonlocal started
            if message["type"] in _STARTS:
                started = True
                add_security_headers(message, https)
            await send(message)

        try:
            await self.app(scope, receive, secured)
        except Exception:
            if started or scope["type"] != "http":
                raise
            _log.exception("gateway error on %s %s", scope.get("method"), scope.get("path"))
            body = json.dumps(
                {"data": None, "errors": [{"message": "internal server error"}]}
            ).encode()
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ]
            await secured({"type": "http.response.start", "status": 500, "headers": headers})
            await send({"type": "http.response.body", "body": body})


def banner_html(principal: Principal, csrf_token: str | None) -> bytes:
    """The banner: user name, role, and a logout form when signed in by session."""
    name, role = html.escape(principal.username), html.escape(principal.role.name)
    logout = ""
    if principal.via == "session" and csrf_token:
        logout = (
            '<form method="post" action="/auth/logout" style="margin:0">'
            f'<input type="hidden" name="csrf_token" value="{csrf_token}">'
            '<button type="submit" data-testid="aerofs-logout" style="font:inherit;'
            "cursor:pointer;border:1px solid #c8ccd2;border-radius:10px;background:#fff;"
            'padding:1px 8px">Log out</button></form>'
        )
    return (
        '<div id="aerofs-user" style="position:fixed;right:12px;bottom:12px;'
        "z-index:2147483647;display:flex;gap:8px;align-items:center;"
        "font:12px/1.6 system-ui,sans-serif;color:#1f2937;background:#fff;"
        "border:1px solid #d0d5dd;border-radius:14px;padding:3px 4px 3px 12px;"
        'box-shadow:0 1px 4px rgba(0,0,0,.15)">'
        f'<span data-testid="aerofs-username">{name}</span>'
        f'<span data-testid="aerofs-role" style="color:#6b7280">{role}</span>'
        f"{logout}</div>"
    ).encode()


def _header(raw: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    return next((v for k, v in raw if k.lower() == name), None)


def with_banner(send: Send, banner: Callable[[], bytes]) -> Send:
    """``send`` adding ``banner()`` before ``</body>`` of a 200 ``text/html`` response
    that is not content-encoded."""
    start: Message | None = None
    chunks: list[bytes] = []

    async def wrapped(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            raw = list(message.get("headers", ()))
            ctype = (_header(raw, b"content-type") or b"").decode("latin-1")
            if (
                message["status"] == 200
                and ctype.startswith("text/html")
                and _header(raw, b"content-encoding") is None
            ):
                start = message
                return
        elif message["type"] == "http.response.body" and start is not None:
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            at = body.rfind(b"</body>")
            extra = banner()
            body = body[:at] + extra + body[at:] if at >= 0 else body + extra
            length = str(len(body)).encode()
            start["headers"] = [
                *(h for h in start["headers"] if h[0].lower() != b"content-length"),
                (b"content-length", length),
            ]
            first, start = start, None
            await send(first)
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        await send(message)

    return wrapped
