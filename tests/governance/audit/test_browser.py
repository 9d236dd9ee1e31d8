"""The audit browser in Chromium: an auditor filters the log and opens an event.
Screenshot: var/screenshots/audit-log.png."""

from governance.audit.services import audit_record
from tests.browser import SCREENSHOTS, needs_browser
from tests.imprimatur.tenancy.factories import PASSWORD

pytestmark = [*needs_browser]


def test_an_auditor_filters_and_reads_an_event(transactional_db, live_server, acme, browser_page):
    for index in range(5):
        audit_record(
            action="tenancy.project.update",
            actor=acme.users["admin"],
            organization=acme.organization,
            target=acme.project,
            data={"project": acme.project.slug, "note": f"change {index}"},
        )
    page = browser_page
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("acme-auditor")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Audit").click()
    page.get_by_label("Text in the data").fill("change 3")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator(".audit-table tbody tr")
    rows.first.wait_for()
    assert rows.count() == 1
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "audit-log.png", full_page=True)
    rows.first.get_by_role("link").click()
    page.get_by_text("change 3").first.wait_for()
    page.get_by_role("button", name="Verify the whole chain now").wait_for(state="detached")
