"""A new API token has a copy button (issue 18): a static script (the CSP allows no inline
one) puts the token on the clipboard and says so. Real Chromium, real clipboard."""

import pytest

from tests.browser import needs_browser
from tests.imprimatur.tenancy.factories import PASSWORD

pytestmark = [*needs_browser, pytest.mark.django_db(transaction=True)]


def test_the_new_token_is_copied_with_one_click(live_server, browser_page, acme):
    page = browser_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("acme-creator")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/settings/")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token").input_value()
    assert len(token) == 40
    page.get_by_role("button", name="Copy").click()
    page.locator("#new-token-copied", has_text="Copied.").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == token
