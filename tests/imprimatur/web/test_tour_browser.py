"""The whole tour in a real browser, as every role, at 1366 px and at 390 px (a phone):
a screenshot of each page under var/screenshots/tour/<role>-<page>-<width>.png, axe-core
(from npm, `make install-dev`) on each page with no serious or critical violation, and no
page that scrolls sideways at 390 px."""

import json
from pathlib import Path

import pytest

from tests.browser import SCREENSHOTS, needs_browser
from tests.imprimatur.tenancy.factories import PASSWORD
from tests.imprimatur.web.tour import ROLES, seed_tour, tour_pages

pytestmark = [*needs_browser, pytest.mark.e2e]

AXE = Path(__file__).resolve().parents[3] / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = (1366, 390)
TOUR = SCREENSHOTS / "tour"

#: axe-core's findings in the page (every impact; the test fails on serious and critical).
#: The page's Content-Security-Policy (script-src 'self') refuses an inline <script>, so
#: axe-core comes in as an init script through the DevTools protocol, as an extension's would.
AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations
    .map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5)
                  .map(n => n.target.join(" ") + " :: " + n.failureSummary)}));
}"""


#: What runs past the right edge of a 390 px screen (the innermost such elements).
WIDE_ELEMENTS = """() => [...document.querySelectorAll("body *")]
  .filter(node => node.getBoundingClientRect().right > 391
          && ![...node.children].some(child => child.getBoundingClientRect().right > 391))
  .slice(0, 5)
  .map(node => node.tagName.toLowerCase() + (node.className ? "." + node.className : ""))"""


SEVERE = ("serious", "critical")


def axe_violations(page, summary: dict | None = None) -> list[dict]:
    """The serious and critical findings; ``summary`` counts every finding by rule."""
    found = page.evaluate(AXE_RUN)
    for violation in found:
        if summary is not None:
            rule = f"{violation['id']} ({violation['impact']})"
            summary[rule] = summary.get(rule, 0) + 1
    return [violation for violation in found if violation["impact"] in SEVERE]


def test_the_tour_as_every_role_at_desktop_and_phone_width(
    transactional_db, live_server, acme, tiny_model_path, monkeypatch, browser_page
):
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make install-dev` (npm ci installs axe-core).")
    page = browser_page
    # axe-core in every page the tour opens, before the page's own scripts.
    page.add_init_script(path=str(AXE))
    # It runs and finds what it should: a field without a label is a critical finding.
    page.goto(f"{live_server.url}/accounts/login/")
    page.evaluate("document.querySelector('main').append(document.createElement('input'))")
    assert [v["id"] for v in axe_violations(page)] == ["label"]
    ids = seed_tour(acme, monkeypatch)
    TOUR.mkdir(parents=True, exist_ok=True)
    for old in TOUR.glob("*.png"):
        old.unlink()
    findings: dict[str, list] = {}
    summary: dict[str, int] = {}  # every finding of any impact, by rule: pages it was on
    sideways: dict[str, int] = {}
    visited = 0
    for role in ROLES:
        page.context.clear_cookies()
        page.set_viewport_size({"width": 1366, "height": 900})
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Username").fill(acme.users[role].username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("heading", name="Dashboard").wait_for()
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900 if width > 800 else 844})
            for name, url, roles in tour_pages(acme, ids):
                if role not in roles:
                    continue
                response = page.goto(f"{live_server.url}{url}", wait_until="load")
                assert response.status == 200, f"{role} {name}: {response.status}"
                visited += 1
                key = f"{role}-{name}-{width}"
                page.screenshot(path=TOUR / f"{key}.png", full_page=True)
                if found := axe_violations(page, summary):
                    findings[key] = found
                if width == 390:
                    scroll = page.evaluate("document.documentElement.scrollWidth")
                    if scroll > 390:
                        sideways[key] = [scroll, page.evaluate(WIDE_ELEMENTS)]
            if width == 390:
                # The navigation folds behind the menu button; opened, every link is there.
                page.goto(f"{live_server.url}/")
                nav = page.get_by_role("navigation", name="Main")
                assert not nav.is_visible()
                page.get_by_role("button", name="Menu").click()
                assert nav.is_visible()
                assert nav.get_by_role("link", name="Settings").is_visible()
                page.screenshot(path=TOUR / f"{role}-menu-390.png", full_page=True)
                if found := axe_violations(page, summary):
                    findings[f"{role}-menu-390"] = found
                assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert visited > 100
    # What axe-core said of the tour, for whoever reads the screenshots.
    (TOUR / "axe-summary.json").write_text(
        json.dumps({"pages": visited + len(ROLES), "findings_by_rule": summary}, indent=1)
    )
    assert findings == {}, "axe-core (serious, critical):\n" + json.dumps(findings, indent=1)
    assert sideways == {}, f"Pages that scroll sideways at 390 px: {sideways}"
