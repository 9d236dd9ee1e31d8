"""The audit browser in Chromium: an auditor filters the log and opens an event, and reads
a report and downloads its PDF. Screenshots: var/screenshots/audit-log.png,
audit-event.png and audit-report.png."""

import subprocess
import sys
from pathlib import Path

from governance.audit.services import audit_record
from tests.browser import SCREENSHOTS, needs_browser
from tests.imprimatur.tenancy.factories import PASSWORD

pytestmark = [*needs_browser]
REPO = Path(__file__).resolve().parents[3]


def test_an_auditor_filters_and_reads_an_event(
    transactional_db, live_server, acme, browser_page, tmp_path
):
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
    page.screenshot(path=SCREENSHOTS / "audit-event.png", full_page=True)
    # The inclusion proof the browser downloads checks with the standalone verifier.
    with page.expect_download() as download:
        page.get_by_role("link", name="Download inclusion proof (JSON)").click()
    proof = tmp_path / download.value.suggested_filename
    download.value.save_as(proof)
    checked = subprocess.run(
        [sys.executable, str(REPO / "tools" / "audit_verify.py"), "--proof", str(proof)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert " is included in the log of " in checked.stdout
    # The event's user action: the list of its events (each record above was one action).
    page.get_by_role("link", name="every event of this user action").click()
    page.get_by_role("heading", name="Audit log").wait_for()
    assert rows.count() == 1 and "change 3" not in page.content()
    assert page.get_by_label("User action").input_value() == rows.first.evaluate(
        "() => new URL(location.href).searchParams.get('request')"
    )


def test_an_auditor_reads_a_report_and_downloads_it(
    transactional_db, live_server, acme, history, browser_page
):
    """Screenshot: var/screenshots/audit-report.png."""
    page = browser_page
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("acme-auditor")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Reports").click()
    page.get_by_label("Project").select_option(f"{acme.organization.slug}/{acme.project.slug}")
    page.get_by_role("button", name="Show the report").click()
    reviews = page.locator("#s-reviews").locator("..")
    reviews.get_by_text("75.0 %").first.wait_for()
    assert page.locator("svg.day-chart").count() >= 2
    assert page.locator(".hbar").count() >= 3
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "audit-report.png", full_page=True)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download as PDF").click()
    assert download.value.suggested_filename.startswith("audit-report-acme-org-acme-campaign-")
    assert Path(download.value.path()).read_bytes().startswith(b"%PDF")
