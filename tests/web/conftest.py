"""A real Chromium for the browser tests, driven through Playwright's sync API.

The system Chromium is used when there is one (SURVEY_CHROMIUM, /usr/bin/chromium, or one on
PATH); otherwise the browser that `playwright install chromium` downloads.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_executable() -> str | None:
    """The system Chromium, or None to use Playwright's own (installed here if missing)."""
    named = os.environ.get("SURVEY_CHROMIUM")
    if named:
        return named
    if Path("/usr/bin/chromium").exists():
        return "/usr/bin/chromium"
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    install = subprocess.run(
        [sys.executable, "-m", "playwright", "install", "chromium"],
        capture_output=True,
        text=True,
        check=False,
    )
    if install.returncode != 0:
        pytest.fail(
            "No Chromium for the browser tests: install Debian's `chromium` package, set "
            "SURVEY_CHROMIUM to a Chromium binary, or make `playwright install chromium` work.\n"
            + install.stderr[-2000:],
            pytrace=False,
        )
    return None


@pytest.fixture
def browser(live_server: str) -> Iterator[Browser]:
    """A Chromium per test, started after the test's database and server and stopped before.

    Playwright's sync API keeps an event loop running on this thread while it is started, and
    the database fixtures call asyncio.run() as they set up and tear down; so the browser's life
    must nest inside theirs.
    """
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_executable(), args=ARGS)
        yield launched
        launched.close()
