"""The platform in a real browser: Playwright driving Debian's Chromium, headless.

``aerofs serve`` runs as a child process (gateway + Dagster webserver app + daemon) on a
fresh instance; the browser goes through the login page like a person would:

- a viewer sees their name and role, opens an asset's partitions and finds "Materialize"
  disabled by Dagster itself ("You do not have permission ...");
- a launcher launches one partition's run from the same page and watches it succeed on
  the run's page (status pushed over the gateway's WebSocket);
- logging out lands on the login page, the UI redirects there again, and the old session
  cookie is refused by the server.

Chromium is ``$AEROFS_CHROMIUM`` or ``/usr/bin/chromium`` (Playwright cannot download
its own here); the test fails, never skips, when it is missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, Response, expect

from tests.support.browser import log_in as sign_in
from tests.support.live_server import LiveServer, live_server

ASSET_PARTITIONS = "/assets/batch_report?view=partitions"
BATCHES = ("batch-001", "batch-002", "batch-003")
USERS = {"vera": ("viewer", "vera-viewer-password"), "lars": ("launcher", "lars-launcher-pass")}
MATERIALIZE = "Materialize…"  # the accessible name also holds its icon's label


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("browser")) as live:
        for name, (role, password) in USERS.items():
            live.add_user(name, role, password)
        live.add_batches(BATCHES)
        yield live


def log_in(page: Page, server: LiveServer, name: str, target: str) -> None:
    role, password = USERS[name]
    sign_in(page, server.url, name, password, role, target)


def expect_identity(page: Page, name: str, role: str) -> None:
    expect(page.get_by_test_id("aerofs-username")).to_have_text(name)
    expect(page.get_by_test_id("aerofs-role")).to_have_text(role)
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def open_partitions(page: Page) -> None:
    """Wait until the asset's partitions are listed (the definition has loaded)."""
    expect(page.get_by_role("tab", name="Partitions")).to_be_visible()
    for batch in BATCHES:
        expect(page.get_by_text(batch, exact=True).first).to_be_visible()


def test_viewer_sees_materialize_disabled(page: Page, server: LiveServer) -> None:
    log_in(page, server, "vera", ASSET_PARTITIONS)
    expect_identity(page, "vera", "viewer")
    open_partitions(page)
    materialize = page.get_by_role("button", name=MATERIALIZE)
    expect(materialize).to_be_disabled()
    # Disabled by Dagster's own permission check (not merely still loading):
    materialize.hover(force=True)
    expect(page.get_by_role("tooltip")).to_contain_text(
        "You do not have permission to materialize assets"
    )
    expect(materialize).to_be_disabled()


def test_launcher_launches_a_partition_run_that_succeeds(page: Page, server: LiveServer) -> None:
    log_in(page, server, "lars", ASSET_PARTITIONS)
    expect_identity(page, "lars", "launcher")
    open_partitions(page)
    materialize = page.get_by_role("button", name=MATERIALIZE)
    expect(materialize).to_be_enabled()
    materialize.click()

    dialog = page.get_by_role("dialog").filter(has_text="Launch runs to materialize batch_report")
    dialog.get_by_text("Select a partition or create one").click()
    page.get_by_role("menuitem", name="batch-002").click()
    page.keyboard.press("Escape")  # close the partition picker, keep the dialog

    def is_launch(response: Response) -> bool:
        body = response.request.post_data or ""
        return response.url.startswith(f"{server.url}/graphql") and "LaunchPipelineExecution" in (
            body
        )

    with page.expect_response(is_launch) as launched:
        dialog.get_by_role("button", name="Launch 1 run").click()
    result = launched.value.json()["data"]["launchPipelineExecution"]
    assert result["__typename"] == "LaunchRunSuccess", result
    run_id = result["run"]["id"]
    expect(page.get_by_text(f"Launched run {run_id[:8]}")).to_be_visible()

    page.goto(f"{server.url}/runs/{run_id}")
    expect(page.get_by_text("partition: batch-002")).to_be_visible()
    # The run's status comes over the WebSocket subscription, through the gateway.
    expect(page.get_by_text("Success", exact=True).first).to_be_visible(timeout=60_000)
    expect(page.get_by_text("RUN_SUCCESS").first).to_be_visible()


def test_logout_ends_the_session(page: Page, server: LiveServer) -> None:
    log_in(page, server, "lars", "/runs")
    expect_identity(page, "lars", "launcher")
    cookie = next(c["value"] for c in page.context.cookies() if c["name"] == "aerofs_session")
    with httpx.Client(base_url=server.url, cookies={"aerofs_session": cookie}) as old:
        assert old.get("/auth/me").json()["username"] == "lars"

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{server.url}/auth/login")
    assert "aerofs_session" not in {c["name"] for c in page.context.cookies()}
    page.goto(server.url + "/runs")
    expect(page).to_have_url(re.compile(r"/auth/login\?next=%2Fruns$"))
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()

    # The old cookie, replayed by hand, is refused: the session was revoked server-side.
    with httpx.Client(base_url=server.url, cookies={"aerofs_session": cookie}) as old:
        assert old.get("/auth/me").status_code == 401
        query = {"query": "{ version }"}
        graphql = old.post("/graphql", json=query, headers={"origin": server.url})
        assert graphql.status_code == 401
        page_response = old.get("/runs", headers={"accept": "text/html"})
        assert page_response.status_code == 303
        assert page_response.headers["location"].startswith("/auth/login")
