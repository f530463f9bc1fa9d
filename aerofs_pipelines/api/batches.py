"""The batch endpoints: land a batch file by file, complete it, follow it.

- ``PUT /api/batches/{batch_id}/files/{name}``: the body streams into the landing zone
  (:class:`aerofs_pipelines.landing.uploads.FileUpload`), in pieces of
  :data:`WRITE_BYTES`, each written in a worker thread; 201 with size and digest, 200 for
  a repeat of the same content. The expected digest, if sent, is ``Content-Digest:
  blake3=:<base64>:`` (RFC 9530's syntax) or ``X-Content-Blake3: <hex>``.
- ``POST /api/batches/{batch_id}/complete``: the marker; optional JSON body
  ``{"files": {"name": "<blake3 hex>"}}``, what the client expects the batch to hold.
- ``GET /api/batches/{batch_id}``, ``GET /api/batches?status=…&limit=…&before=…``.

Who uploads: the ``X-Upload-Id`` header (a client's id for one batch's upload, e.g. a
UUID), else the user; another uploader of a claimed batch is refused (409). Errors have
the gateway's shape (``errors[0].extensions.code``); the codes are in docs/api.md.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
from dagster import DagsterInstance
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from aerofs_pipelines.api.status import STATES, batch_status
from aerofs_pipelines.gateway.app.errors import error
from aerofs_pipelines.gateway.auth.dagster_context import principal_of
from aerofs_pipelines.lake.storage import Storage, UnsafePathError
from aerofs_pipelines.landing.batches import InvalidBatchIdError, is_valid_batch_id
from aerofs_pipelines.landing.scan import RESERVED_DIR
from aerofs_pipelines.landing.uploads import (
    BatchUploads,
    DigestMismatch,
    InvalidName,
    UploadError,
    UploadTooLarge,
)

__all__ = ["WRITE_BYTES", "BatchEndpoints"]

WRITE_BYTES = 1024 * 1024
"""Received pieces are gathered to this size before a write: one thread hop per MiB."""
UPLOAD_ID_HEADER = "x-upload-id"
BLAKE3_HEADER = "x-content-blake3"
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_CONTENT_DIGEST = re.compile(r"(?:^|,)\s*blake3=:([A-Za-z0-9+/=]+):\s*(?:,|$)")
LIST_LIMIT = 50
LIST_MAX = 500
_STATUS = {
    InvalidName: 400,
    DigestMismatch: 400,
    UploadTooLarge: 413,
}
_T = TypeVar("_T")


async def _run(fn: Callable[..., _T], *args: Any) -> _T:
    return await anyio.to_thread.run_sync(lambda: fn(*args))


def _refusal(exc: Exception) -> JSONResponse:
    if isinstance(exc, UploadError):
        status = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 409)
        return error(status, str(exc), exc.code)
    return error(400, str(exc), "BAD_REQUEST")


def _expected_digest(request: Request) -> str | None:
    """The client's expected BLAKE3 (hex), or ValueError for a malformed header."""
    given = request.headers.get(BLAKE3_HEADER)
    if given is not None:
        if not _HEX64.match(given.strip()):
            raise ValueError(f"{BLAKE3_HEADER} must be 64 hex digits")
        return given.strip().lower()
    header = request.headers.get("content-digest")
    if header is None:
        return None
    found = _CONTENT_DIGEST.search(header)
    if found is None:
        return None  # only other algorithms: nothing we check
    try:
        raw = base64.b64decode(found.group(1), validate=True)
    except binascii.Error:
        raise ValueError("Content-Digest: blake3 value is not base64") from None
    if len(raw) != 32:
        raise ValueError("Content-Digest: a blake3 digest has 32 bytes")
    return raw.hex()


def _owner(request: Request) -> str:
    principal = principal_of(request)
    user = principal.username if principal is not None else "?"
    upload = request.headers.get(UPLOAD_ID_HEADER)
    if upload is not None:
        if not is_valid_batch_id(upload):
            raise ValueError(f"{UPLOAD_ID_HEADER} must follow the batch id rule")
        return f"{user}/{upload}"
    return user


class BatchEndpoints:
    """The handlers, over one landing zone, one lake and one Dagster instance."""

    def __init__(self, instance: DagsterInstance, uploads: BatchUploads, lake: Storage) -> None:
        self.instance, self.uploads, self.lake = instance, uploads, lake

    async def put_file(self, request: Request) -> Response:
        batch_id = request.path_params["batch_id"]
        name = request.path_params["name"]
        try:
            expected = _expected_digest(request)
            owner = _owner(request)
        except ValueError as exc:
            return _refusal(exc)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.uploads.max_bytes:
            return _refusal(
                UploadTooLarge(
                    f"{name}: {int(declared):,} bytes is larger than AEROFS_MAX_UPLOAD_BYTES "
                    f"({self.uploads.max_bytes:,})"
                )
            )
        try:
            upload = await _run(self.uploads.begin, batch_id, name, owner)
        except (UploadError, InvalidBatchIdError, UnsafePathError) as exc:
            return _refusal(exc)
        try:
            pending = bytearray()
            async for chunk in request.stream():
                pending += chunk
                if len(pending) >= WRITE_BYTES:
                    await _run(upload.write, bytes(pending))
                    pending.clear()
            if pending:
                await _run(upload.write, bytes(pending))
            done = await _run(upload.finish, expected)
        except UploadError as exc:
            await _run(upload.abort)
            return _refusal(exc)
        except ClientDisconnect:
            await _run(upload.abort)
            return Response(status_code=400)
        except BaseException:
            await _run(upload.abort)
            raise
        body = {
            "batch_id": done.batch_id,
            "name": done.name,
            "size": done.size,
            "digest": done.digest,
            "created": done.created,
        }
        return JSONResponse(body, status_code=201 if done.created else 200)

    async def complete(self, request: Request) -> Response:
        batch_id = request.path_params["batch_id"]
        expected: dict[str, str] | None = None
        try:
            owner = _owner(request)
            raw = await request.body()
            if raw.strip():
                doc = json.loads(raw)
                files = doc.get("files") if isinstance(doc, dict) else None
                if files is not None:
                    if not isinstance(files, dict) or not all(
                        isinstance(k, str) and isinstance(v, str) and _HEX64.match(v)
                        for k, v in files.items()
                    ):
                        raise ValueError('"files" must map each file name to its blake3 hex')
                    expected = {k: v.lower() for k, v in files.items()}
            done = await _run(self.uploads.complete, batch_id, owner, expected)
        except (UploadError, InvalidBatchIdError, ValueError) as exc:
            return _refusal(exc)
        body = {
            "batch_id": done.batch_id,
            "digest": done.digest,
            "files": [{"name": n, "size": s, "digest": d} for n, s, d in done.files],
            "created": done.created,
        }
        return JSONResponse(body, status_code=201 if done.created else 200)

    async def get_batch(self, request: Request) -> Response:
        batch_id = request.path_params["batch_id"]
        if not is_valid_batch_id(batch_id):
            return error(404, f"no batch {batch_id!r}", "NOT_FOUND")
        status = await _run(batch_status, self.instance, self.uploads, self.lake, batch_id)
        if status is None:
            return error(404, f"no batch {batch_id!r}", "NOT_FOUND")
        return JSONResponse(status.document(), headers={"cache-control": "no-store"})

    async def list_batches(self, request: Request) -> Response:
        wanted = request.query_params.get("status")
        if wanted is not None and wanted not in STATES:
            return error(400, f"status must be one of {', '.join(STATES)}", "BAD_REQUEST")
        try:
            limit = int(request.query_params.get("limit", LIST_LIMIT))
        except ValueError:
            limit = -1
        if not 1 <= limit <= LIST_MAX:
            return error(400, f"limit must be 1 to {LIST_MAX}", "BAD_REQUEST")
        before = request.query_params.get("before")
        found = await _run(self._listing, wanted, limit, before)
        return JSONResponse(found, headers={"cache-control": "no-store"})

    def _listing(self, wanted: str | None, limit: int, before: str | None) -> dict[str, Any]:
        """Batches by id, last first (ids usually start with a date)."""
        store = self.uploads.store
        names = {n for n in store.list_dirs() if n != RESERVED_DIR and is_valid_batch_id(n)}
        names |= {n for n in store.list_dirs(f"{RESERVED_DIR}/uploads") if is_valid_batch_id(n)}
        batches: list[dict[str, Any]] = []
        more = None
        for batch_id in sorted(names, reverse=True):
            if before is not None and batch_id >= before:
                continue
            status = batch_status(self.instance, self.uploads, self.lake, batch_id)
            if status is None or (wanted is not None and status.state != wanted):
                continue
            if len(batches) == limit:
                more = batches[-1]["batch_id"]
                break
            newest = status.runs[0] if status.runs else None
            batches.append(
                {
                    "batch_id": batch_id,
                    "state": status.state,
                    "files": len(status.landing.files),
                    "run": newest,
                }
            )
        return {"batches": batches, "next_before": more}
