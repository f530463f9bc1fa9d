"""A real browser for the UI tests: Debian's Chromium under Playwright, headless.

``chromium()`` fails the test (never skips) when the browser is missing; ``new_page``
opens a fresh context (no cookies); ``log_in`` signs in through the login page the way a
person does, from an anonymous visit to ``target``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

CHROMIUM = os.environ.get("AEROFS_CHROMIUM", "/usr/bin/chromium")
TIMEOUT_MS = 20_000


@contextmanager
def chromium() -> Iterator[Browser]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"Chromium not found at {CHROMIUM} (install Debian's `chromium` or set "
            "AEROFS_CHROMIUM); the browser test needs it",
            pytrace=False,
        )
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@contextmanager
def new_page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


def log_in(page: Page, url: str, name: str, password: str, role: str, target: str) -> None:
    """Open ``target`` anonymously, get sent to the login page, sign in, come back."""
    page.goto(url + target)
    expect(page).to_have_url(re.compile(r"/auth/login\?next="))
    expect(page).to_have_title(re.compile("Sign in"))
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile("^" + re.escape(url + target.split("?")[0])))
    expect(page.get_by_test_id("aerofs-username")).to_have_text(name)
    expect(page.get_by_test_id("aerofs-role")).to_have_text(role)
