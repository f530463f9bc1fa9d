"""Fault injection for outage tests: a loopback TCP proxy in front of a real service.

``FaultProxy(upstream_port)`` listens on its own loopback port and forwards every
connection to ``127.0.0.1:upstream_port``. Between the product and the service it can:

- ``stop()``: close the listener and sever every live connection (RST): clients see
  their connections reset and new ones refused, as when the server goes down;
- ``start()``: listen again on the same port (the service itself kept its state);
- ``latency``: delay every chunk forwarded in either direction (a slow server);
- ``fail_http(n, status)``: answer the next ``n`` HTTP requests itself with an S3-style
  error (``503 SlowDown``, ``500 InternalError``) instead of forwarding them; live
  connections are severed first, so the next requests come on new connections.

Counters (``connections``, ``injected``) let a test assert that the fault really hit.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.services import free_port

S3_ERRORS = {
    500: ("Internal Server Error", "InternalError", "We encountered an internal error."),
    503: ("Slow Down", "SlowDown", "Please reduce your request rate."),
}


def _reset(sock: socket.socket) -> None:
    """Close ``sock`` with a TCP RST (SO_LINGER 0): an abrupt loss, not a clean close."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):  # wakes a thread blocked in recv() on it
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


def http_error_response(status: int, *, head_only: bool = False) -> bytes:
    reason, code, message = S3_ERRORS.get(status, ("Error", "InternalError", "injected"))
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        "<RequestId>fault-injected</RequestId></Error>"
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Content-Type: application/xml\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    return head if head_only else head + body


class FaultProxy:
    """A loopback TCP proxy to ``127.0.0.1:upstream_port`` that can fail on demand."""

    def __init__(self, upstream_port: int, *, port: int | None = None) -> None:
        self.upstream_port = upstream_port
        self.port = port or free_port()
        self.latency = 0.0
        self.connections = 0
        self.injected = 0
        self._fail_remaining = 0
        self._fail_status = 503
        self._lock = threading.Lock()
        self._live: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ----------------------------------------------------------------- control

    def start(self) -> None:
        """Listen (again) on ``self.port``."""
        if self._listener is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 10
        while True:
            try:
                sock.bind(("127.0.0.1", self.port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        sock.listen(128)
        sock.settimeout(0.05)
        self._stopping.clear()
        self._listener = sock
        self._thread = threading.Thread(target=self._accept_loop, args=(sock,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close the listener (new connections are refused) and sever live connections."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self._listener is not None:
            _reset(self._listener)
            self._listener = None
        self.sever()

    def sever(self) -> None:
        """Reset every live connection (both sides); the listener stays up."""
        with self._lock:
            live, self._live = list(self._live), set()
        for sock in live:
            _reset(sock)

    def fail_http(self, n: int, status: int = 503) -> None:
        """Answer the next ``n`` HTTP requests with ``status`` (S3 error XML)."""
        with self._lock:
            self._fail_remaining, self._fail_status = n, status
        self.sever()

    @property
    def failures_left(self) -> int:
        with self._lock:
            return self._fail_remaining

    # ----------------------------------------------------------------- forwarding

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            with self._lock:
                self.connections += 1
                inject = self._fail_remaining > 0
                if inject:
                    self._fail_remaining -= 1
                    self.injected += 1
                status = self._fail_status
                self._live.add(client)
            target = self._inject if inject else self._forward
            threading.Thread(target=target, args=(client, status), daemon=True).start()

    def _inject(self, client: socket.socket, status: int) -> None:
        """Read one request head, answer it with an error, drain the body, close."""
        try:
            client.settimeout(5)
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = client.recv(65536)
                if not chunk:
                    return
                head += chunk
            method = head.split(b" ", 1)[0].upper()
            client.sendall(http_error_response(status, head_only=method == b"HEAD"))
            client.shutdown(socket.SHUT_WR)
            client.settimeout(2)
            while client.recv(65536):  # whatever body the client still sends
                pass
        except OSError:
            pass
        finally:
            self._drop(client)
            with contextlib.suppress(OSError):
                client.close()

    def _forward(self, client: socket.socket, _status: int) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
        except OSError:
            self._drop(client)
            _reset(client)
            return
        upstream.settimeout(None)
        with self._lock:
            if client not in self._live:  # severed meanwhile
                _reset(upstream)
                return
            self._live.add(upstream)
        back = threading.Thread(target=self._pump, args=(upstream, client), daemon=True)
        back.start()
        self._pump(client, upstream)
        back.join()
        for sock in (client, upstream):
            self._drop(sock)
            with contextlib.suppress(OSError):
                sock.close()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if self.latency:
                    time.sleep(self.latency)
                dst.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def _drop(self, sock: socket.socket) -> None:
        with self._lock:
            self._live.discard(sock)


@contextmanager
def fault_proxy(upstream_port: int) -> Iterator[FaultProxy]:
    """A started :class:`FaultProxy`, stopped afterwards."""
    proxy = FaultProxy(upstream_port)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
