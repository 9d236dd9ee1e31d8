"""The galleries in a real browser: the project page's grid opens a lightbox that the arrow
keys move through and Esc closes, giving focus back; the queue's "select all" selects the
tasks shown with their previews. Screenshots go to var/screenshots/gallery-*.png."""

import io

from PIL import Image

from generation.jobs import reviewing, worker
from governance.reviews.services import workflow_update
from tests.browser import SCREENSHOTS, needs_browser
from tests.generation.jobs.factories import GenerationJobFactory
from tests.generation.jobs.test_review_browser import log_in

pytestmark = [*needs_browser]


def images(tenant, count: int):
    stored = []
    for number in range(count):
        job = GenerationJobFactory(
            request__project=tenant.project,
            request__created_by=tenant.users["creator"],
            request__model_profile=tenant.model,
            request__prompt=f"a red star number {number}",
            request__status="succeeded",
            status="succeeded",
        )
        buffer = io.BytesIO()
        Image.new("RGB", (64, 64), (40 * number, 30, 120)).save(buffer, format="PNG")
        stored.append(worker.asset_store(job=job, index=0, seed=1, png=buffer.getvalue()))
    return stored


def test_the_lightbox_and_select_all(transactional_db, live_server, acme, browser_page):
    workflow_update(
        project=acme.project,
        user=acme.users["admin"],
        stages=[{"name": "Look", "role": "reviewer", "approvals": 1, "kinds": ["asset"]}],
    )
    assets = images(acme, 3)
    for asset in assets:
        reviewing.asset_review_open(asset, {"verdict": "pass", "reasons": []})
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser_page
    log_in(page, live_server, "acme-reviewer")
    page.goto(f"{live_server.url}/projects/{acme.project.slug}/")
    grid = page.locator("#gallery [data-gallery] img")
    grid.first.wait_for()
    assert grid.count() == 3
    # Every thumbnail loaded (the permission-checked WebP), none broken.
    page.wait_for_function(
        "[...document.querySelectorAll('#gallery img')].every(i => i.complete && i.naturalWidth)"
    )
    page.screenshot(path=SCREENSHOTS / "gallery-1-project.png", full_page=True)

    newest = page.locator("#gallery a[data-lightbox-src]").first
    newest.click()
    dialog = page.locator("dialog.lightbox")
    dialog.wait_for(state="visible")
    assert page.evaluate("document.activeElement.className").endswith("lightbox-close")
    image = dialog.locator("img.lightbox-image")
    assert image.get_attribute("src") == f"/assets/{assets[2].pk}/image.png"
    assert "a red star number 2" in image.get_attribute("alt")
    assert dialog.locator(".lightbox-position").inner_text() == "Image 1 of 3"
    page.screenshot(path=SCREENSHOTS / "gallery-2-lightbox.png")
    page.keyboard.press("ArrowRight")
    assert image.get_attribute("src") == f"/assets/{assets[1].pk}/image.png"
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")  # the last stays the last
    assert dialog.locator(".lightbox-position").inner_text() == "Image 3 of 3"
    page.keyboard.press("ArrowLeft")
    assert image.get_attribute("src") == f"/assets/{assets[1].pk}/image.png"
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    # Focus goes back to the thumbnail that opened it.
    assert page.evaluate("document.activeElement.dataset.lightboxSrc") == (
        f"/assets/{assets[2].pk}/image.png"
    )

    page.goto(f"{live_server.url}/reviews/")
    every = page.get_by_label("Select every task shown with its preview")
    every.check()
    boxes = page.locator('input[name="task"]')
    assert boxes.count() == 3
    assert all(boxes.nth(index).is_checked() for index in range(3))
    page.screenshot(path=SCREENSHOTS / "gallery-3-queue.png", full_page=True)
    page.get_by_role("button", name="Approve selected").click()
    page.get_by_text("Approved 3 tasks.").wait_for()

    # The dashboard's recent images; the gallery at 390 px wide stays inside its width.
    page.goto(f"{live_server.url}/")
    page.get_by_role("heading", name="Recent images").wait_for()
    assert page.locator("[data-gallery] img").count() == 3
    page.screenshot(path=SCREENSHOTS / "gallery-4-dashboard.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/projects/{acme.project.slug}/")
    gallery = page.locator("#gallery")
    gallery.wait_for()
    assert gallery.evaluate("node => node.scrollWidth <= node.clientWidth")
    gallery.screenshot(path=SCREENSHOTS / "gallery-5-project-390.png")
