"""The user banner (name, role, logout) added before ``</body>`` of the UI's HTML pages."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

from starlette.types import Message, Send

from aerofs_pipelines.gateway.app.mounts import BannerLink
from aerofs_pipelines.gateway.identity.principal import Principal

__all__ = ["banner_html", "with_banner"]


def banner_html(
    principal: Principal, csrf_token: str | None, links: Sequence[BannerLink] = ()
) -> bytes:
    """The banner: user name, role, the mounted apps' links (those given: the caller's
    role may follow them), and a logout form when signed in by session."""
    name, role = html.escape(principal.username), html.escape(principal.role.name)
    anchors = "".join(
        f'<a href="{html.escape(link.href)}" data-testid="{html.escape(link.test_id)}" '
        f'style="color:#1d4ed8">{html.escape(link.label)}</a>'
        for link in links
    )
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
        f"{anchors}{logout}</div>"
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
