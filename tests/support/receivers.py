"""Real alert receivers on loopback, for the alert tests: a webhook (an HTTP server in a
thread that records each request and answers the status it is told to) and a mail
server (aiosmtpd, which can refuse messages or require a login)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support.processes import free_port

__all__ = ["HttpReceiver", "Request", "SmtpReceiver", "http_receiver", "smtp_receiver"]


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    """Names in lower case."""
    body: bytes
    status: int
    """What the receiver answered."""

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpReceiver:
    """Records every POST; answers ``status`` (200 unless a test sets another)."""

    url: str = ""
    status: int = 200
    redirect_to: str | None = None
    requests: list[Request] = field(default_factory=list)

    def delivered(self) -> list[Request]:
        """The requests it answered with 2xx."""
        return [r for r in self.requests if 200 <= r.status < 300]


@contextmanager
def http_receiver(path: str = "/hook") -> Iterator[HttpReceiver]:
    """An HTTP server on 127.0.0.1 in a thread; yields it with its URL (``path`` appended)."""
    receiver = HttpReceiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                status = 302 if receiver.redirect_to else receiver.status
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.requests.append(Request(self.path, headers, body, status))
            self.send_response(status)
            if receiver.redirect_to:
                self.send_header("Location", receiver.redirect_to)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@dataclass
class SmtpReceiver:
    """Records every message it accepts; refuses all while ``refuse`` is set."""

    host: str = "127.0.0.1"
    port: int = 0
    refuse: bool = False
    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    def url(self, userinfo: str = "") -> str:
        return f"smtp://{userinfo + '@' if userinfo else ''}{self.host}:{self.port}"


@contextmanager
def smtp_receiver(*, login: tuple[str, str] | None = None) -> Iterator[SmtpReceiver]:
    """An aiosmtpd server on 127.0.0.1; with ``login``, it requires that user and password."""
    receiver = SmtpReceiver(port=free_port())

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            if receiver.refuse:
                return "451 4.3.0 try again later"
            parsed = message_from_bytes(envelope.content, policy=policy.default)
            assert isinstance(parsed, EmailMessage)
            receiver.messages.append(parsed)
            receiver.recipients.append(list(envelope.rcpt_tos))
            return "250 OK"

    def authenticate(
        server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, password = data.login.decode(), data.password.decode()
        receiver.logins.append((user, password))
        return AuthResult(success=(user, password) == login, handled=False)

    extra: dict[str, Any] = {}
    if login is not None:
        extra = {"authenticator": authenticate, "auth_require_tls": False, "auth_required": True}
    controller = Controller(Handler(), hostname=receiver.host, port=receiver.port, **extra)
    controller.start()
    try:
        yield receiver
    finally:
        controller.stop()
