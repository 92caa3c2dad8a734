"""The course site in headless Chromium, served from 127.0.0.1 with every request to another host aborted.

Each lesson page must open with no console error and no page error, ask nothing of another site, and draw its
widget snapshots (lessons 01, 02 and 04) from the saved state with the vendored renderer. A screenshot of each page
goes to the folder the browser tests report at the end.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import sys
import tempfile
import threading

import pytest

from helpers import REPO_ROOT
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, PAGE_TIMEOUT_MS
from tests.conftest import SCREENSHOTS, built_site

sys.path.insert(0, str(REPO_ROOT / "scripts"))
from execute_lessons import lessons  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.lesson]
LESSONS = lessons()
WITH_WIDGETS = ("01", "02", "04")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no line per request in the test's output
        pass


@pytest.fixture(scope="module")
def site_url(browser_available, tmp_path_factory):
    """Build the site (from the executed lessons) and serve a copy of it on 127.0.0.1 (another test may build it
    again meanwhile: tests/test_site.py); yield its address."""
    copy = built_site(tmp_path_factory.mktemp("site") / "site")
    handler = functools.partial(QuietHandler, directory=str(copy))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser_context(site_url):
    """A Chromium context (fresh profile) in which every request that leaves `site_url` is aborted and recorded."""
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="kit-site-chromium-")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True,
                                                       args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 1000})
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        context.offsite = []

        def route(request_route):
            if request_route.request.url.startswith(site_url + "/"):
                request_route.continue_()
            else:
                context.offsite.append(request_route.request.url)
                request_route.abort()

        context.route("**/*", route)
        yield context
        context.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.parametrize("lesson", LESSONS, ids=[path.stem[:2] for path in LESSONS])
def test_a_lesson_page_opens_offline_without_errors_and_draws_its_widget_snapshots(site_url, browser_context,
                                                                                  lesson):
    page = browser_context.new_page()
    console, errors = [], []
    page.on("console", lambda message: console.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    browser_context.offsite.clear()
    page.goto(f"{site_url}/notebooks/{lesson.stem}.html", wait_until="load")

    views = page.locator('script[type="application/vnd.jupyter.widget-view+json"]')
    if lesson.name[:2] in WITH_WIDGETS:
        assert views.count() > 0, f"{lesson.name}: no widget snapshot on the page"
    drawn = page.locator('.cell_output:has(script[type="application/vnd.jupyter.widget-view+json"]) '
                         '.widget-subarea > *')
    if views.count():
        drawn.nth(views.count() - 1).wait_for()  # the renderer draws them after the page has loaded
    assert drawn.count() >= views.count()
    assert page.get_by_text("Error displaying widget").count() == 0
    page.wait_for_load_state("networkidle")
    page.screenshot(path=SCREENSHOTS / f"site-{lesson.stem}.png")
    page.close()
    assert not errors, f"{lesson.name}: page errors {errors}"
    assert not console, f"{lesson.name}: console errors {console}"
    assert not browser_context.offsite, f"{lesson.name}: asked another site for {browser_context.offsite}"


def test_search_finds_a_glossary_term_in_the_lessons_offline(site_url, browser_context):
    page = browser_context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{site_url}/search.html?q=WordPiece", wait_until="load")
    results = page.locator("#search-results li a")
    results.first.wait_for()
    found = {results.nth(i).get_attribute("href").split("?")[0].split("#")[0] for i in range(results.count())}
    page.close()
    assert not errors
    assert {"glossary.html", "notebooks/01_masked_language_modeling.html"} <= found
