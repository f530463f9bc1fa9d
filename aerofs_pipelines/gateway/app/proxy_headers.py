"""``X-Forwarded-For`` / ``X-Forwarded-Proto``, believed only from trusted proxies.

An ASGI middleware in the spirit of uvicorn's ``ProxyHeadersMiddleware``: when the peer
is one of ``AEROFS_TRUSTED_PROXIES``, the client address becomes the nearest
``X-Forwarded-For`` hop that is not itself a trusted proxy, the scheme follows
``X-Forwarded-Proto``, and the scope is marked as having come through a proxy (the only
requests whose SSO user header the gateway believes). From anyone else both headers are
ignored, so a client cannot pick its own address for the login limits or the audit log.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from aerofs_pipelines.gateway.auth.backends import VIA_PROXY_SCOPE_KEY

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_address(scope: Scope) -> str | None:
    """The client's address as the gateway sees it (after this middleware)."""
    client = scope.get("client")
    return str(client[0]) if client else None


def is_trusted(address: str | None, trusted: Sequence[Network]) -> bool:
    """Whether ``address`` lies in one of the ``trusted`` networks."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in net for net in trusted)


class ProxyHeadersMiddleware:
    """Rewrites ``client`` and ``scheme`` from the forwarded headers of trusted proxies."""

    def __init__(self, app: ASGIApp, trusted: Sequence[Network]) -> None:
        self.app = app
        self.trusted = tuple(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] in ("http", "websocket")
            and self.trusted
            and is_trusted(client_address(scope), self.trusted)
        ):
            self._rewrite(scope)
        await self.app(scope, receive, send)

    def _rewrite(self, scope: Scope) -> None:
        scope[VIA_PROXY_SCOPE_KEY] = True
        headers = Headers(scope=scope)
        hops = [h.strip() for h in ",".join(headers.getlist("x-forwarded-for")).split(",")]
        for hop in reversed([h for h in hops if h]):
            if not is_trusted(hop, self.trusted):
                scope["client"] = (hop, 0)
                break
        proto = headers.get("x-forwarded-proto", "").split(",")[-1].strip().lower()
        if proto in ("http", "https"):
            secure = proto == "https"
            if scope["type"] == "websocket":
                scope["scheme"] = "wss" if secure else "ws"
            else:
                scope["scheme"] = proto
