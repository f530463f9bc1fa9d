"""``alerts.delivery`` against real receivers on loopback: an HTTP server and aiosmtpd.

Never raises for a destination that is down, refuses or hangs; says what failed, in
one line, without the destination's secrets."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from aerofs_pipelines import config
from aerofs_pipelines.alerts.delivery import (
    Email,
    Failure,
    Webhook,
    deliver,
    destinations_from_config,
)
from aerofs_pipelines.alerts.message import Alert, run_failed
from tests.support.processes import free_port
from tests.support.receivers import HttpReceiver, SmtpReceiver, http_receiver, smtp_receiver

SECRET_PATH = "/services/T000/B000/s3cr3t-token"


def alert() -> Alert:
    return run_failed(
        run_id="r-42",
        batch="b-42",
        dataset="orders",
        what="blocking check tables_match_schema on tables",
        why="b-42/orders.csv (orders): 3 failure case(s)",
        retries=0,
        occurred_at=1_700_000_000.0,
        public_url="https://aerofs.example.com",
    )


@pytest.fixture
def hook() -> Iterator[HttpReceiver]:
    with http_receiver(SECRET_PATH) as receiver:
        yield receiver


@pytest.fixture
def mail() -> Iterator[SmtpReceiver]:
    with smtp_receiver() as receiver:
        yield receiver


def email_to(mail: SmtpReceiver, userinfo: str = "") -> Email:
    return Email(mail.url(userinfo), ("ops@example.com", "data@example.com"), "aerofs@test")


def test_the_webhook_gets_the_json(hook: HttpReceiver) -> None:
    assert deliver(alert(), [Webhook(hook.url)]) == []
    (request,) = hook.requests
    assert request.path == SECRET_PATH
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-aerofs-alert-key"] == "run-failed:r-42"
    body = request.json()
    assert body["text"] == alert().text()
    assert body["alert"]["batch"] == "b-42"
    assert body["alert"]["link"] == "https://aerofs.example.com/runs/r-42"


@pytest.mark.parametrize("status", [500, 404])
def test_a_webhook_error_is_a_failure_without_the_secret_path(
    hook: HttpReceiver, status: int
) -> None:
    hook.status = status
    (failure,) = deliver(alert(), [Webhook(hook.url)])
    assert failure.destination == "webhook"
    assert f"HTTP Error {status}" in failure.error
    assert "s3cr3t" not in failure.error and "\n" not in failure.error


def test_a_redirect_is_not_a_delivery(hook: HttpReceiver) -> None:
    hook.redirect_to = "http://127.0.0.1:1/elsewhere"
    (failure,) = deliver(alert(), [Webhook(hook.url)])
    assert "302" in failure.error
    assert len(hook.requests) == 1


def test_a_webhook_down_or_hanging_fails_in_bounded_time() -> None:
    down = f"http://127.0.0.1:{free_port()}{SECRET_PATH}"
    (failure,) = deliver(alert(), [Webhook(down)])
    assert "refused" in failure.error.lower() and "s3cr3t" not in failure.error
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
        started = time.monotonic()
        (failure,) = deliver(alert(), [Webhook(url)], timeout=0.5)
        assert time.monotonic() - started < 3
    assert "timed out" in failure.error.lower()


def test_the_email(mail: SmtpReceiver) -> None:
    assert deliver(alert(), [email_to(mail)]) == []
    (msg,) = mail.messages
    assert mail.recipients == [["ops@example.com", "data@example.com"]]
    assert msg["Subject"] == alert().headline()
    assert msg["From"] == "aerofs@test"
    assert msg["X-AeroFS-Alert-Key"] == "run-failed:r-42"
    assert "https://aerofs.example.com/runs/r-42" in msg.get_content()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_login_from_the_url() -> None:
    with smtp_receiver(login=("alerts", "p@ss word")) as mail:
        assert deliver(alert(), [email_to(mail, "alerts:p%40ss%20word")]) == []
        assert mail.logins == [("alerts", "p@ss word")] and len(mail.messages) == 1
        (failure,) = deliver(alert(), [email_to(mail, "alerts:wrong-pw")])
    assert failure.destination == "email" and "SMTPAuthenticationError" in failure.error
    assert "wrong-pw" not in failure.error


def test_a_refusing_or_absent_mail_server_is_a_failure(mail: SmtpReceiver) -> None:
    mail.refuse = True
    (failure,) = deliver(alert(), [email_to(mail)])
    assert failure.destination == "email" and "451" in failure.error
    absent = Email(f"smtp://127.0.0.1:{free_port()}", ("ops@example.com",), "aerofs@test")
    (failure,) = deliver(alert(), [absent])
    assert "refused" in failure.error.lower()


def test_one_destination_down_does_not_stop_the_other(
    hook: HttpReceiver, mail: SmtpReceiver
) -> None:
    hook.status = 503
    failures = deliver(alert(), [Webhook(hook.url), email_to(mail)])
    assert [f.destination for f in failures] == ["webhook"]
    assert len(mail.messages) == 1
    assert isinstance(failures[0], Failure)


def test_destinations_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AEROFS_ALERT_WEBHOOK_URL", "AEROFS_ALERT_EMAIL_TO", "AEROFS_SMTP_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AEROFS_ALERT_EMAIL_FROM", "pipelines@example.com")
    assert destinations_from_config() == []
    monkeypatch.setenv("AEROFS_ALERT_WEBHOOK_URL", "https://hooks.slack.com/services/x")
    monkeypatch.setenv("AEROFS_ALERT_EMAIL_TO", "ops@example.com, data@example.com")
    with pytest.raises(config.ConfigError, match="AEROFS_SMTP_URL is not"):
        destinations_from_config()
    monkeypatch.setenv("AEROFS_SMTP_URL", "smtps://mailer:pw@mail.example.com")
    webhook, email = destinations_from_config()
    assert webhook == Webhook("https://hooks.slack.com/services/x")
    assert email == Email(
        "smtps://mailer:pw@mail.example.com",
        ("ops@example.com", "data@example.com"),
        "pipelines@example.com",
    )
    assert email.describe() == "email via smtps://mail.example.com:465"
    assert webhook.describe() == "webhook https://hooks.slack.com"
