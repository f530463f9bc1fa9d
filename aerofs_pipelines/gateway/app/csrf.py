"""Where a browser request comes from, and the CSRF rules built on it.

A browser sends ``Origin`` with every POST (``null`` from sandboxed frames, ``file:``
pages and some redirects), and usually ``Referer``. :class:`OriginRule` tells:

- ``ours``: the request's own origin (scheme, host and port alike) or one of
  ``AEROFS_ALLOWED_ORIGINS``;
- ``foreign``: another site;
- ``opaque``: ``Origin: null``, whose site cannot be told;
- ``unknown``: neither header: not a browser (curl, an API client).

Cookie-authenticated writes must be ``ours``, or carry the session's CSRF token when
``opaque`` or ``unknown``. A login must not be ``foreign`` or ``opaque``: logging a
victim into the attacker's account (login CSRF) needs a cross-site form, and browsers
always say where one comes from.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Literal
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

from aerofs_pipelines.gateway.identity.sessions import COOKIE_NAME as SESSION_COOKIE

CSRF_HEADER = "x-csrf-token"
Source = Literal["ours", "foreign", "opaque", "unknown"]
_WEB_SCHEME = {"ws": "http", "wss": "https"}


def csrf_token(session_cookie: str) -> str:
    """The CSRF token of a session: unforgeable without the (HttpOnly) cookie."""
    return hashlib.sha256(b"aerofs.csrf:" + session_cookie.encode()).hexdigest()


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


class OriginRule:
    """Judges the ``Origin``/``Referer`` of requests to this server."""

    def __init__(self, allowed_origins: Iterable[str] = ()) -> None:
        self.allowed = frozenset(o.strip().rstrip("/") for o in allowed_origins)

    def is_ours(self, origin: str, conn: HTTPConnection) -> bool:
        """Whether ``origin`` (``scheme://host[:port]``) is this server's own or allowed."""
        origin = origin.strip().rstrip("/")
        if origin in self.allowed:
            return True
        scheme = conn.url.scheme
        scheme = _WEB_SCHEME.get(scheme, scheme)
        try:
            theirs, own = urlsplit(origin), urlsplit(f"//{conn.headers.get('host', '')}")
            their_port = theirs.port or _default_port(theirs.scheme)
            own_port = own.port or _default_port(scheme)
        except ValueError:  # a malformed port
            return False
        if not theirs.hostname or not own.hostname:
            return False
        return (theirs.scheme, theirs.hostname, their_port) == (scheme, own.hostname, own_port)

    def source(self, conn: HTTPConnection) -> Source:
        """Where the request says it comes from."""
        origin = conn.headers.get("origin")
        if origin is not None:
            if origin.strip() == "null":
                return "opaque"
            return "ours" if self.is_ours(origin, conn) else "foreign"
        referer = conn.headers.get("referer")
        if referer:
            parts = urlsplit(referer)
            return "ours" if self.is_ours(f"{parts.scheme}://{parts.netloc}", conn) else "foreign"
        return "unknown"

    def write_allowed(self, conn: HTTPConnection, form_token: str | None = None) -> bool:
        """A cookie-authenticated write: from our pages, or with the session's CSRF token
        (header, or the form field of the banner's logout button)."""
        source = self.source(conn)
        if source != "unknown" and source != "opaque":
            return source == "ours"
        token = conn.headers.get(CSRF_HEADER) or form_token
        cookie = conn.cookies.get(SESSION_COOKIE)
        return bool(token and cookie and hmac.compare_digest(token, csrf_token(cookie)))

    def login_allowed(self, conn: HTTPConnection) -> bool:
        """A login: not from another site, nor from a page that hides its site."""
        return self.source(conn) in ("ours", "unknown")

    def websocket_allowed(self, conn: HTTPConnection) -> bool:
        """A cookie-authenticated WebSocket: browsers always send ``Origin`` there."""
        origin = conn.headers.get("origin")
        return origin is None or (origin.strip() != "null" and self.is_ours(origin, conn))
