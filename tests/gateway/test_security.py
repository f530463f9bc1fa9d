"""Regression tests for the seven holes an outside probe found in the gateway (and the
lower findings beside them). Each test names its hole; each failed on the code before
the fix. The denial-of-service load test is ``test_dos.py``.

1. any role could download the gateway's credential database (``/logs/...``);
2. an anonymous 1 KB fragment bomb stalled the whole server;
3. large anonymous bodies were parsed on the event loop before login;
4. parallel wrong passwords got past the lockout;
5. audit lines could be forged (newlines, terminal escapes);
6. an open WebSocket outlived disable and logout;
7. login CSRF (``Origin: null``, a foreign ``Referer``).
"""

from __future__ import annotations

import json
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from aerofs_pipelines import cli
from aerofs_pipelines.gateway.app import Gateway
from aerofs_pipelines.gateway.auth.roles import Role
from aerofs_pipelines.gateway.identity.passwords import Hasher
from aerofs_pipelines.gateway.identity.ratelimit import RateLimitPolicy
from aerofs_pipelines.gateway.store import GatewayStore, LoginFailed, LoginThrottled
from tests.support.gateway_harness import ORIGIN, SECRET_KEY, Harness, gateway_harness, password
from tests.support.gateway_store import Clock, open_store
from tests.support.live_server import ROOT, LiveServer, live_server

PRODUCT_DAGSTER_YAML = (ROOT / "dagster_home" / "dagster.yaml").read_text()
USERS = {"vera": ("viewer", "vera-viewer-password"), "lars": ("launcher", "lars-launcher-pass")}
SUBSCRIPTION = 'subscription { pipelineRunLogs(runId: "nope") { __typename } }'


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``aerofs serve`` with the product's own instance configuration (no daemon)."""
    tmp = tmp_path_factory.mktemp("security")
    with live_server(tmp, daemon=False, dagster_yaml=PRODUCT_DAGSTER_YAML) as server:
        for name, (role, secret) in USERS.items():
            server.add_user(name, role, secret)
        yield server


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with gateway_harness(tmp_path_factory.mktemp("security-app")) as h:
        yield h


def session(server: LiveServer, name: str) -> httpx.Client:
    """An httpx client logged in as ``name`` (cookie), sending our Origin."""
    client = httpx.Client(base_url=server.url, headers={"origin": server.url}, timeout=30)
    response = client.post("/auth/login", json={"username": name, "password": USERS[name][1]})
    assert response.status_code == 200, response.text
    return client


def bearer(server: LiveServer, token: str) -> httpx.Client:
    auth = {"authorization": f"Bearer {token}"}
    return httpx.Client(base_url=server.url, headers=auth, timeout=30)


class HealthProbe:
    """Polls ``/healthz`` in a thread; the slowest answer seen while it ran."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                assert client.get(f"{self.url}/healthz").status_code == 200
                self.latencies.append(time.monotonic() - started)
                time.sleep(0.02)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.latencies:  # probing before the caller starts its requests
            assert time.monotonic() < deadline, "/healthz never answered"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.1)  # one more probe after the caller's last request
        self._stop.set()
        self._thread.join(60)

    @property
    def worst(self) -> float:
        return max(self.latencies)


def timed(call: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


# ------------------------------------------------------------------ 1. file-serving routes


LEAKY_PATHS = [
    "/logs/aerofs_gateway/db",  # the probe's request: the database under storage/
    "/logs/aerofs_gateway/db-wal",
    "/logs/aerofs_gateway/db-shm",
    "/logs/gateway/aerofs_gateway/db",
    "/logs/gateway/secret_key/out",
    "/logs/..%2Fgateway%2Faerofs_gateway/db",
    "/logs/..%2F..%2Fdagster/yaml",
    "/logs/.aerofs_secret_key/out",
    "/notebook?repoLocName=aerofs_pipelines&path=/etc/passwd.ipynb",
    "/download_debug/..%2F..%2Fetc%2Fpasswd",
]


def test_hole1_no_role_can_download_the_gateways_files(live: LiveServer) -> None:
    viewer = session(live, "vera")
    launcher = bearer(live, live.create_token("lars"))
    for client in (viewer, launcher):
        for path in LEAKY_PATHS:
            response = client.get(path)
            assert b"SQLite format" not in response.content, path
            assert b"root:" not in response.content, path
            if response.status_code == 200:  # a path no file route matches: the UI's page
                assert response.headers["content-type"].startswith("text/html"), path
            else:
                assert response.status_code in (400, 403, 404), (path, response.status_code)
            if path.startswith("/logs/"):
                assert response.status_code == 404, path


def test_hole1_the_gateways_files_live_apart_from_what_dagster_serves(live: LiveServer) -> None:
    folder = live.home / "gateway"
    assert (folder / "aerofs_gateway.db").is_file() and (folder / "secret_key").is_file()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert not (live.home / "storage" / "aerofs_gateway.db").exists()
    assert not (live.home / ".aerofs_secret_key").exists()
    # compute logs have their own folder, and a real compute log is still served
    run_id = str(uuid.uuid4())
    log = live.home / "compute_logs" / run_id / "compute_logs" / "batch_manifest.out"
    log.parent.mkdir(parents=True)
    log.write_text("hello from a step\n")
    viewer = session(live, "vera")
    response = viewer.get(f"/logs/{run_id}/compute_logs/batch_manifest/out")
    assert response.status_code == 200 and response.text == "hello from a step\n"


def test_hole1_the_server_keeps_its_locks_and_sees_other_processes(live: LiveServer) -> None:
    """The probe's consequence: after the file was served, audit records written by the
    server were lost and a CLI disable went unseen. Now: every record is kept and the
    disable reaches the server within the identity cache's time."""
    launcher = bearer(live, live.create_token("lars"))
    for path in LEAKY_PATHS:
        launcher.get(path)
    for _ in range(5):
        response = launcher.post("/graphql", json={"query": "mutation { setNuxSeen }"})
        assert response.status_code == 200, response.text
    events = json.loads(live.aerofs("audit", "--json", "--user", "lars", "--limit", "100"))
    assert sum(e["event"] == "mutation" for e in events["events"]) >= 5
    live.aerofs("users", "disable", "lars")
    try:
        deadline = time.monotonic() + 10  # the identity cache's 5 s, and some slack
        while launcher.get("/auth/me").status_code == 200:
            assert time.monotonic() < deadline, "the server never saw the CLI's disable"
            time.sleep(0.25)
    finally:
        live.aerofs("users", "enable", "lars")


# ------------------------------------------------------------------ 2, 3. the event loop


def fragment_bomb(levels: int) -> str:
    parts = ["mutation Bomb { ...F0 }"]
    parts += [f"fragment F{i} on Mutation {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    parts.append(f"fragment F{levels} on Mutation {{ setNuxSeen }}")
    return " ".join(parts)


def test_hole2_an_anonymous_fragment_bomb_is_refused_at_once(live: LiveServer) -> None:
    query = fragment_bomb(22)
    assert len(query) < 1100  # the probe's 982-byte request, give or take names
    with HealthProbe(live.url) as health, httpx.Client(base_url=live.url, timeout=60) as anon:
        response, took = timed(lambda: anon.post("/graphql", json={"query": query}))
    assert response.status_code == 401
    assert took < 1.0, took
    assert health.worst < 2.0, health.worst  # before the fix: 6.4 s


def test_hole2_an_authenticated_bomb_is_judged_in_one_pass(live: LiveServer) -> None:
    viewer = bearer(live, live.create_token("vera"))
    with HealthProbe(live.url) as health:
        response, took = timed(lambda: viewer.post("/graphql", json={"query": fragment_bomb(22)}))
        assert response.status_code == 200, response.text  # setNuxSeen: a viewer may
        assert took < 2.0, took
        many = fragment_bomb(600)  # more fragments than a document may hold: refused, quickly
        response, took = timed(lambda: viewer.post("/graphql", json={"query": many}))
        assert response.status_code == 400 and "fragments" in response.text, response.text
        assert took < 2.0, took
    assert health.worst < 1.0, health.worst


def test_hole3_large_anonymous_bodies_are_not_read(live: LiveServer) -> None:
    query = "{ " + "version " * 190_000 + "}"  # 1.5 MiB
    assert len(query) > 1.4 * 2**20
    with HealthProbe(live.url) as health, ThreadPoolExecutor(2) as pool:
        results = list(
            pool.map(
                lambda _: timed(
                    lambda: httpx.post(f"{live.url}/graphql", json={"query": query}, timeout=60)
                ),
                range(2),
            )
        )
    assert [r.status_code for r, _ in results] == [401, 401]
    assert health.worst < 1.5, health.worst  # before the fix: 2.5 to 5.3 s


def test_hole2_hole3_documents_are_bounded_for_known_callers_too(harness: Harness) -> None:
    viewer = harness.client(Role.viewer, "token")
    huge = {"query": "{ " + "version " * 70_000 + "}"}  # under the body cap, over the bounds
    response = viewer.post("/graphql", content=json.dumps(huge))
    assert response.status_code in (400, 413), response.text
    deep = "{ " + "a { " * 70 + "b" + " }" * 71
    response = viewer.post("/graphql", json={"query": deep})
    assert response.status_code == 400 and "deeper than" in response.text


# ------------------------------------------------------------------ 4. parallel guesses


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_hole4_parallel_wrong_passwords_stop_at_the_limit(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'gateway.db'}"
        if backend == "sqlite"
        else str(request.getfixturevalue("pg_url"))
    )
    # real argon2id cost (as in production), so each check takes long enough to overlap
    with open_store(url, hasher=Hasher(), policy=RateLimitPolicy(user_free_failures=5)) as store:
        store.users.add("target", Role.admin, "the-right-password")
        start = threading.Barrier(25)

        def guess(i: int) -> str:
            start.wait()
            try:
                store.logins.login("target", f"wrong-password-{i:04d}", "192.0.2.1")
            except LoginThrottled:
                return "throttled"
            except LoginFailed:
                return "checked"
            return "in"

        with ThreadPoolExecutor(25) as pool:
            outcomes = list(pool.map(guess, range(25)))
    assert outcomes.count("checked") == 5, outcomes
    assert outcomes.count("throttled") == 20


def test_hole4_a_right_password_still_gets_in_and_resets_the_count(tmp_path: Path) -> None:
    clock = Clock()
    with open_store(f"sqlite:///{tmp_path / 'g.db'}", clock) as store:
        store.users.add("alice", Role.viewer, "alice-password-1")
        for _ in range(4):
            with pytest.raises(LoginFailed):
                store.logins.login("alice", "wrong-password-xx", None)
        assert store.logins.login("alice", "alice-password-1", None).username == "alice"
        for _ in range(5):  # the success reset the count: five more checks before a lockout
            with pytest.raises(LoginFailed):
                store.logins.login("alice", "wrong-password-xx", None)
        with pytest.raises(LoginThrottled):
            store.logins.login("alice", "alice-password-1", None)


def test_the_per_address_limit_can_be_turned_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AEROFS_LOGIN_ADDRESS_MAX_FAILURES", "0")
    monkeypatch.setenv("AEROFS_LOGIN_ADDRESS_WINDOW_SECONDS", "60")
    policy = RateLimitPolicy.from_env()
    assert policy.address_max_failures == 0 and policy.address_window.total_seconds() == 60
    with open_store(f"sqlite:///{tmp_path / 'g.db'}", policy=policy) as store:
        for i in range(40):  # many users behind one unlisted proxy, each mistyping once
            with pytest.raises(LoginFailed):
                store.logins.login(f"user-{i}", "wrong-password-xx", "10.0.0.1")
    monkeypatch.setenv("AEROFS_LOGIN_ADDRESS_MAX_FAILURES", "-1")
    with pytest.raises(ValueError, match="AEROFS_LOGIN_ADDRESS_MAX_FAILURES='-1' is not an"):
        RateLimitPolicy.from_env()


# ------------------------------------------------------------------ 5. forged audit lines


FORGED_NAME = "ghost\n2098-01-01 00:00:00Z  login  ok  u_admin  admin"
FORGED_PATH = "/x\n2098-01-01 00:00:00Z  mutation  allowed  admin\x1b[8m"


def test_hole5_audit_lines_cannot_be_forged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    for name in ("AEROFS_PG_URL", "DAGSTER_PG_HOST"):
        monkeypatch.delenv(name, raising=False)
    store = GatewayStore.for_instance(hasher=Hasher.fast())
    try:
        store.migrate()
        with pytest.raises(LoginFailed):
            store.logins.login(FORGED_NAME, "whatever-password", "192.0.2.9")
        store.audit.record(
            "anonymous",
            username=None,
            role=None,
            address="192.0.2.9",
            outcome="denied",
            operation=f"POST {FORGED_PATH}",
            detail="no identity \u202egnp.exe",
        )
        stored = store.audit.events(limit=2)
    finally:
        store.dispose()
    assert stored[1].username == FORGED_NAME  # stored as sent
    assert stored[0].operation == f"POST {FORGED_PATH}"
    capsys.readouterr()
    assert cli.main(["audit"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 1 + 2  # the header and one line per record, nothing more
    assert not any(line.startswith("2098") for line in lines)
    assert all(c == "\n" or (c.isprintable() and c != "\u202e") for c in out)
    assert "ghost\\x0a2098-01-01\\x2000:00:00Z" in out
    assert "\\x1b[8m" in out and "\\u202e" in out
    # --json was already safe: the values as stored
    assert cli.main(["audit", "--json"]) == 0
    events = json.loads(capsys.readouterr().out)["events"]
    assert events[1]["username"] == FORGED_NAME


def test_hole5_raw_paths_are_stored_as_sent_and_anonymous_floods_are_capped(
    harness: Harness,
) -> None:
    before = len(harness.store.audit.events(limit=100_000))
    anonymous = harness.client()
    for _ in range(200):
        assert anonymous.post("/x%0A2098%1B[8m", json={}).status_code == 401
    new = harness.store.audit.events(limit=100_000)[: -before or None]
    assert 1 <= len(new) <= 11  # ten a minute per address, and one saying so
    assert new[-1].operation == "POST /x\n2098\x1b[8m"  # as sent; rendered safely on output


# ------------------------------------------------------------------ 6. WebSockets


def ws_connect(server: LiveServer, **headers: str) -> ClientConnection:
    url = server.url.replace("http://", "ws://") + "/graphql"
    ws = connect(url, subprotocols=["graphql-ws"], additional_headers=headers, open_timeout=10)  # type: ignore[list-item]
    ws.send(json.dumps({"type": "connection_init"}))
    assert json.loads(ws.recv(timeout=10))["type"] == "connection_ack"
    return ws


def subscribe(ws: ClientConnection, op_id: str) -> dict[str, Any]:
    ws.send(json.dumps({"type": "start", "id": op_id, "payload": {"query": SUBSCRIPTION}}))
    return dict(json.loads(ws.recv(timeout=10)))


def closed_code(ws: ClientConnection, within: float) -> int | None:
    """The close code the server sends within ``within`` seconds (None: still open)."""
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline:
            ws.recv(timeout=max(0.05, deadline - time.monotonic()))
    except TimeoutError:
        return None
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd is not None else -1
    return None


@pytest.fixture
def ws_user(live: LiveServer) -> Iterator[tuple[str, str]]:
    name, secret = f"ws-{uuid.uuid4().hex[:8]}", "websocket-user-password"
    live.add_user(name, "viewer", secret)
    yield name, secret


def ws_session_cookie(server: LiveServer, name: str, secret: str) -> str:
    with httpx.Client(base_url=server.url) as client:
        response = client.post("/auth/login", json={"username": name, "password": secret})
        assert response.status_code == 200
        return str(response.cookies["aerofs_session"])


def test_hole6_a_socket_dies_with_a_disable_from_another_process(
    live: LiveServer, ws_user: tuple[str, str]
) -> None:
    name, secret = ws_user
    cookie = ws_session_cookie(live, name, secret)
    with ws_connect(live, cookie=f"aerofs_session={cookie}", origin=live.url) as ws:
        assert subscribe(ws, "1")["type"] == "data"
        live.aerofs("users", "disable", name)  # another process: reaches us within the TTL
        assert closed_code(ws, within=10) == 4401


def test_hole6_a_new_subscription_after_a_token_revocation_gets_no_data(
    live: LiveServer, ws_user: tuple[str, str]
) -> None:
    name, _ = ws_user
    token_json = json.loads(live.aerofs("tokens", "create", "--user", name, "--json"))
    with ws_connect(live, authorization=f"Bearer {token_json['token']}") as ws:
        assert subscribe(ws, "1")["type"] == "data"
        live.aerofs("tokens", "revoke", token_json["id"])
        time.sleep(5.5)  # past the identity cache's TTL, so the next start asks the database
        try:
            answer: dict[str, Any] | None = subscribe(ws, "2")
        except ConnectionClosed as exc:
            assert exc.rcvd is not None and exc.rcvd.code == 4401
            answer = None
        assert answer is None or answer["type"] != "data", answer


def test_hole6_logout_closes_the_sessions_sockets_at_once(
    live: LiveServer, ws_user: tuple[str, str]
) -> None:
    name, secret = ws_user
    cookie = ws_session_cookie(live, name, secret)
    with ws_connect(live, cookie=f"aerofs_session={cookie}", origin=live.url) as ws:
        assert subscribe(ws, "1")["type"] == "data"
        with httpx.Client(base_url=live.url, cookies={"aerofs_session": cookie}) as browser:
            me = browser.get("/auth/me").json()
            out = browser.post("/auth/logout", headers={"x-csrf-token": me["csrf_token"]})
            assert out.status_code in (200, 303)
        assert closed_code(ws, within=3) == 4401  # in-process revocation: within a poll


# ------------------------------------------------------------------ 7. login CSRF


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "null"},
        {"referer": "https://evil.example/page"},
        {"origin": "https://evil.example"},
        {"origin": "https://testserver:80"},  # our host and port, another scheme
        {"origin": "http://testserver:8080"},
    ],
    ids=["null-origin", "foreign-referer", "foreign-origin", "other-scheme", "other-port"],
)
def test_hole7_cross_site_logins_are_refused(harness: Harness, headers: dict[str, str]) -> None:
    form = {"username": "viewer", "password": password(Role.viewer)}
    client = harness.client()
    response = client.post("/auth/login", data=form, headers=headers)
    assert response.status_code == 403
    assert "aerofs_session" not in response.headers.get("set-cookie", "")


def test_hole7_logins_from_our_pages_and_from_api_clients_still_work(harness: Harness) -> None:
    form = {"username": "viewer", "password": password(Role.viewer)}
    ours = harness.client().post("/auth/login", data=form, headers={"origin": ORIGIN})
    assert ours.status_code == 303
    referred = harness.client().post("/auth/login", data=form, headers={"referer": ORIGIN + "/"})
    assert referred.status_code == 303
    api = harness.client().post("/auth/login", json=form)  # no Origin, no Referer: no browser
    assert api.status_code == 200


def test_the_origin_check_compares_the_scheme_for_writes_too(harness: Harness) -> None:
    client = harness.client(Role.viewer)
    query = {"query": "{ version }"}
    wrong = client.post("/graphql", json=query, headers={"origin": "https://testserver:80"})
    assert wrong.status_code == 403
    assert client.post("/graphql", json=query, headers={"origin": ORIGIN}).status_code == 200


# ------------------------------------------------------------------ lower findings


DEEP_JSON = "[" * 50_000 + "]" * 50_000


def test_deeply_nested_json_is_a_400_everywhere(harness: Harness) -> None:
    viewer = harness.client(Role.viewer, "token")
    body = '{"query": "{ version }", "variables": ' + DEEP_JSON + "}"
    graphql = viewer.post("/graphql", content=body, headers={"content-type": "application/json"})
    assert graphql.status_code == 400, graphql.text
    small = harness.client()
    login = small.post(
        "/auth/login",
        content='{"username": ' + "[" * 5000 + "]" * 5000 + "}",
        headers={"content-type": "application/json"},
    )
    assert login.status_code == 400, login.text
    with viewer.websocket_connect("/graphql", subprotocols=["graphql-ws"]) as ws:
        ws.send_json({"type": "connection_init"})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_text('{"type": "start", "id": "1", "payload": ' + "[" * 5000 + "]" * 5000 + "}")
        assert ws.receive_json()["type"] == "error"
        ws.send_json({"type": "start", "id": "2", "payload": {"query": SUBSCRIPTION}})
        assert ws.receive_json()["type"] == "data"  # the socket is still fine


def test_error_pages_carry_the_security_headers(harness: Harness, tmp_path: Path) -> None:
    broken = GatewayStore(
        f"sqlite:///{tmp_path / 'missing' / 'gateway.db'}",  # its folder does not exist
        hasher=Hasher.fast(),
        secret_key=SECRET_KEY,
    )
    try:
        app = Gateway(harness.app.inner, harness.app.routes, broken, harness.app.config)
        client = TestClient(app, base_url=ORIGIN, raise_server_exceptions=False)
        form = {"username": "viewer", "password": password(Role.viewer)}
        response = client.post("/auth/login", json=form)
    finally:
        broken.dispose()
    assert response.status_code == 500
    assert response.json()["errors"][0]["message"] == "internal server error"
    for name in ("x-content-type-options", "x-frame-options", "content-security-policy"):
        assert name in response.headers, name


def test_the_webservers_own_errors_carry_the_security_headers(harness: Harness) -> None:
    viewer = harness.client(Role.viewer, "token", raise_server_exceptions=False)
    response = viewer.get(f"/download_debug/{uuid.uuid4()}")  # no such run: Dagster fails
    assert response.status_code >= 400
    assert response.headers["x-frame-options"] == "DENY"


class CountingHasher(Hasher):
    """The real argon2id hasher, counting how many verifications run at once."""

    def __init__(self) -> None:
        super().__init__()
        self.running = self.most = 0
        self._lock = threading.Lock()

    def verify(self, encoded: str, password: str) -> bool:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            return super().verify(encoded, password)
        finally:
            with self._lock:
                self.running -= 1


def test_a_login_flood_runs_few_password_checks_at_once(harness: Harness) -> None:
    import anyio

    hasher = CountingHasher()
    policy = RateLimitPolicy(user_free_failures=10_000, address_max_failures=0)
    flood = GatewayStore(harness.store.url, hasher=hasher, secret_key=SECRET_KEY, policy=policy)
    app = Gateway(harness.app.inner, harness.app.routes, flood, harness.app.config)
    statuses: list[int] = []

    async def attempt(client: httpx.AsyncClient, i: int) -> None:
        body = {"username": f"flood-{i}", "password": "not-the-password"}
        statuses.append((await client.post("/auth/login", json=body)).status_code)

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client,
            anyio.create_task_group() as tasks,
        ):
            for i in range(120):
                tasks.start_soon(attempt, client, i)

    try:
        anyio.run(main)
    finally:
        flood.dispose()
    assert hasher.most <= 4, hasher.most  # LOGIN_CONCURRENCY
    assert set(statuses) == {401, 429} and statuses.count(401) >= 4 + 1, statuses
