"""Security headers on every response the gateway sends, error pages included.

:class:`SecurityHeadersMiddleware` adds them to each ``http.response.start`` (and to a
refused WebSocket handshake), whoever wrote the response: the gateway, Dagster's
webserver, or itself for an exception raised before a response started (a 500 that
carries them too). Defaults where the app set none, a frame-ancestors CSP always, HSTS
over https.
"""

from __future__ import annotations

import json
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SecurityHeadersMiddleware", "add_security_headers"]

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
