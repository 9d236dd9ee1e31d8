"""What browser tests share: Debian's Chromium driven by Playwright, and where screenshots go."""

import os
from pathlib import Path

import pytest
from django.db import connections

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[1] / "var" / "screenshots"

#: Mark a browser test module: skipped without Chromium, except in CI where it must run.
needs_browser = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("IMPRIMATUR_REQUIRE_BROWSER"),
        reason="Debian Chromium is not installed (apt-get install chromium chromium-driver); "
        ".ci/run installs it so browser tests always run in CI.",
    ),
]


@pytest.fixture
def browser_page():
    """A 1280x900 page in headless Chromium; the test fails if the page's
    Content-Security-Policy blocked anything."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    # Playwright runs an event loop in this thread; Django's ORM calls in the test are
    # still synchronous and safe here.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking"],
        )  # fmt: skip
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        # Whatever the Content-Security-Policy blocked (an inline script, a style, a request
        # elsewhere) fails the test: Chromium reports each block on the console.
        blocked = []
        page.on(
            "console",
            lambda message: (
                blocked.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        yield page
        browser.close()
        assert blocked == [], f"The Content-Security-Policy blocked: {blocked}"
        # While Playwright's event loop runs, Django's connection handler keys its
        # connections by context, not thread: the ORM calls the test made opened one that
        # the database teardown would not see (and could not drop the test database).
        connections.close_all()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
