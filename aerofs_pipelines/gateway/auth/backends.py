"""Who is calling: credentials from a request's headers, resolved against the store.

In the spirit of Starlette's ``AuthenticationMiddleware``, each way in is a backend that
finds its credential in the headers (never the body), tried in order:

1. :class:`BearerToken`: ``Authorization: Bearer <token>``. A malformed ``Authorization``
   header is no identity, never a fallback to the cookie;
2. :class:`TrustedUserHeader`: SSO mode, e.g. ``X-Forwarded-User``, believed only on
   requests that came through a trusted proxy;
3. :class:`SessionCookie`: the session cookie.

:class:`Authenticator` resolves the credential from the identity cache on the event loop,
else from the database in a worker thread, and can check a long-lived connection's
credential again (:meth:`Authenticator.identify`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import anyio.to_thread
from starlette.requests import HTTPConnection

from aerofs_pipelines.gateway.identity.principal import Caller, Credential, Principal
from aerofs_pipelines.gateway.identity.sessions import COOKIE_NAME as SESSION_COOKIE
from aerofs_pipelines.gateway.store import GatewayStore

__all__ = [
    "Authenticator",
    "Backend",
    "BearerToken",
    "SessionCookie",
    "TrustedUserHeader",
]

VIA_PROXY_SCOPE_KEY = "aerofs.via_proxy"
"""Set in the ASGI scope by the proxy-headers middleware for requests that came through a
trusted proxy: the only ones whose SSO user header is believed."""
REFUSED: Literal["refused"] = "refused"
"""A backend's answer for a credential that is there but malformed: stop, no identity."""


class Backend(Protocol):
    """One way in: the credential it finds in a request, if any."""

    def credential(self, conn: HTTPConnection) -> Credential | Literal["refused"] | None:
        """The request's credential of this kind; None: not this kind; ``refused``."""


class BearerToken:
    """``Authorization: Bearer <token>`` (API clients; never sent by a browser itself)."""

    def credential(self, conn: HTTPConnection) -> Credential | Literal["refused"] | None:
        auth = conn.headers.get("authorization")
        if auth is None:
            return None
        scheme, _, secret = auth.strip().partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            return REFUSED
        return Credential("token", secret, ambient=False)


class TrustedUserHeader:
    """A user name set by an SSO proxy, on requests that came through a trusted one."""

    def __init__(self, header: str) -> None:
        self.header = header

    def credential(self, conn: HTTPConnection) -> Credential | Literal["refused"] | None:
        if not conn.scope.get(VIA_PROXY_SCOPE_KEY) or not conn.headers.get(self.header):
            return None
        return Credential("user", conn.headers[self.header].strip(), ambient=True)


class SessionCookie:
    """The session cookie of a browser that logged in."""

    def credential(self, conn: HTTPConnection) -> Credential | Literal["refused"] | None:
        cookie = conn.cookies.get(SESSION_COOKIE)
        return Credential("session", cookie, ambient=True) if cookie else None


class Authenticator:
    """Finds a request's credential with the first backend that has one, and resolves it."""

    def __init__(self, store: GatewayStore, backends: Sequence[Backend]) -> None:
        self.store = store
        self.backends = tuple(backends)

    @classmethod
    def standard(cls, store: GatewayStore, user_header: str | None) -> Authenticator:
        """Bearer token, then the SSO header (when configured), then the session cookie."""
        backends: list[Backend] = [BearerToken()]
        if user_header:
            backends.append(TrustedUserHeader(user_header))
        backends.append(SessionCookie())
        return cls(store, backends)

    def credential(self, conn: HTTPConnection) -> Credential | None:
        """What the request presents (from its headers alone)."""
        for backend in self.backends:
            found = backend.credential(conn)
            if found == REFUSED:
                return None
            if isinstance(found, Credential):
                return found
        return None

    async def identify(self, credential: Credential) -> Principal | None:
        """The principal of ``credential`` as the store sees it now (None: not valid):
        from the identity cache on the event loop, else the database in a thread."""
        store = self.store
        principal = store.identities.cached(credential.kind, credential.secret)
        if principal is None:
            resolve = {
                "token": store.tokens.resolve,
                "session": store.sessions.resolve,
                "user": store.users.resolve,
            }[credential.kind]
            principal = await anyio.to_thread.run_sync(resolve, credential.secret)
        return principal

    async def authenticate(self, conn: HTTPConnection) -> Caller | None:
        """The caller, from the request's headers alone (the body is not read)."""
        credential = self.credential(conn)
        if credential is None:
            return None
        principal = await self.identify(credential)
        return None if principal is None else Caller(principal, credential)
