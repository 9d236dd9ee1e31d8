"""The policy page in a real browser: compliance types a banned prompt into the test console
and sees it highlighted (htmx). Saves screenshots as var/screenshots/policies-*.png."""

from governance.policies import services
from tests.browser import SCREENSHOTS, needs_browser
from tests.governance.policies.factories import document, term_rule
from tests.imprimatur.tenancy.factories import PASSWORD

pytestmark = [*needs_browser]


def test_compliance_tests_a_banned_prompt_in_the_console(
    transactional_db, live_server, acme, browser_page
):
    draft = document(
        term_rule("nudity", "nude", "naked", category="sexual"),
        negative_additions=["watermark"],
        examples=[{"prompt": "a nude statue", "expected": "block"}],
    )
    policy = services.policy_create(
        organization=acme.organization, user=acme.users["admin"], name="Acme rules", draft=draft
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser_page

    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("acme-compliance")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Policies").click()
    page.get_by_role("link", name="Acme rules").click()
    page.get_by_role("heading", name="Test console").wait_for()

    page.get_by_label("Prompt", exact=True).fill("a naked <b>figure</b> on a beach")
    highlight = page.locator("#try-result mark.match-block").first
    highlight.wait_for()
    assert highlight.inner_text() == "naked"
    result = page.locator("#try-result")
    assert "Blocked: this prompt would be refused." in result.inner_text()
    assert "<b>figure</b>" in result.inner_text()  # shown as text, not markup
    assert page.url == f"{live_server.url}/policies/{policy.pk}/"  # htmx: no navigation
    page.screenshot(path=SCREENSHOTS / "policies-1-console.png", full_page=True)

    page.get_by_role("button", name="Publish the draft").click()
    page.get_by_role("heading", name="Acme rules, version 1").wait_for()
    page.screenshot(path=SCREENSHOTS / "policies-2-version.png", full_page=True)
