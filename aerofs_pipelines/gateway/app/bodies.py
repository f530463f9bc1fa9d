"""Request bodies at the gateway: read with a cap, parsed as JSON without surprises.

- ``read_body(receive, declared_length, limit)``: the whole body, or ``BodyTooLarge``
  as soon as it (or its declared ``Content-Length``) passes ``limit``;
  ``ClientDisconnect`` when the client goes away.
- ``parse_json(raw)``: ``json.loads`` whose every failure is a ``ValueError``: the
  standard library raises ``RecursionError`` for input nested a few thousand levels
  deep, which would otherwise surface as a 500.
"""

from __future__ import annotations

import json
from typing import Any

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


def parse_json(raw: bytes | str) -> Any:
    """The JSON value of ``raw``; ValueError when it is not JSON, not UTF-8, or nested
    too deeply for the parser."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8: {exc.reason}") from None
