"""Reviewing in a real browser: a compliance officer opens the queue from the navigation
count, reads an image's check evidence (scores, NudeNet boxes drawn over a real face) and
approves with the keyboard; the creator sees the prompt waiting for review. Screenshots go to
var/screenshots/review-*.png."""

import io

import pytest
from PIL import Image

from generation.jobs import checking, reviewing, worker
from generation.jobs.models import Asset
from governance.reviews.models import Review
from tests.browser import SCREENSHOTS, needs_browser
from tests.generation.jobs.factories import GenerationJobFactory
from tests.imprimatur.tenancy.factories import PASSWORD

pytestmark = [*needs_browser]


def log_in(page, live_server, username):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_compliance_reviews_an_image_with_its_evidence(
    transactional_db, live_server, acme, browser_page
):
    skimage_data = pytest.importorskip("skimage.data")
    acme.project.likeness_review = True
    acme.project.save()
    job = GenerationJobFactory(
        request__project=acme.project,
        request__created_by=acme.users["creator"],
        request__prompt="a portrait of an astronaut",
    )
    buffer = io.BytesIO()
    Image.fromarray(skimage_data.astronaut()).resize((256, 256)).save(buffer, format="PNG")
    asset = worker.asset_store(job=job, index=0, seed=1, png=buffer.getvalue())
    [result] = checking.images_check(job.request, [Image.open(io.BytesIO(buffer.getvalue()))])
    checking.asset_checks_record(asset=asset, result=result)
    reviewing.asset_review_open(asset, result)
    job.request.status = "succeeded"  # stored here directly, as the worker would have
    job.request.save(update_fields=["status"])
    review = Review.objects.get(kind="asset")
    assert "Likeness review" in [stage["name"] for stage in review.stages]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser_page

    # The brand stage first: a reviewer.
    log_in(page, live_server, "acme-reviewer")
    waiting = page.locator('.nav-count[aria-label="1 waiting"]')
    waiting.wait_for()
    assert waiting.inner_text() == "1"
    page.get_by_role("link", name="Reviews").click()
    page.screenshot(path=SCREENSHOTS / "review-1-queue.png", full_page=True)
    page.get_by_role("link", name="Image review: image 1 of request").click()
    page.get_by_role("heading", name="Evidence").wait_for()
    assert "Withheld" not in page.content()
    page.screenshot(path=SCREENSHOTS / "review-2-brand-task.png", full_page=True)
    page.keyboard.press("a")  # approve
    page.get_by_text("You approved").wait_for()

    # Then the likeness stage: compliance sees the face box drawn over the image.
    page.get_by_role("button", name="Log out").click()
    log_in(page, live_server, "acme-compliance")
    page.get_by_role("link", name="Reviews").click()
    page.get_by_role("link", name="Image review: image 1 of request").click()
    page.locator("svg.boxes rect.box-face").first.wait_for()
    page.screenshot(path=SCREENSHOTS / "review-3-likeness-task.png", full_page=True)
    page.keyboard.press("r")  # the first press moves to the comment
    assert page.evaluate("document.activeElement.name") == "comment"
    page.keyboard.type("Looks like a real person.")
    page.keyboard.press("Escape")
    page.keyboard.press("r")
    page.get_by_text("You rejected").wait_for()
    asset.refresh_from_db()
    assert asset.status == "rejected"

    # The creator sees the decision and the checks on the request page.
    page.get_by_role("button", name="Log out").click()
    log_in(page, live_server, "acme-creator")
    page.goto(f"{live_server.url}/requests/{asset.request_id}/")
    page.locator("[data-check-verdict]").first.wait_for()
    card = page.locator(f"#asset-{asset.pk}").inner_text()
    assert "Rejected" in card and "Looks like a real person." in card
    page.screenshot(path=SCREENSHOTS / "review-4-creator-request.png", full_page=True)


def test_a_reviewer_clears_a_queue_of_50_images_with_the_keyboard(
    transactional_db, live_server, acme, browser_page
):
    job = GenerationJobFactory(
        request__project=acme.project, request__created_by=acme.users["creator"]
    )
    for index in range(50):
        buffer = io.BytesIO()
        Image.new("RGB", (64, 64), (215, 35 + index, 35)).save(buffer, format="PNG")
        asset = worker.asset_store(job=job, index=index, seed=index, png=buffer.getvalue())
        reviewing.asset_review_open(asset, {"verdict": "pass", "reasons": [], "brand": None})
    page = browser_page
    log_in(page, live_server, "acme-reviewer")
    page.get_by_role("link", name="Reviews").click()
    assert page.locator('.nav-count[aria-label="50 waiting"]').count() == 1
    page.wait_for_load_state("load")  # the shortcuts' script is deferred
    page.keyboard.press("j")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    for done in range(50):
        page.get_by_role("heading", name="Evidence").wait_for()
        with page.expect_navigation():
            page.keyboard.press("a")
        page.get_by_text("You approved").wait_for()
        if done == 0:
            page.screenshot(path=SCREENSHOTS / "review-5-keyboard.png", full_page=True)
    page.get_by_text("Nothing waits for you").wait_for()
    assert Asset.objects.filter(status="approved").count() == 50
