"""The README's tour in a real browser: log in as the demo creator, submit a prompt, see
the image. Drives Debian's Chromium with Playwright; saves screenshots under
var/screenshots/."""

import pytest
from django.core.management import call_command

from tests.browser import SCREENSHOTS, needs_browser

pytestmark = [*needs_browser, pytest.mark.e2e]


def test_demo_creator_submits_a_prompt_and_sees_the_image(
    live_server, celery_worker, browser_page, settings
):
    settings.IMPRIMATUR_DEMO_PASSWORD = "tour-password-1"
    call_command("seed_demo")
    # As `make run` registers it (the model path defaults to the shipped demo pipeline).
    call_command(
        "model_register", "--organization", "acme", "--name", "demo-shapes",
        "--capabilities", "text-to-image,image-to-image,inpainting", "--sizes", "64",
        "--default-guidance", "5", "--projects", "spring-campaign",
    )  # fmt: skip
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("[0-9]-*.png"):  # this tour's, not other tests' screenshots
        old.unlink()
    page = browser_page

    page.goto(f"{live_server.url}/")
    page.get_by_label("Username").fill("creator")
    page.get_by_label("Password").fill("tour-password-1")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Dashboard").wait_for()
    page.screenshot(path=SCREENSHOTS / "1-dashboard.png", full_page=True)

    page.get_by_role("link", name="Spring Campaign").click()
    page.get_by_label("Prompt", exact=True).fill("a red star on a navy background")
    page.get_by_label("Steps").fill("8")
    page.get_by_label("Images").fill("2")
    page.screenshot(path=SCREENSHOTS / "2-project-form.png", full_page=True)
    page.get_by_role("button", name="Generate").click()

    page.get_by_role("heading", name="Request #").wait_for()
    images = page.locator("img.generated")
    images.first.wait_for(timeout=180_000)
    assert images.count() == 2
    # The browser really decoded the PNGs served by the permission-checked view. The status
    # poll may swap the images in just now, so wait until each one has finished loading.
    page.wait_for_function(
        "() => [...document.querySelectorAll('img.generated')]"
        ".every(node => node.complete && node.naturalWidth > 0)",
        timeout=30_000,
    )
    widths = images.evaluate_all("nodes => nodes.map(node => node.naturalWidth)")
    assert widths == [64, 64]
    assert page.locator("[data-status]").get_attribute("data-status") == "succeeded"
    page.screenshot(path=SCREENSHOTS / "3-request-done.png", full_page=True)

    # A bad prompt shows a form error, not a server error.
    page.get_by_role("link", name="Spring Campaign").click()
    page.get_by_label("Steps").fill("500")
    page.get_by_role("button", name="Generate").click()
    assert page.locator(".field.has-error label").all_inner_texts() == ["Prompt"]
    assert page.get_by_role("alert").first.inner_text() == "This field is required."
    page.screenshot(path=SCREENSHOTS / "4-form-errors.png", full_page=True)
