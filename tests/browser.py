"""Headless Chromium for page tests: Debian's `chromium` driven by Playwright
through `executable_path` (no browser download). Without one the test skips,
unless BATCHEDIT_REQUIRE_BROWSER=1 (set by .ci/run), where it fails."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def browser_path() -> str:
    found = os.environ.get("BATCHEDIT_BROWSER") or next(
        filter(None, map(shutil.which, BROWSERS)), None
    )
    if found is None:
        message = f"no headless browser found (looked for {', '.join(BROWSERS)})"
        if os.environ.get("BATCHEDIT_REQUIRE_BROWSER") == "1":
            pytest.fail(message + "; BATCHEDIT_REQUIRE_BROWSER=1 asks for one")
        pytest.skip(message + "; apt-get install chromium")
    return found


@contextmanager
def open_page(width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A page in headless Chromium, through Playwright's synchronous API. Opened
    after the CLI is done: both want the main thread's event loop to themselves."""
    executable = browser_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()
