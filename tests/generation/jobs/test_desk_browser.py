"""The review desk, the workflow comparison and the calibration chart in a real browser, at
1366 px and at 390 px: nothing of their content sticks out sideways and the CSP blocks
nothing. Screenshots go to var/screenshots/desk-*.png."""

from governance.reviews.models import ReviewTask
from governance.reviews.services import workflow_current, workflow_update
from tests.browser import SCREENSHOTS, needs_browser
from tests.generation.jobs.test_review_desk import checked_asset, red_and_navy_png
from tests.imprimatur.tenancy.factories import PASSWORD

pytestmark = [*needs_browser]


def log_in(page, live_server, username):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def sticking_out(page) -> list[str]:
    """The elements of the page's content (``main``; the navigation bar is the shared
    layout's) whose right edge is past the window's, outside any box that scrolls."""
    return page.evaluate(
        """() => [...document.querySelectorAll("main *")].filter((el) => {
             for (let up = el.parentElement; up; up = up.parentElement) {
               if (["auto", "scroll", "hidden"].includes(getComputedStyle(up).overflowX))
                 return false;
             }
             return el.getBoundingClientRect().right > window.innerWidth + 0.5;
           }).map((el) => el.tagName + "." + el.className).slice(0, 10)"""
    )


def test_the_desk_pages_at_two_widths(transactional_db, live_server, acme, browser_page):
    from django.core.files.base import ContentFile

    from generation.jobs.models import Asset
    from imprimatur.tenancy.models import BrandReferenceImage

    acme.project.palette = ["#D72323", "#192364", "#FFFFFF"]
    acme.project.save()
    for caption in ("Red star", "Navy field"):
        reference = BrandReferenceImage(project=acme.project, caption=caption)
        reference.image.save("ref.png", ContentFile(red_and_navy_png()), save=False)
        reference.save()
    earlier = checked_asset(acme)
    current = checked_asset(acme, rerun_of=earlier.request)
    Asset.objects.filter(pk=earlier.pk).update(status=Asset.Status.APPROVED)
    task = ReviewTask.objects.get(review__object_id=current.pk, stage_index=0)
    first = workflow_current(project=acme.project)
    stages = [dict(stage) for stage in first.stages[:-1]]
    stages[1]["approvals"] = 2
    workflow_update(project=acme.project, user=acme.users["admin"], stages=stages)
    pages = {
        "desk": f"/reviews/tasks/{task.pk}/",
        "workflow": f"/reviews/projects/{acme.project.slug}/workflow/?from=1&to=2",
        "calibration": f"/projects/{acme.project.slug}/calibration/",
    }
    page = browser_page
    log_in(page, live_server, "acme-admin")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 900})
        for name, path in pages.items():
            page.goto(f"{live_server.url}{path}")
            assert page.locator("h1").count() == 1
            page.screenshot(path=str(SCREENSHOTS / f"desk-{name}-{width}.png"), full_page=True)
            assert sticking_out(page) == [], f"{name} sticks out at {width} px"
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{live_server.url}{pages['desk']}")
    assert page.locator("[data-delta-e] tbody tr").count() == 2
    assert page.locator(".desk-references img").count() == 2
    page.goto(f"{live_server.url}{pages['calibration']}")
    assert page.locator("[data-threshold-marker]").count() >= 1
