"""``aerofs users|tokens|audit`` and the first-start admin (bootstrap)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aerofs_pipelines import cli
from aerofs_pipelines.gateway import bootstrap
from aerofs_pipelines.gateway import store as store_mod
from aerofs_pipelines.gateway.auth.roles import Role
from aerofs_pipelines.gateway.identity.passwords import Hasher
from aerofs_pipelines.gateway.identity.secrets import MissingSecretKey
from aerofs_pipelines.gateway.store import GatewayStore, db
from tests.support.gateway_store import PASSWORD

ENV = (
    *("AEROFS_PG_URL", "DAGSTER_PG_HOST", "AEROFS_ENV", "AEROFS_SECRET_KEY"),
    *("AEROFS_ADMIN_USER", "AEROFS_ADMIN_PASSWORD"),
)


@pytest.fixture(autouse=True)
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An embedded-default instance in a temporary DAGSTER_HOME, with fast hashing."""
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LOGNAME", "ops")  # the audited actor: cli:<os user>
    monkeypatch.setattr(store_mod, "Hasher", Hasher.fast)
    return tmp_path / "home"


@pytest.fixture
def store() -> Iterator[GatewayStore]:
    s = GatewayStore.for_instance()
    yield s
    s.dispose()


def run(capsys: pytest.CaptureFixture[str], *argv: str, stdin: str = "") -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.stdin", io.StringIO(stdin))
        try:
            code = cli.main(list(argv))
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def test_users_lifecycle(capsys: pytest.CaptureFixture[str], store: GatewayStore) -> None:
    code, out, _ = run(
        capsys, "users", "add", "bob", "--role", "editor", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert (code, out) == (0, "created user bob (editor)\n")
    assert store.logins.login("bob", PASSWORD, "t").role is Role.editor
    assert run(capsys, "users", "set-role", "bob", "LAUNCHER")[0] == 0
    assert run(capsys, "users", "disable", "bob")[0] == 0
    [bob] = run_json(capsys, "users", "list")["users"]
    assert (bob["username"], bob["role"], bob["disabled"]) == ("bob", "launcher", True)
    assert run(capsys, "users", "enable", "bob")[0] == 0
    code, _, _ = run(
        capsys, "users", "passwd", "bob", "--password-stdin", stdin="another long password\n"
    )
    assert code == 0
    assert store.logins.login("bob", "another long password", "t").role is Role.launcher
    code, out, _ = run(capsys, "users", "list")
    assert out.splitlines()[0].split() == ["NAME", "ROLE", "STATUS", "CREATED"]
    assert out.splitlines()[1].split()[:3] == ["bob", "launcher", "active"]
    events = [e["event"] for e in run_json(capsys, "audit", "--user", "cli:ops")["events"]]
    assert events == ["user.passwd", "user.enable", "user.disable", "user.set_role", "user.add"]


def test_generated_password_is_printed_once(
    capsys: pytest.CaptureFixture[str], store: GatewayStore
) -> None:
    code, out, _ = run(capsys, "users", "add", "carol", "--role", "viewer")  # stdin: no tty
    assert code == 0
    password = out.splitlines()[-1].removeprefix("password (shown once): ")
    assert store.logins.login("carol", password, "t").username == "carol"
    assert password not in json.dumps(run_json(capsys, "audit"))


def test_bad_input_fails_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "users", "set-role", "nobody", "admin")
    assert code == 1 and err == "aerofs: error: no user 'nobody'\n"
    code, _, err = run(
        capsys, "users", "add", "bob", "--role", "editor", "--password-stdin", stdin="short\n"
    )
    assert code == 1 and "too short" in err and err.count("\n") == 1
    code, _, err = run(capsys, "users", "add", "bob", "--role", "root")
    assert code == 2 and "unknown role 'root'" in err
    code, _, err = run(capsys, "tokens", "revoke", "0123456789abcdef")
    assert code == 1 and err == "aerofs: error: no token '0123456789abcdef'\n"
    code, _, err = run(capsys, "audit", "--since", "yesterday")
    assert code == 2 and "not a time" in err


def test_tokens_lifecycle(capsys: pytest.CaptureFixture[str], store: GatewayStore) -> None:
    run(capsys, "users", "add", "ci", "--role", "editor", "--password-stdin", stdin=PASSWORD)
    code, out, err = run(
        capsys,
        "tokens",
        "create",
        "--user",
        "ci",
        "--role",
        "launcher",
        "--name",
        "nightly",
        "--expires-days",
        "30",
    )
    assert code == 0 and "not shown again" in err
    token = out.strip()
    principal = store.tokens.resolve(token)
    assert principal is not None and principal.role is Role.launcher
    created = run_json(capsys, "tokens", "create", "--user", "ci")
    assert created["role"] == "editor" and store.tokens.resolve(created["token"]) is not None
    listed = run_json(capsys, "tokens", "list", "--user", "ci")["tokens"]
    assert {t["id"] for t in listed} == {principal.token_id, created["id"]}
    assert all("token" not in t and t["status"] == "active" for t in listed)
    assert run(capsys, "tokens", "revoke", created["id"])[0] == 0
    assert store.tokens.resolve(created["token"]) is None
    code, out, _ = run(capsys, "tokens", "list")
    assert "revoked" in out and token not in out
    code, _, err = run(capsys, "tokens", "create", "--user", "ci", "--role", "admin")
    assert code == 1 and "cannot exceed" in err


def test_audit_listing_and_purge(capsys: pytest.CaptureFixture[str], store: GatewayStore) -> None:
    run(capsys, "users", "add", "bob", "--role", "viewer", "--password-stdin", stdin=PASSWORD)
    store.logins.login("bob", PASSWORD, "192.0.2.7")
    events = run_json(capsys, "audit", "--since", "1h", "--limit", "10")["events"]
    assert [(e["event"], e["outcome"]) for e in events] == [("login", "ok"), ("user.add", "ok")]
    assert events[0]["address"] == "192.0.2.7"
    assert (
        run_json(capsys, "audit", "--limit", "1", "--user", "bob")["events"][0]["event"] == "login"
    )
    code, out, _ = run(capsys, "audit")
    assert out.splitlines()[0].split()[:3] == ["TIME", "EVENT", "OUTCOME"] and "login" in out
    code, out, _ = run(capsys, "audit", "purge", "--older-than-days", "1")
    assert (code, out) == (0, "deleted 0 audit record(s) older than 1 days\n")


def test_cli_on_postgres(
    capsys: pytest.CaptureFixture[str], pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AEROFS_PG_URL", pg_url)
    run(capsys, "users", "add", "pat", "--role", "admin", "--password-stdin", stdin=PASSWORD)
    assert [u["username"] for u in run_json(capsys, "users", "list")["users"]] == ["pat"]
    s = GatewayStore.for_instance()
    try:
        assert s.engine.dialect.name == "postgresql" and s.users.get("pat") is not None
    finally:
        s.dispose()


# --------------------------------------------------------------------------- bootstrap


def test_first_start_creates_an_admin_once(store: GatewayStore) -> None:
    store.migrate()
    out = io.StringIO()
    assert bootstrap.ensure_admin(store, out=out) == "admin"
    password = out.getvalue().split("one-time password is")[1].split()[0]
    assert store.logins.login("admin", password, "t").role is Role.admin
    again = io.StringIO()
    assert bootstrap.ensure_admin(store, out=again) is None and again.getvalue() == ""


def test_first_admin_from_the_environment(
    store: GatewayStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AEROFS_ENV", "production")
    monkeypatch.setenv("AEROFS_ADMIN_USER", "root")
    monkeypatch.setenv("AEROFS_ADMIN_PASSWORD", PASSWORD)
    store.migrate()
    out = io.StringIO()
    assert bootstrap.ensure_admin(store, out=out) == "root"
    assert PASSWORD not in out.getvalue()
    assert store.logins.login("root", PASSWORD, "t").role is Role.admin


def test_production_makes_no_admin_by_itself(
    store: GatewayStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AEROFS_ENV", "production")
    store.migrate()
    out = io.StringIO()
    assert bootstrap.ensure_admin(store, out=out) is None
    assert "aerofs users add" in out.getvalue() and store.users.count() == 0


def test_prepare_store(monkeypatch: pytest.MonkeyPatch, instance: Path) -> None:
    out = io.StringIO()
    store = bootstrap.prepare_store(out=out)
    try:
        assert store.schema_version() == db.LATEST_VERSION and store.users.count() == 1
    finally:
        store.dispose()
    monkeypatch.setenv("AEROFS_ENV", "production")
    with pytest.raises(MissingSecretKey):
        bootstrap.prepare_store(out=out)
