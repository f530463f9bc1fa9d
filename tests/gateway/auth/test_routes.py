"""Every route the webserver serves is closed to anonymous callers.

The routes are enumerated from the wrapped webserver app itself (its Starlette routes),
so a route a new dagster-webserver adds is covered without editing this test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import AssetKey
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.testclient import WebSocketDenialResponse

from aerofs_pipelines.gateway.auth.roles import Role
from aerofs_pipelines.gateway.auth.routes import (
    UNKNOWN,
    compute_log_refusal,
    rule_for,
    run_id_refusal,
)
from tests.support.gateway_harness import ORIGIN, Harness, gateway_harness

PARAM = re.compile(r"{(\w+)(?::(\w+))?}")


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with gateway_harness(tmp_path_factory.mktemp("routes")) as h:
        yield h


def concrete(path: str) -> str:
    return PARAM.sub(lambda m: "some/thing" if m.group(2) == "path" else "abc123", path)


def http_targets(harness: Harness) -> list[tuple[str, str, bool]]:
    """(method, concrete path, is a real static file) for every HTTP route."""
    targets = []
    for route in harness.app.routes:
        if isinstance(route, Route):
            for method in sorted(route.methods or ()):
                targets.append((method, concrete(route.path), route.name == "root_static"))
        elif isinstance(route, Mount):
            directory = Path(route.app.directory)  # type: ignore[attr-defined]
            first = next(p for p in sorted(directory.rglob("*")) if p.is_file())
            path = f"{route.path}/{first.relative_to(directory).as_posix()}"
            targets += [("GET", path, True), ("HEAD", path, True)]
    return targets


def test_routes_were_enumerated(harness: Harness) -> None:
    targets = http_targets(harness)
    paths = {p for _, p, _ in targets}
    expected = {
        "/graphql",
        "/logs/some/thing",
        "/download_debug/abc123",
        "/notebook",
        "/report_asset_materialization/some/thing",
        "/server_info",
        "/",
    }
    assert expected <= paths
    assert any(p.startswith("/_next/") for p in paths)
    assert any(isinstance(r, WebSocketRoute) for r in harness.app.routes)


def test_anonymous_http_is_refused_everywhere(harness: Harness) -> None:
    client = harness.client()
    viewer = harness.client(Role.viewer)
    for method, path, static in http_targets(harness):
        api = client.request(method, path, headers={"accept": "application/json"})
        assert api.status_code == 401, (method, path, api.status_code)
        assert api.headers["www-authenticate"] == "Bearer"
        if method in ("GET", "HEAD"):
            page = client.request(method, path, headers={"accept": "text/html"})
            assert page.status_code == 303, (method, path)
            assert page.headers["location"].startswith("/auth/login?next=")
        if static:  # the same path is really served once logged in
            assert viewer.request(method, path).status_code == 200, (method, path)


@pytest.mark.parametrize(
    "path",
    [
        "/graphql/",
        "//graphql",
        "/GRAPHQL",
        "/%67raphql",
        "/graphql?query={version}",
        "/auth",
        "/healthz/../graphql",
        "/runs",
        "/assets/lettered",
    ],
)
def test_odd_spellings_are_refused_too(harness: Harness, path: str) -> None:
    response = harness.client().get(path, headers={"accept": "application/json"})
    assert response.status_code in (401, 404), path
    if response.status_code == 404:
        assert path == "/auth"  # the gateway's own namespace: nothing there


def test_only_health_and_login_are_open(harness: Harness) -> None:
    client = harness.client()
    assert client.get("/healthz").json() == {"status": "ok"}
    login = client.get("/auth/login")
    assert login.status_code == 200 and "<form" in login.text
    assert "/auth/assets/login.css" in login.text
    css = client.get("/auth/assets/login.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "/auth/assets/icon.svg" in login.text  # so the browser asks no closed /favicon.ico
    assert client.get("/auth/assets/icon.svg").headers["content-type"].startswith("image/svg")
    assert client.get("/auth/me").status_code == 401


def test_anonymous_websocket_is_refused(harness: Harness) -> None:
    for headers in ({}, {"authorization": "Bearer aerofs_nope"}, {"cookie": "aerofs_session=x"}):
        client = harness.client()
        with (
            pytest.raises(WebSocketDenialResponse) as denied,
            client.websocket_connect("/graphql", subprotocols=["graphql-ws"], headers=headers),
        ):
            pass
        assert denied.value.status_code == 401


def test_report_asset_routes_need_editor(harness: Harness) -> None:
    key = AssetKey("plain")
    before = harness.instance.get_latest_materialization_event(key)
    for role in (Role.viewer, Role.launcher):
        for via in ("session", "token"):
            response = harness.client(role, via).post("/report_asset_materialization/plain")
            assert response.status_code == 403, (role, via)
    assert harness.instance.get_latest_materialization_event(key) == before
    events = harness.store.audit.events(limit=10)
    assert events[0].outcome == "denied" and events[0].operation == "report_asset_materialization"
    response = harness.client(Role.editor, "token").post("/report_asset_materialization/plain")
    assert response.status_code == 200, response.text
    assert harness.instance.get_latest_materialization_event(key) is not None
    assert harness.store.audit.events(limit=1)[0].outcome == "allowed"


def test_cookie_writes_to_rest_routes_need_our_origin(harness: Harness) -> None:
    editor = harness.client(Role.editor)
    del editor.headers["origin"]
    foreign = editor.post(
        "/report_asset_observation/plain", headers={"origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    assert editor.post("/report_asset_observation/plain").status_code == 403  # no origin, no token
    ok = editor.post("/report_asset_observation/plain", headers={"origin": ORIGIN})
    assert ok.status_code == 200, ok.text


def test_every_webserver_route_has_a_rule(harness: Harness) -> None:
    """A route a new dagster-webserver adds fails here first (it needs admin meanwhile)."""
    for route in harness.app.routes:
        assert rule_for(route) is not UNKNOWN, getattr(route, "path", route)


@pytest.mark.parametrize(
    ("path", "served"),
    [
        ("3f2c/compute_logs/batch_manifest/out", True),
        ("3f2c/compute_logs/op[mapping_1]/err", True),
        ("backfill/abcdefgh/20260101_120000/out", True),
        ("aerofs_gateway/db", False),
        ("aerofs_gateway/db-wal", False),
        ("out", False),
        ("../gateway/aerofs_gateway/out", False),
        (".hidden/out", False),
        ("a//b/out", False),
        ("/".join(["k"] * 9) + "/out", False),
    ],
)
def test_the_logs_route_serves_compute_logs_only(path: str, served: bool) -> None:
    assert (compute_log_refusal({"path": path}) is None) == served


def test_debug_downloads_take_run_ids_only() -> None:
    assert run_id_refusal({"run_id": "0d5f2a4e-8c5b-4c1a-9a7e-2f0f6d7c1b3a"}) is None
    for bad in ("abc123", "0D5F2A4E-8C5B-4C1A-9A7E-2F0F6D7C1B3A", "../../etc/passwd", ""):
        assert run_id_refusal({"run_id": bad}) is not None
