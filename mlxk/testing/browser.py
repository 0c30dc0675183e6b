"""Find and launch a real headless Chromium for the chat page tests.

Debian's ``chromium`` package (what ``.ci/run`` installs), Google Chrome, or the
browser named by ``MLXK_CHROMIUM``. Missing the browser is an error, never a skip.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

CANDIDATES = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
)
# Without these, Chromium keeps calling Google's hosts, which a closed network refuses.
FLAGS = (
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


class BrowserMissing(RuntimeError):
    pass


def find_chromium() -> str:
    named = os.environ.get("MLXK_CHROMIUM")
    for candidate in (named,) if named else CANDIDATES:
        found = shutil.which(candidate) or (candidate if Path(candidate).is_file() else None)
        if found:
            return found
    raise BrowserMissing(
        "no Chromium found for the chat page tests: install Debian's 'chromium' package "
        "(apt-get install chromium; .ci/run does this), Google Chrome, or set MLXK_CHROMIUM"
    )


@contextmanager
def chromium():
    """Yield a Playwright ``Browser`` running headless Chromium."""
    from playwright.sync_api import sync_playwright

    executable = find_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, chromium_sandbox=False, args=list(FLAGS)
        )
        try:
            yield browser
        finally:
            browser.close()
