"""The batch API: batches in over HTTP, behind the gateway (docs/api.md).

:func:`batch_api` builds the app the gateway mounts (:mod:`aerofs_pipelines.gateway.app.mounts`):
the batch endpoints (:mod:`.batches`), their OpenAPI document (:mod:`.openapi`) and the
upload page (:mod:`.upload_page`). The gateway checks identity, CSRF and the role of each
endpoint below before the app sees a request; the app knows the landing zone, the lake
and the Dagster instance, the gateway none of them.
"""

from __future__ import annotations

from collections.abc import Sequence

from dagster import DagsterInstance
from starlette.routing import Route, Router
from starlette.types import Receive, Scope, Send

from aerofs_pipelines import config
from aerofs_pipelines.api import openapi, upload_page
from aerofs_pipelines.api.batches import BatchEndpoints
from aerofs_pipelines.gateway.app.mounts import BannerLink, Endpoint
from aerofs_pipelines.gateway.auth.roles import Role
from aerofs_pipelines.lake.storage import Storage, open_storage
from aerofs_pipelines.landing.uploads import BatchUploads

__all__ = ["ENDPOINTS", "BatchApi", "batch_api"]

BATCH = "/api/batches/{batch_id}"
ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("PUT", BATCH + "/files/{name}", Role.launcher, "uploadBatchFile", writes=True),
    Endpoint("POST", BATCH + "/complete", Role.launcher, "completeBatch", writes=True),
    Endpoint("GET", BATCH, Role.viewer, "batchStatus"),
    Endpoint("GET", "/api/batches", Role.viewer, "listBatches"),
    Endpoint("GET", "/api/openapi.json", Role.viewer, "openapi"),
    Endpoint("GET", upload_page.PAGE, Role.launcher, "uploadPage"),
    Endpoint("GET", upload_page.SCRIPT, Role.launcher, "uploadPageScript"),
)
"""Every route of the app, with its least role (docs/design.md's roles table)."""


class BatchApi:
    """The mounted app: ``/api/batches…``, ``/api/openapi.json`` and the upload page."""

    prefixes: Sequence[str] = ("/api/batches", "/api/openapi.json", upload_page.PAGE)
    endpoints: Sequence[Endpoint] = ENDPOINTS
    links: Sequence[BannerLink] = (
        BannerLink("Upload", upload_page.PAGE, Role.launcher, "aerofs-upload-link"),
    )

    def __init__(self, instance: DagsterInstance, landing: Storage, lake: Storage) -> None:
        self.uploads = BatchUploads(landing, max_bytes=config.max_upload_bytes())
        handlers = BatchEndpoints(instance, self.uploads, lake)
        self.router = Router(
            [
                Route(BATCH + "/files/{name}", handlers.put_file, methods=["PUT"]),
                Route(BATCH + "/complete", handlers.complete, methods=["POST"]),
                Route(BATCH, handlers.get_batch, methods=["GET"]),
                Route("/api/batches", handlers.list_batches, methods=["GET"]),
                Route("/api/openapi.json", openapi.endpoint, methods=["GET"]),
                Route(upload_page.PAGE, upload_page.page, methods=["GET"]),
                Route(upload_page.SCRIPT, upload_page.script, methods=["GET"]),
            ]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.router(scope, receive, send)


def batch_api(instance: DagsterInstance) -> BatchApi:
    """The batch API over the configured landing zone and lake."""
    return BatchApi(instance, open_storage(config.landing_url()), open_storage(config.lake_url()))
