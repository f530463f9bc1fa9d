"""The guard around a GraphQL WebSocket (graphql-ws protocol) once its caller is known.

A socket lives for hours; the credential it was opened with may be revoked meanwhile
(logout, ``aerofs users disable``, ``aerofs tokens revoke``). So:

- every ``start`` frame checks the credential again (the identity cache answers within
  its TTL, the database otherwise) and is refused when it carries a mutation (or cannot
  be judged); frames are parsed and judged in a worker thread;
- a watcher checks the credential every ``recheck_seconds`` (at once after a revocation
  in this process) and closes the socket with code 4401 when it is no longer valid, which
  ends its running subscriptions too;
- a frame over ``max_frame_bytes`` closes the socket (1009).

The principal in the scope follows the credential (a token's role is capped by its
user's current role), so each new subscription runs with the permissions of now.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aerofs_pipelines.gateway.auth.dagster_context import PRINCIPAL_SCOPE_KEY
from aerofs_pipelines.gateway.auth.graphql import Operation, PolicyError, Verdict, judge_ws_start
from aerofs_pipelines.gateway.identity.principal import Caller, Principal
from aerofs_pipelines.gateway.jsonsafe import parse_json

REVOKED_CLOSE_CODE = 4401
TOO_LARGE_CLOSE_CODE = 1009
_POLL_SECONDS = 1.0


def _read_frame(raw: str) -> tuple[dict[str, Any], Operation | None]:
    """A frame as a JSON object, and its operation when it is a ``start`` frame
    (ValueError when the frame is not a JSON object, PolicyError when its operation
    cannot be judged)."""
    frame = parse_json(raw)
    if not isinstance(frame, dict):
        raise ValueError("frame is not a JSON object")
    if frame.get("type") != "start":
        return frame, None
    return frame, judge_ws_start(frame.get("payload"))


async def guard_websocket(
    inner: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    caller: Caller,
    identify: Callable[[], Awaitable[Principal | None]],
    revocations: Callable[[], int],
    recheck_seconds: float,
    max_frame_bytes: int,
    audit_refused: Callable[[Principal, Verdict, str], Awaitable[None]],
) -> None:
    """Run the webserver's WebSocket endpoint ``inner`` for ``caller`` behind the guard."""
    lock = anyio.Lock()
    closed = False
    principal = caller.principal

    async def send_guarded(message: Message) -> None:
        async with lock:
            if not closed:  # after a close of ours the app's messages go nowhere
                await send(message)

    async def close(code: int, reason: str) -> None:
        nonlocal closed
        async with lock:
            if closed:
                return
            closed = True
            with contextlib.suppress(OSError, RuntimeError):  # the client already went away
                await send({"type": "websocket.close", "code": code, "reason": reason})

    async def still_valid() -> bool:
        nonlocal principal
        current = await identify()
        if current is None:
            return False
        principal = current
        scope[PRINCIPAL_SCOPE_KEY] = current
        return True

    async def refuse(frame_id: Any, message: str) -> None:
        error = {"type": "error", "id": frame_id, "payload": {"message": message}}
        await send_guarded({"type": "websocket.send", "text": json.dumps(error)})

    async def guarded() -> Message:
        while True:
            message = await receive()
            if message["type"] != "websocket.receive" or closed:
                return message
            raw = message.get("text")
            if raw is None:
                raw = (message.get("bytes") or b"").decode("utf-8", "replace")
            if len(raw) > max_frame_bytes:
                await close(TOO_LARGE_CLOSE_CODE, "frame too large")
                return {"type": "websocket.disconnect", "code": TOO_LARGE_CLOSE_CODE}
            try:
                frame, op = await anyio.to_thread.run_sync(_read_frame, raw)
            except PolicyError as exc:
                await refuse(None, f"request refused: {exc}")
                continue
            except ValueError as exc:
                await refuse(None, f"frame refused: {exc}")
                continue
            if op is None:
                return message
            if not await still_valid():
                await close(REVOKED_CLOSE_CODE, "credential no longer valid")
                return {"type": "websocket.disconnect", "code": REVOKED_CLOSE_CODE}
            if op.has_mutation:
                await audit_refused(principal, Verdict((op,)), "mutation over WebSocket")
                await refuse(frame.get("id"), "mutations are not accepted over WebSocket")
                continue
            return message

    async def watch() -> None:
        seen = revocations()
        checked = anyio.current_time()
        while True:
            await anyio.sleep(min(_POLL_SECONDS, recheck_seconds))
            generation, now = revocations(), anyio.current_time()
            if generation == seen and now - checked < recheck_seconds:
                continue
            seen, checked = generation, now
            if not await still_valid():
                await close(REVOKED_CLOSE_CODE, "credential no longer valid")
                return

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(watch)
        try:
            await inner(scope, guarded, send_guarded)
        finally:
            tasks.cancel_scope.cancel()
