"""The batch API's OpenAPI 3.1 document, served at ``/api/openapi.json``.

Written by hand from :data:`aerofs_pipelines.api.ENDPOINTS` (a test checks every
endpoint is documented with its least role, and nothing else is).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

__all__ = ["document", "endpoint"]

_ID = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"}
_HEX64 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


def _param(name: str, description: str, where: str = "path") -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "schema": _ID,
        "description": description,
    }


_UPLOAD_ID = {
    "name": "X-Upload-Id",
    "in": "header",
    "required": False,
    "schema": _ID,
    "description": "The client's id for this batch's upload. The first upload claims the "
    "batch for it (default: the user); another id is refused with 409 BATCH_IN_FLIGHT until "
    "the batch completes.",
}
_COMMON = {
    "401": _error("No session or token (UNAUTHENTICATED)."),
    "403": _error("The role may not do this (FORBIDDEN), or a cross-site cookie write (CSRF)."),
}


def _operation(
    op_id: str, role: str, summary: str, description: str, **rest: Any
) -> dict[str, Any]:
    responses = {**rest.pop("responses"), **_COMMON}
    return {
        "operationId": op_id,
        "summary": summary,
        "description": f"{description}\n\nLeast role: **{role}**.",
        "x-aerofs-least-role": role,
        "responses": responses,
        **rest,
    }


@cache
def document() -> dict[str, Any]:
    """The OpenAPI document (built once)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "AeroFS Pipelines batch API",
            "version": "1",
            "description": "Land a batch over HTTP and follow it to processed. Every call "
            "needs a session cookie or `Authorization: Bearer <token>`; cookie writes obey "
            "the CSRF rules of docs/security.md. Errors: "
            '`{"data": null, "errors": [{"message", "extensions": {"code"}}]}`.',
        },
        "components": {
            "securitySchemes": {
                "token": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "aerofs_session"},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {
                        "data": {"type": "null"},
                        "errors": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "message": {"type": "string"},
                                    "extensions": {
                                        "type": "object",
                                        "properties": {"code": {"type": "string"}},
                                    },
                                },
                            },
                        },
                    },
                },
                "UploadedFile": {
                    "type": "object",
                    "required": ["batch_id", "name", "size", "digest", "created"],
                    "properties": {
                        "batch_id": _ID,
                        "name": _ID,
                        "size": {"type": "integer"},
                        "digest": {**_HEX64, "description": "BLAKE3 of the content"},
                        "created": {
                            "type": "boolean",
                            "description": "false: the same content was already there",
                        },
                    },
                },
                "CompletedBatch": {
                    "type": "object",
                    "required": ["batch_id", "digest", "files", "created"],
                    "properties": {
                        "batch_id": _ID,
                        "digest": {"type": "string", "description": "the batch's digest"},
                        "files": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "name": _ID,
                                    "size": {"type": "integer"},
                                    "digest": _HEX64,
                                },
                            },
                        },
                        "created": {"type": "boolean"},
                    },
                },
                "Run": {
                    "type": "object",
                    "properties": {
                        "run_id": {"type": "string"},
                        "status": {"type": "string"},
                        "job": {"type": "string"},
                        "created": {"type": "string", "format": "date-time"},
                        "started": {"type": ["string", "null"], "format": "date-time"},
                        "ended": {"type": ["string", "null"], "format": "date-time"},
                        "link": {"type": "string", "description": "the run in the UI"},
                    },
                },
                "BatchStatus": {
                    "type": "object",
                    "required": ["batch_id", "state", "files", "runs", "links"],
                    "properties": {
                        "batch_id": _ID,
                        "state": {
                            "enum": ["uploading", "landed", "processing", "processed", "failed"]
                        },
                        "files": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "name": _ID,
                                    "size": {"type": "integer"},
                                    "digest": {"type": ["string", "null"]},
                                    "outcome": {
                                        "type": "object",
                                        "description": "from the batch's manifest, once "
                                        "processed: kind, dataset, status (processed, "
                                        "quarantined, skipped), reason, output",
                                    },
                                },
                            },
                        },
                        "counts": {"type": ["object", "null"]},
                        "runs": {"type": "array", "items": _ref("Run")},
                        "upload": {"type": ["object", "null"]},
                        "links": {"type": "object"},
                    },
                },
            },
        },
        "security": [{"token": []}, {"session": []}],
        "paths": {
            "/api/batches/{batch_id}/files/{name}": {
                "put": _operation(
                    "uploadBatchFile",
                    "launcher",
                    "Upload one file of a batch",
                    "Streams the body into the landing zone (bounded memory; S3: a multipart "
                    "upload), hashing it (BLAKE3) on the way. Nothing is visible until the "
                    "whole body arrived and its digest matched. Size cap: "
                    "AEROFS_MAX_UPLOAD_BYTES.",
                    parameters=[
                        _param("batch_id", "the batch"),
                        _param("name", "the file's name in the batch"),
                        _UPLOAD_ID,
                        {
                            "name": "X-Content-Blake3",
                            "in": "header",
                            "required": False,
                            "schema": _HEX64,
                            "description": "the content's expected BLAKE3 (hex); also "
                            "accepted: `Content-Digest: blake3=:<base64>:`",
                        },
                    ],
                    requestBody={
                        "required": True,
                        "content": {"application/octet-stream": {"schema": {}}},
                    },
                    responses={
                        "201": _json(_ref("UploadedFile"), "Stored."),
                        "200": _json(_ref("UploadedFile"), "The same content was there."),
                        "400": _error("Bad name (INVALID_NAME) or digest (DIGEST_MISMATCH)."),
                        "409": _error(
                            "BATCH_COMPLETE, CONTENT_CONFLICT (other content under this "
                            "name) or BATCH_IN_FLIGHT (another uploader)."
                        ),
                        "413": _error("Over AEROFS_MAX_UPLOAD_BYTES (PAYLOAD_TOO_LARGE)."),
                    },
                )
            },
            "/api/batches/{batch_id}/complete": {
                "post": _operation(
                    "completeBatch",
                    "launcher",
                    "Complete a batch",
                    "Writes the `_SUCCESS` marker listing every file with size and digest, "
                    "as `aerofs ingest` does, and announces the batch to the landing sensor.",
                    parameters=[_param("batch_id", "the batch"), _UPLOAD_ID],
                    requestBody={
                        "required": False,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "files": {
                                            "type": "object",
                                            "additionalProperties": _HEX64,
                                            "description": "name → BLAKE3: the batch must "
                                            "hold exactly these",
                                        }
                                    },
                                }
                            }
                        },
                    },
                    responses={
                        "201": _json(_ref("CompletedBatch"), "Completed."),
                        "200": _json(_ref("CompletedBatch"), "Already complete, same files."),
                        "409": _error(
                            "BATCH_COMPLETE (other files), BATCH_IN_FLIGHT, "
                            "NOTHING_UPLOADED or FILE_LIST_MISMATCH."
                        ),
                    },
                )
            },
            "/api/batches/{batch_id}": {
                "get": _operation(
                    "batchStatus",
                    "viewer",
                    "A batch's state, runs and files",
                    "State: uploading, landed, processing, processed or failed; each file's "
                    "outcome from the manifest; the runs, newest first, with links to the UI.",
                    parameters=[_param("batch_id", "the batch")],
                    responses={
                        "200": _json(_ref("BatchStatus"), "The batch."),
                        "404": _error("No such batch (NOT_FOUND)."),
                    },
                )
            },
            "/api/batches": {
                "get": _operation(
                    "listBatches",
                    "viewer",
                    "List batches",
                    "Batches by id, last first.",
                    parameters=[
                        {
                            "name": "status",
                            "in": "query",
                            "schema": {
                                "enum": ["uploading", "landed", "processing", "processed", "failed"]
                            },
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                        },
                        {
                            "name": "before",
                            "in": "query",
                            "schema": _ID,
                            "description": "page: ids before this one",
                        },
                    ],
                    responses={"200": _json({"type": "object"}, "A page of batches.")},
                )
            },
            "/api/openapi.json": {
                "get": _operation(
                    "openapi",
                    "viewer",
                    "This document",
                    "The OpenAPI document of the batch API.",
                    responses={"200": _json({"type": "object"}, "OpenAPI 3.1")},
                )
            },
        },
    }


async def endpoint(request: Request) -> JSONResponse:
    return JSONResponse(document())
