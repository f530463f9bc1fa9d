"""The gateway's login page: HTML, its stylesheet and icon (no script, strict CSP)."""

from __future__ import annotations

import html
from collections.abc import Mapping

from starlette.responses import HTMLResponse, Response

PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def login_page(
    next_path: str, error: str = "", status: int = 200, headers: Mapping[str, str] | None = None
) -> HTMLResponse:
    """The sign-in form (going on to ``next_path``), with an optional error notice."""
    notice = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    page = LOGIN_HTML.format(next=html.escape(next_path, quote=True), notice=notice)
    return HTMLResponse(
        page,
        status_code=status,
        headers={
            "content-security-policy": PAGE_CSP,
            "cache-control": "no-store",
            **(headers or {}),
        },
    )


LOGIN_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · AeroFS Pipelines</title>
<link rel="icon" type="image/svg+xml" href="/auth/assets/icon.svg">
<link rel="stylesheet" href="/auth/assets/login.css"></head>
<body><main><form method="post" action="/auth/login">
<h1>AeroFS Pipelines</h1>{notice}
<input type="hidden" name="next" value="{next}">
<label>Username <input name="username" autocomplete="username" required autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required>
</label><button type="submit">Sign in</button></form></main></body></html>
"""

ICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
    '<circle cx="8" cy="8" r="7" fill="#4f46e5"/></svg>'
)

LOGIN_CSS = """body{margin:0;min-height:100vh;display:grid;place-items:center;
font:15px/1.5 system-ui,sans-serif;background:#f4f5f7;color:#1f2937}
form{background:#fff;padding:2rem;border-radius:12px;box-shadow:0 2px 12px rgba(0,0,0,.08);
display:grid;gap:.9rem;width:18rem}h1{font-size:1.2rem;margin:0 0 .5rem}
label{display:grid;gap:.25rem;font-size:.9rem}
input{font:inherit;padding:.45rem .6rem;border:1px solid #c8ccd2;border-radius:6px}
button{font:inherit;padding:.5rem;border:0;border-radius:6px;background:#4f46e5;color:#fff;
cursor:pointer}.error{color:#b91c1c;margin:0}
"""


def login_asset(path: str) -> Response | None:
    """The login page's stylesheet or icon at ``path``; None for another path."""
    if path == "/auth/assets/login.css":
        return Response(LOGIN_CSS, media_type="text/css")
    if path == "/auth/assets/icon.svg":
        return Response(ICON_SVG, media_type="image/svg+xml")
    return None
