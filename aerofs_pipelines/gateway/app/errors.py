"""The gateway's own JSON error responses (GraphQL-shaped: ``errors[0].extensions.code``)."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, RedirectResponse, Response

__all__ = ["error", "unauthenticated"]


def error(status: int, message: str, code: str, **headers: str) -> JSONResponse:
    """A refusal: ``{"data": null, "errors": [{"message", "extensions": {"code"}}]}``."""
    body = {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}
    return JSONResponse(body, status_code=status, headers={"cache-control": "no-store", **headers})


def unauthenticated(request: HTTPConnection, method: str) -> Response:
    """No identity: HTML navigations go to the login page (and back), others get 401."""
    if method in ("GET", "HEAD") and "text/html" in request.headers.get("accept", ""):
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        target = raw_path.decode("latin-1") + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/auth/login?next={quote(target, safe='')}", status_code=303)
    return error(
        401, "authentication required", "UNAUTHENTICATED", **{"www-authenticate": "Bearer"}
    )
