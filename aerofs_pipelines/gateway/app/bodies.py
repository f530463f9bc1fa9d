"""Request bodies at the gateway, read with a cap: ``read_body(receive, declared_length,
limit)`` gives the whole body, or ``BodyTooLarge`` as soon as it (or its declared
``Content-Length``) passes ``limit``; ``ClientDisconnect`` when the client goes away.
(JSON in them: :mod:`aerofs_pipelines.gateway.jsonsafe`.)"""

from __future__ import annotations

from starlette.requests import ClientDisconnect
from starlette.types import Receive


class BodyTooLarge(Exception):
    """The body is over the cap (answer 413)."""


async def read_body(receive: Receive, declared_length: str | None, limit: int) -> bytes:
    """The request body from ``receive``, at most ``limit`` bytes."""
    if declared_length is not None and (
        not declared_length.isdigit() or int(declared_length) > limit
    ):
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        if message["type"] != "http.request":
            continue
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
