"""The upload page in a real browser, on the real platform (Playwright + Debian's Chromium).

``aerofs serve`` runs the product's code location and ``dagster.yaml`` (polling
shortened, as ``tests/integration/test_lake_serve.py`` does) over a local landing zone and
lake, with the packaged dataset registry, so an uploaded batch really is picked up by the
landing sensor and processed. One server for the module.

- A launcher signs in on the login page, finds "Upload" in the user banner, opens the
  page (both of its answers carry the strict CSP and ``no-store``; the page raises no CSP
  violation), sees the suggested batch id and the rule explained when the id or a file
  name breaks it, then uploads two ``orders`` CSV files. The first try meets a batch id
  that another client claimed meanwhile: each file shows the API's refusal. "Start over"
  picks a new id; this time both progress bars reach 100 %, the batch completes, its state
  goes landed → processed, each file shows its dataset's outcome, and the runs link leads
  to Dagster's runs page showing the batch's run, succeeded.
- A viewer finds no "Upload" in the banner, and ``/upload`` (page and script) is 403.

Chromium is ``$AEROFS_CHROMIUM`` or ``/usr/bin/chromium``; the test fails, never skips,
when it is missing or the server does not come up.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import ConsoleMessage, Page, Route, expect

from aerofs_pipelines.api.upload_page import CONTENT_SECURITY_POLICY
from tests.support.browser import log_in as sign_in
from tests.support.live_server import LiveServer, product_server

USERS = {"vera": ("viewer", "vera-viewer-password"), "lars": ("launcher", "lars-launcher-pass")}
RUN_TIMEOUT_MS = 180_000  # a sensor tick (10 s) + a run worker on a busy 2-core machine
HEADER = "order_id,order_date,customer,amount,quantity,note\n"
ORDERS = {  # the packaged registry's orders: exactly these columns, in this order
    "orders-1.csv": HEADER + "1,2026-03-01,Acme,10.5,2,first\n2,2026-03-02,Zoë Ångström,7.25,1,\n",
    "orders-2.csv": HEADER + "3,2026-03-03,Smith,3.0,5,by phone\n",
}
STATES = ["landed", "processing", "processed"]
WATCH_STATE = """() => {
  const state = document.querySelector('[data-testid="batch-state"]');
  window.statesShown = [];
  new MutationObserver(() => window.statesShown.push(state.textContent)).observe(
    state, {childList: true, characterData: true, subtree: true});
}"""
"""Records each state the page shows (run by Playwright, outside the page's CSP)."""
SUGGESTED = re.compile(r"^upload-\d{8}-\d{6}$")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("upload-page")
    settings = {"AEROFS_LANDING": str(tmp / "landing"), "AEROFS_LAKE": str(tmp / "lake")}
    with product_server(tmp, settings) as live:
        for name, (role, password) in USERS.items():
            live.add_user(name, role, password)
        yield live


def log_in(page: Page, server: LiveServer, name: str, target: str) -> None:
    role, password = USERS[name]
    sign_in(page, server.url, name, password, role, target)


def batch_status(server: LiveServer, batch_id: str) -> Any:
    """What the API says of the batch (for failure messages), with a viewer token."""
    token = server.create_token("vera")
    response = httpx.get(
        f"{server.url}/api/batches/{batch_id}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    return response.json()


def diagnosis(exc: AssertionError, server: LiveServer, batch_id: str) -> str:
    """The failure, what the API says of the batch, and the server's log (its daemon and
    run workers log there too), without the asset daemon's chatter."""
    lines = [
        line
        for line in server.log_tail(2000).splitlines()
        if "AssetDaemon" not in line and "catalog_automation" not in line
    ]
    log = "\n".join(lines[-150:])
    return f"{exc}\nbatch status: {batch_status(server, batch_id)}\n--- aerofs serve log:\n{log}"


def files(names: list[str]) -> list[Any]:
    return [{"name": n, "mimeType": "text/csv", "buffer": ORDERS[n].encode()} for n in names]


def row(page: Page, name: str) -> Any:
    return page.locator(f'tr[data-testid="file-row"][data-name="{name}"]')


def test_launcher_uploads_a_batch_and_follows_it_to_its_run(page: Page, server: LiveServer) -> None:
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # the API's refusals (404 for a free id, 409) are logged as failed loads: expected
        expected = message.text.startswith("Failed to load resource")
        if message.type == "error" and "/upload" in page.url and not expected:
            problems.append(f"console: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))

    log_in(page, server, "lars", "/runs")
    link = page.get_by_test_id("aerofs-upload-link")
    expect(link).to_have_text("Upload")
    link.click()
    expect(page).to_have_url(f"{server.url}/upload")
    expect(page.get_by_role("heading", name="Upload a batch")).to_be_visible()
    expect(page.get_by_test_id("aerofs-username")).to_have_text("lars")  # the banner, here too
    for path, kind in (("/upload", "text/html"), ("/upload/upload.js", "text/javascript")):
        answer = page.request.get(server.url + path, headers={"accept": f"{kind},*/*"})
        assert answer.status == 200, (path, answer.status)
        assert answer.headers["content-type"].startswith(kind), answer.headers
        assert answer.headers["cache-control"] == "no-store", answer.headers
        assert CONTENT_SECURITY_POLICY in answer.headers["content-security-policy"], answer.headers

    # The suggested batch id follows the rule; a broken one is explained and blocks Upload.
    batch_field = page.get_by_test_id("batch-id")
    upload = page.get_by_test_id("upload-button")
    suggested = batch_field.input_value()
    assert SUGGESTED.match(suggested), suggested
    expect(page.get_by_test_id("file-summary")).to_have_text("No file chosen yet.")
    expect(upload).to_be_disabled()

    page.get_by_test_id("file-input").set_input_files(
        [
            *files(["orders-1.csv"]),
            {"name": "my orders.csv", "mimeType": "text/csv", "buffer": b"x"},
        ]
    )
    expect(row(page, "my orders.csv").get_by_test_id("file-status")).to_contain_text(
        "Would be refused"
    )
    expect(row(page, "my orders.csv").get_by_test_id("file-status")).to_contain_text("space")
    expect(page.get_by_test_id("file-summary")).to_contain_text("1 file breaks the rules")
    expect(upload).to_be_disabled()
    page.get_by_role("button", name="Remove my orders.csv").click()
    page.get_by_test_id("file-input").set_input_files(files(["orders-2.csv"]))
    expect(page.get_by_test_id("file-row")).to_have_count(2)
    expect(page.get_by_test_id("file-summary")).to_have_text(re.compile(r"^2 files, "))

    batch_field.fill("orders/march")
    expect(page.get_by_test_id("batch-id-error")).to_contain_text("'/' (no folders)")
    expect(upload).to_be_disabled()
    batch_field.fill("-orders")
    expect(page.get_by_test_id("batch-id-error")).to_contain_text("start with a letter or digit")
    batch_field.fill("claimed-meanwhile")
    expect(page.get_by_test_id("batch-id-error")).to_have_text("")
    expect(upload).to_be_enabled()

    # First try: another client claims the batch id just after the page checked it was
    # free; the server refuses each file, and the page shows why, beside the file.
    launcher_token = server.create_token("lars")

    def claim_first(route: Route) -> None:
        checked = route.fetch()  # the page's check: the id is free
        claimed = httpx.put(
            f"{server.url}/api/batches/claimed-meanwhile/files/other.csv",
            content=b"a,b\n1,2\n",
            headers={"Authorization": f"Bearer {launcher_token}", "X-Upload-Id": "someone-else"},
            timeout=30,
        )
        assert claimed.status_code == 201, claimed.text
        route.fulfill(response=checked)

    page.route(re.compile(r"/api/batches/claimed-meanwhile$"), claim_first)
    upload.click()
    for name in ORDERS:
        expect(row(page, name).get_by_test_id("file-status")).to_contain_text(
            "being uploaded by another client"
        )
    expect(page.get_by_test_id("upload-message")).to_contain_text("2 files were not uploaded")
    expect(upload).to_have_text("Retry")
    page.unroute(re.compile(r"/api/batches/claimed-meanwhile$"))

    # Start over: a new suggested id, the same files ready again.
    page.get_by_role("button", name="Start over").click()
    expect(batch_field).to_be_enabled()
    expect(batch_field).to_have_value(SUGGESTED)
    batch_id = batch_field.input_value()
    expect(upload).to_be_enabled()

    page.evaluate(WATCH_STATE)
    upload.click()
    for name in ORDERS:
        bar = row(page, name).get_by_test_id("file-progress")
        expect(bar).to_have_attribute("value", "100")
        expect(row(page, name).get_by_test_id("file-percent")).to_have_text("100 %")
        expect(row(page, name).get_by_test_id("file-status")).to_have_text("Uploaded")
    expect(page.get_by_test_id("upload-message")).to_contain_text(f"Batch {batch_id} is complete")
    expect(page.get_by_test_id("result-batch")).to_have_text(batch_id)

    state = page.get_by_test_id("batch-state")
    try:  # where it ends, processed or failed (failed says why at once)
        expect(state).to_have_text(re.compile("^(processed|failed)$"), timeout=RUN_TIMEOUT_MS)
        expect(state).to_have_text("processed", timeout=1)
    except AssertionError as exc:
        raise AssertionError(diagnosis(exc, server, batch_id)) from None
    shown: list[str] = page.evaluate("window.statesShown")
    seen = list(dict.fromkeys(shown))
    assert seen in (STATES, [STATES[0], STATES[2]]), shown  # processing may pass between polls
    for name in ORDERS:
        expect(row(page, name).get_by_test_id("file-status")).to_have_text(
            "Dataset orders: processed"
        )
    status = batch_status(server, batch_id)
    assert status["state"] == "processed", status
    run_id = status["runs"][0]["run_id"]
    expect(page.get_by_test_id("run-row").first).to_contain_text(run_id[:8])
    assert problems == [], problems  # no CSP violation, no script error on the page

    # The runs link: Dagster's runs page, filtered to the batch, shows its run, succeeded.
    runs_link = page.get_by_test_id("runs-link")
    expect(runs_link).to_have_attribute("href", status["links"]["runs"])
    runs_link.click()
    expect(page).to_have_url(re.compile(r"/runs\?q"))
    expect(page.get_by_text(f"Partition is {batch_id}")).to_be_visible(timeout=60_000)
    expect(page.get_by_role("link", name=run_id[:8]).first).to_be_visible()
    expect(page.get_by_text(f"partition: {batch_id}").first).to_be_visible()
    expect(page.get_by_text("Success", exact=True).first).to_be_visible()


def test_viewer_has_no_upload_link_and_no_upload_page(page: Page, server: LiveServer) -> None:
    log_in(page, server, "vera", "/runs")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    expect(page.get_by_test_id("aerofs-upload-link")).to_have_count(0)
    for path in ("/upload", "/upload/upload.js"):
        answer = page.request.get(server.url + path, headers={"accept": "text/html"})
        assert answer.status == 403, (path, answer.status, answer.text())
        assert "needs launcher" in answer.json()["errors"][0]["message"]
    opened = page.goto(server.url + "/upload")
    assert opened is not None and opened.status == 403
