"""The report as a browser shows it: headless Chromium, driven by Playwright.

Every picture must decode, there must be one row per explained pick, the page must log no
errors, and the discovery curve and table must be on the first screen. A screenshot is saved
in ``$SKNOVEL_TEST_ARTIFACTS`` (default ``test-artifacts/`` at the repository root).

The browser is the system's Chromium (Debian's ``chromium`` package; ``.ci/run`` installs
it), or the one named by ``$SKNOVEL_CHROMIUM``; Playwright's own browser downloads are never
used. The tests skip, saying why, only where no browser can be found or started.
"""

import os
import shutil
from pathlib import Path

import pytest

from sknovel.cli import main

ROOT = Path(__file__).resolve().parents[2]
VIEWPORT = {"width": 1280, "height": 900}
N_EXPLAIN = 3


def chromium_path():
    """The Chromium executable to drive, or None."""
    named = os.environ.get("SKNOVEL_CHROMIUM")
    if named:
        return named
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def artifacts_folder():
    folder = Path(os.environ.get("SKNOVEL_TEST_ARTIFACTS", ROOT / "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright's Python package is not installed"
    )
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium found (install Debian's chromium, or set SKNOVEL_CHROMIUM)")
    with sync_api.sync_playwright() as playwright:
        try:
            # --no-sandbox: CI containers run as root, where Chromium's sandbox cannot start.
            chromium = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        except Exception as error:  # noqa: BLE001 - any launch failure means: no browser here
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
            pytest.skip(f"Chromium at {executable} could not be started: {first_line}")
        yield chromium
        chromium.close()


def open_page(browser, load):
    """A page, loaded by ``load(page)``, and the errors it logged (console and uncaught)."""
    page = browser.new_page(viewport=VIEWPORT)
    errors = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    load(page)
    page.wait_for_load_state("load")
    return page, errors


def undecoded_images(page):
    """(src, naturalWidth) of every <img> that did not decode."""
    images = page.evaluate(
        "() => Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, "
        "i.naturalWidth])"
    )
    assert images, "the page has no images"
    return [(src[:80], width) for src, complete, width in images if not complete or width <= 0]


@pytest.fixture(scope="module")
def report_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("browser") / "report"
    argv = ["discover", "--demo", "digits", "--n-selections", "30", "--explain", str(N_EXPLAIN)]
    assert main(argv + ["--output", str(out), "--quiet"]) == 0
    return out


def test_the_report_folder_in_chromium(browser, report_folder):
    page, errors = open_page(browser, lambda p: p.goto((report_folder / "report.html").as_uri()))
    try:
        assert undecoded_images(page) == []
        assert page.locator("tr.pick").count() == N_EXPLAIN
        assert page.locator("tr.pick img").count() >= 2 * N_EXPLAIN
        # The first screen shows DEMUD against random: the curve and the table.
        for selector in (".curve svg", "table.summary"):
            box = page.locator(selector).bounding_box()
            assert box is not None and box["y"] + box["height"] <= VIEWPORT["height"], selector
        assert "DEMUD" in page.locator("table.summary").inner_text()
        page.screenshot(path=str(artifacts_folder() / "report-digits.png"), full_page=True)
        assert errors == []
    finally:
        page.close()


def test_the_jupyter_display_in_chromium(browser):
    from sklearn.datasets import load_digits

    from sknovel import DiscoveryReport

    digits = load_digits()
    report = DiscoveryReport.from_images(
        digits.images[:200] / 16, digits.target[:200], n_selections=20, n_explain=2
    )
    html = f"<!doctype html><html><body>{report._repr_html_()}</body></html>"
    page, errors = open_page(browser, lambda p: p.set_content(html))
    try:
        assert undecoded_images(page) == []
        assert page.locator("tr.pick").count() == 2
        page.screenshot(path=str(artifacts_folder() / "report-jupyter.png"), full_page=True)
        assert errors == []
    finally:
        page.close()
