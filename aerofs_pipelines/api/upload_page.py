"""The upload page: land a batch from a browser, then follow it into the Dagster UI.

``GET /upload`` is plain HTML (``upload_page.html`` beside this module), ``GET
/upload/upload.js`` its only script (``upload_page.js``); no inline script, and both
answers carry a Content-Security-Policy that allows nothing but this origin (inline
styles aside: the gateway's user banner has them) and ``cache-control: no-store``. The
gateway lets launchers and above in (:data:`aerofs_pipelines.api.ENDPOINTS`).

The page, for people used to a dashboard's upload form: pick files or drop them, a batch
id already filled in (``upload-YYYYMMDD-HHMMSS``), both checked against the batch id
rule as you type, with the reason shown; Upload sends each file with
``PUT /api/batches/{id}/files/{name}`` (a progress bar each), then ``POST
…/complete`` with the digests the server answered, then shows the batch's state
(``GET /api/batches/{id}`` every 2 s: landed → processing → processed or failed) and
links to its runs and assets in the Dagster UI. The API's error message is shown beside
the file (or the batch) it is about.

The requests carry ``X-Upload-Id`` (one random id per batch the page uploads: the batch's
claim, so a retry from the same page continues it and another tab cannot merge into it)
and ``X-CSRF-Token`` (the session's token, from the page's ``csrf-token`` meta tag; the
gateway already accepts cookie writes from its own origin, the token is for the cases
where a browser sends no usable ``Origin``).
"""

from __future__ import annotations

import functools
import html
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from aerofs_pipelines import config
from aerofs_pipelines.gateway.app.csrf import csrf_token
from aerofs_pipelines.gateway.identity.sessions import COOKIE_NAME as SESSION_COOKIE

__all__ = ["CONTENT_SECURITY_POLICY", "PAGE", "SCRIPT", "page", "render", "script"]

PAGE = "/upload"
SCRIPT = "/upload/upload.js"
HTML_FILE = Path(__file__).with_name("upload_page.html")
SCRIPT_FILE = Path(__file__).with_name("upload_page.js")

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {"content-security-policy": CONTENT_SECURITY_POLICY, "cache-control": "no-store"}


@functools.cache
def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def render(csrf: str, max_bytes: int) -> str:
    """The page's HTML with the session's CSRF token and the upload size limit."""
    values = {"csrf_token": csrf, "max_upload_bytes": str(max_bytes)}
    text = _text(HTML_FILE)
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", html.escape(value, quote=True))
    return text


async def page(request: Request) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    body = render(csrf_token(cookie) if cookie else "", config.max_upload_bytes())
    return Response(body, media_type="text/html", headers=HEADERS)


async def script(request: Request) -> Response:
    return Response(_text(SCRIPT_FILE), media_type="text/javascript", headers=HEADERS)
