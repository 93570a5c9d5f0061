"""Debian's chromium driven by Playwright (never a downloaded browser), shared by the browser tests."""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def chromium(require):
    """Return ``launch(profile_dir, viewport, **options)``: a persistent Chromium context with a fresh profile.

    Without Playwright or /usr/bin/chromium the test skips on a laptop and fails in CI (``require``).
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    require(sync_playwright is not None and os.access(CHROMIUM, os.X_OK) and bool(shutil.which(CHROMIUM)), "Chromium")
    with sync_playwright() as playwright:

        def launch(profile_dir, viewport, **options):
            return playwright.chromium.launch_persistent_context(
                str(profile_dir),
                executable_path=CHROMIUM,
                args=CHROMIUM_ARGS,
                headless=True,
                viewport=viewport,
                **options,
            )

        yield launch
