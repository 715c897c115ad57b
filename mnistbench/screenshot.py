"""A PNG of a saved web page, taken in a headless Chromium driven by Playwright: for the picture of the
board that the repository shows. Both are optional: Playwright comes with the `test` extra, Chromium from
the system (Debian's package `chromium`)."""

from __future__ import annotations

import shutil
from pathlib import Path

from .errors import MnistbenchError

# Chromium on a closed network: no first-run, sync or background requests, no sandbox (root in CI).
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def page_png(page: Path, png: Path, width: int = 1300) -> Path:
    """The whole page at `width` pixels as a PNG; one clear error when Playwright or Chromium is missing."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import Error, sync_playwright  # noqa: PLC0415
    except ImportError:
        raise MnistbenchError("a screenshot needs Playwright (uv sync --extra test, or pip install playwright)") from None
    if chromium is None:
        raise MnistbenchError("a screenshot needs Chromium on the PATH (Debian: apt-get install chromium)")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
            tab = browser.new_page(viewport={"width": width, "height": 1000})
            tab.goto(Path(page).absolute().as_uri())
            png.parent.mkdir(parents=True, exist_ok=True)
            tab.screenshot(path=str(png), full_page=True)
            browser.close()
    except Error as exc:
        raise MnistbenchError(f"the screenshot of {page} failed: {str(exc).splitlines()[0][:200]}") from None
    return png
