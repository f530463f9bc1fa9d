"""The gateway app: login/logout, GraphQL policy over HTTP and WebSocket, CSRF, limits."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from dagster import AssetKey, AssetMaterialization
from starlette.testclient import TestClient, WebSocketDenialResponse

from aerofs_pipelines.gateway.app import Gateway
from aerofs_pipelines.gateway.auth.roles import Role
from aerofs_pipelines.gateway.identity.passwords import Hasher
from aerofs_pipelines.gateway.identity.ratelimit import RateLimitPolicy
from aerofs_pipelines.gateway.store import GatewayStore
from tests.support.gateway_harness import (
    ORIGIN,
    SECRET_KEY,
    Harness,
    gateway_harness,
    password,
)

WIPE = (
    'mutation Wipe { wipeAssets(assetPartitionRanges: [{assetKey: {path: ["plain"]}}])'
    " { __typename } }"
)


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with gateway_harness(tmp_path_factory.mktemp("app")) as h:
        h.instance.report_runless_asset_event(AssetMaterialization("plain"))
        yield h


def materialized(harness: Harness) -> bool:
    return harness.instance.get_latest_materialization_event(AssetKey("plain")) is not None


# ------------------------------------------------------------------ login / logout


def test_form_login_sets_a_hardened_cookie_and_redirects(harness: Harness) -> None:
    client = harness.client()
    form = {"username": "launcher", "password": password(Role.launcher), "next": "/runs"}
    response = client.post("/auth/login", data=form, headers={"origin": ORIGIN})
    assert response.status_code == 303 and response.headers["location"] == "/runs"
    cookies = response.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("aerofs_session="))
    assert "HttpOnly" in session and "SameSite=lax" in session
    assert client.get("/auth/me").json()["username"] == "launcher"
    # already logged in: the login page sends you on
    assert client.get("/auth/login?next=/assets").headers["location"] == "/assets"


def test_failed_logins_say_nothing_about_the_user(harness: Harness) -> None:
    client = harness.client()
    wrong = client.post("/auth/login", json={"username": "viewer", "password": "x" * 12})
    unknown = client.post("/auth/login", json={"username": "nobody", "password": "x" * 12})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    page = client.post("/auth/login", data={"username": "nobody", "password": "y"})
    assert page.status_code == 401 and "invalid username or password" in page.text
    assert "aerofs_session" not in page.headers.get("set-cookie", "")


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example", "/\\evil.example", "/\t/evil.example"]
)
def test_login_never_redirects_off_site(harness: Harness, target: str) -> None:
    form = {"username": "viewer", "password": password(Role.viewer), "next": target}
    response = harness.client().post("/auth/login", data=form)
    assert response.headers["location"] == "/"


def test_cross_site_login_is_refused(harness: Harness) -> None:
    body = {"username": "viewer", "password": password(Role.viewer)}
    response = harness.client().post(
        "/auth/login", json=body, headers={"origin": "https://evil.example"}
    )
    assert response.status_code == 403


def test_me_and_logout_end_the_session(harness: Harness) -> None:
    client = harness.client(Role.editor)
    me = client.get("/auth/me").json()
    assert (me["username"], me["role"], me["via"]) == ("editor", "editor", "session")
    cookie = client.cookies["aerofs_session"]
    page = client.get("/", headers={"accept": "text/html"})
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert token is not None and token.group(1) == me["csrf_token"]
    del client.headers["origin"]  # a plain form post: the banner's hidden token suffices
    response = client.post("/auth/logout", data={"csrf_token": token.group(1)})
    assert response.status_code == 303 and response.headers["location"] == "/auth/login"
    assert client.get("/auth/me").status_code == 401
    replay = harness.client()
    replay.cookies.set("aerofs_session", cookie)
    assert replay.post("/graphql", json={"query": "{ version }"}).status_code == 401
    # the refused replay is recorded (anonymous, unread), after the logout
    assert [e.event for e in harness.store.audit.events(limit=2)] == ["anonymous", "logout"]


def test_logout_needs_csrf_proof(harness: Harness) -> None:
    client = harness.client(Role.viewer)
    del client.headers["origin"]
    assert client.post("/auth/logout").status_code == 403
    assert client.get("/auth/me").status_code == 200


# ------------------------------------------------------------------ GraphQL over HTTP


def test_get_mutations_are_refused_even_for_admins(harness: Harness) -> None:
    admin = harness.client(Role.admin, "token")
    for accept in ("application/json", "text/html"):
        response = admin.get("/graphql", params={"query": WIPE}, headers={"accept": accept})
        assert response.status_code == 405, accept
    assert materialized(harness)
    event = harness.store.audit.events(limit=1)[0]
    assert (event.outcome, event.operation, event.fields) == ("denied", "Wipe", ("wipeAssets",))
    assert admin.get("/graphql", params={"query": "{ version }"}).status_code == 200


def test_a_batch_with_one_forbidden_item_is_refused_whole(harness: Harness) -> None:
    launcher = harness.client(Role.launcher, "token")
    batch = [{"query": "{ version }"}, {"query": WIPE}, {"query": "mutation { setNuxSeen }"}]
    response = launcher.post("/graphql", json=batch)
    assert response.status_code == 403
    assert materialized(harness)
    event = harness.store.audit.events(limit=1)[0]
    assert event.fields == ("wipeAssets", "setNuxSeen") and event.outcome == "denied"


def test_fragments_and_operation_name_are_followed(harness: Harness) -> None:
    viewer = harness.client(Role.viewer, "token")
    hidden = "mutation M { ...F } fragment F on Mutation { ... on Mutation { " + WIPE[16:] + "}"
    assert viewer.post("/graphql", json={"query": hidden}).status_code == 403
    doc = "query Q { version } " + WIPE
    allowed = viewer.post("/graphql", json={"query": doc, "operationName": "Q"})
    assert allowed.status_code == 200 and "version" in allowed.json()["data"]
    refused = viewer.post("/graphql", json={"query": doc, "operationName": "Wipe"})
    assert refused.status_code == 403
    ambiguous = viewer.post("/graphql", json={"query": doc})
    assert ambiguous.status_code == 400
    as_graphql = viewer.post(
        "/graphql", content=WIPE, headers={"content-type": "application/graphql"}
    )
    assert as_graphql.status_code == 403
    in_url = viewer.post("/graphql", params={"query": WIPE}, data={"x": "1"})
    assert in_url.status_code == 403
    assert materialized(harness)


def test_unparsable_requests_fail_closed(harness: Harness) -> None:
    editor = harness.client(Role.editor, "token")
    for body in ('{"query": "mutation { wipeAssets("}', "[1]", "{nope"):
        response = editor.post(
            "/graphql", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400, body
    assert materialized(harness)


def test_unknown_mutations_need_admin(harness: Harness) -> None:
    query = {"query": "mutation { launchTheRockets { ok } }"}
    assert harness.client(Role.editor, "token").post("/graphql", json=query).status_code == 403
    # admin passes the gateway; Dagster's own validation then rejects the unknown field
    assert harness.client(Role.admin, "token").post("/graphql", json=query).status_code == 400


# ------------------------------------------------------------------ CSRF, limits, headers


def test_cookie_posts_need_our_origin_or_the_csrf_token(harness: Harness) -> None:
    client = harness.client(Role.viewer)
    query = {"query": "{ version }"}
    csrf = client.get("/auth/me").json()["csrf_token"]
    del client.headers["origin"]
    assert (
        client.post("/graphql", json=query, headers={"origin": "https://evil.example"}).status_code
        == 403
    )
    assert client.post("/graphql", json=query, headers={"origin": "null"}).status_code == 403
    assert client.post("/graphql", json=query).status_code == 403
    assert client.post("/graphql", json=query, headers={"origin": ORIGIN}).status_code == 200
    assert (
        client.post("/graphql", json=query, headers={"referer": f"{ORIGIN}/runs"}).status_code
        == 200
    )
    assert client.post("/graphql", json=query, headers={"x-csrf-token": csrf}).status_code == 200
    assert (
        client.post("/graphql", json=query, headers={"x-csrf-token": "0" * 64}).status_code == 403
    )
    # tokens are not sent by browsers on their own: no CSRF check for them
    token = harness.client(Role.viewer, "token")
    assert token.post("/graphql", json=query).status_code == 200


def test_request_bodies_are_capped(harness: Harness) -> None:
    client = harness.client(Role.admin, "token")
    big = json.dumps({"query": "{ version }", "variables": {"x": "a" * 300_000}})
    response = client.post("/graphql", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_security_headers_and_the_user_banner(harness: Harness) -> None:
    client = harness.client(Role.launcher)
    page = client.get("/assets/lettered", headers={"accept": "text/html"})
    assert page.status_code == 200
    for name in ("x-content-type-options", "x-frame-options", "referrer-policy"):
        assert name in page.headers
    assert 'data-testid="aerofs-username">launcher<' in page.text
    assert 'data-testid="aerofs-role" style="color:#6b7280">launcher<' in page.text
    assert 'data-testid="aerofs-logout"' in page.text
    assert int(page.headers["content-length"]) == len(page.content)
    login = harness.client().get("/auth/login")
    assert "frame-ancestors 'none'" in login.headers["content-security-policy"]
    token_page = harness.client(Role.admin, "token").get("/", headers={"accept": "text/html"})
    assert "aerofs-username" in token_page.text and "aerofs-logout" not in token_page.text


# ------------------------------------------------------------------ WebSocket


def test_websocket_carries_subscriptions_but_not_mutations(harness: Harness) -> None:
    client = harness.client(Role.admin)
    with client.websocket_connect("/graphql", subprotocols=["graphql-ws"]) as ws:
        ws.send_json({"type": "connection_init"})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json({"type": "start", "id": "1", "payload": {"query": WIPE}})
        refused = ws.receive_json()
        assert (refused["type"], refused["id"]) == ("error", "1")
        ws.send_text("not json")
        assert ws.receive_json()["type"] == "error"
        sub = 'subscription { pipelineRunLogs(runId: "nope") { __typename } }'
        ws.send_json({"type": "start", "id": "2", "payload": {"query": sub}})
        data = ws.receive_json()
        assert data["id"] == "2" and data["type"] == "data", data
    assert materialized(harness)
    event = harness.store.audit.events(limit=1)[0]
    assert (event.outcome, event.fields, event.username) == ("denied", ("wipeAssets",), "admin")


def test_cross_site_websocket_with_a_cookie_is_refused(harness: Harness) -> None:
    client = harness.client(Role.viewer)
    evil = {"origin": "https://evil.example"}
    with (
        pytest.raises(WebSocketDenialResponse) as denied,
        client.websocket_connect("/graphql", headers=evil),
    ):
        pass
    assert denied.value.status_code == 403
    token = harness.client(Role.viewer, "token")
    with token.websocket_connect("/graphql", subprotocols=["graphql-ws"]) as ws:
        ws.send_json({"type": "connection_init"})
        assert ws.receive_json()["type"] == "connection_ack"


# ------------------------------------------------------------------ more edges


def test_throttled_logins_get_429_with_retry_after(harness: Harness) -> None:
    strict = GatewayStore(
        harness.store.url,
        hasher=Hasher.fast(),
        secret_key=SECRET_KEY,
        policy=RateLimitPolicy(user_free_failures=1, base_lockout=timedelta(seconds=60)),
    )
    try:
        app = Gateway(harness.app.inner, harness.app.routes, strict, harness.app.config)
        client = TestClient(app, base_url=ORIGIN)
        body = {"username": "throttled-user", "password": "wrong-password-1"}
        assert client.post("/auth/login", json=body).status_code == 401
        refused = client.post("/auth/login", json=body)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
        page = client.post("/auth/login", data=body)
        assert page.status_code == 429 and "<form" in page.text
    finally:
        strict.dispose()


def test_head_mutations_are_refused(harness: Harness) -> None:
    admin = harness.client(Role.admin, "token")
    assert admin.head("/graphql", params={"query": WIPE}).status_code == 405
    assert materialized(harness)


def test_a_token_scoped_below_its_user_acts_with_its_scope(harness: Harness) -> None:
    _, secret = harness.store.tokens.create("admin", role=Role.viewer, name="read-only")
    client = harness.client()
    client.headers["authorization"] = f"Bearer {secret}"
    assert client.get("/auth/me").json()["role"] == "viewer"
    assert client.post("/graphql", json={"query": WIPE}).status_code == 403
    assert materialized(harness)


def test_over_https_cookies_are_secure_and_hsts_is_sent(harness: Harness) -> None:
    client = TestClient(harness.app, base_url="https://testserver")
    body = {"username": "viewer", "password": password(Role.viewer)}
    response = client.post("/auth/login", json=body, headers={"origin": "https://testserver"})
    assert response.status_code == 200
    assert all("Secure" in c for c in response.headers.get_list("set-cookie"))
    assert response.headers["strict-transport-security"].startswith("max-age=")


def test_anonymous_page_round_trips_through_login(harness: Harness) -> None:
    client = harness.client()
    first = client.get("/assets/lettered?view=partitions", headers={"accept": "text/html"})
    login_url = first.headers["location"]
    page = client.get(login_url)
    assert 'name="next" value="/assets/lettered?view=partitions"' in page.text
    form = {
        "username": "viewer",
        "password": password(Role.viewer),
        "next": "/assets/lettered?view=partitions",
    }
    done = client.post("/auth/login", data=form, headers={"origin": ORIGIN})
    assert done.headers["location"] == "/assets/lettered?view=partitions"
    assert client.get(done.headers["location"]).status_code == 200


def test_sso_header_only_from_trusted_proxies(harness: Harness) -> None:
    config = replace(
        harness.app.config,
        trusted_proxies=(ipaddress.ip_network("10.0.0.0/8"),),
        user_header="X-Forwarded-User",
    )
    app = Gateway(harness.app.inner, harness.app.routes, harness.store, config)
    sso = {"x-forwarded-user": "launcher", "x-forwarded-for": "192.0.2.7"}
    proxy = TestClient(app, base_url=ORIGIN, client=("10.1.2.3", 4000))
    me = proxy.get("/auth/me", headers=sso).json()
    assert (me["username"], me["role"], me["via"]) == ("launcher", "launcher", "header")
    assert proxy.get("/auth/me", headers={**sso, "x-forwarded-user": "nobody"}).status_code == 401
    # a write through the proxy is still a browser's: it needs our Origin
    query = {"query": "mutation { setNuxSeen }"}
    assert proxy.post("/graphql", json=query, headers=sso).status_code == 403
    ok = proxy.post("/graphql", json=query, headers={**sso, "origin": ORIGIN})
    assert ok.status_code == 200
    event = harness.store.audit.events(limit=1)[0]
    assert (event.username, event.address) == ("launcher", "192.0.2.7")
    # anyone else sending the header is nobody
    direct = TestClient(app, base_url=ORIGIN, client=("192.0.2.99", 4000))
    assert direct.get("/auth/me", headers=sso).status_code == 401
