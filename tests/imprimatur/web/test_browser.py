"""The README's tour in a real browser: log in as the demo creator, submit a prompt, see
the image. Drives Debian's Chromium with Playwright; saves screenshots under
var/screenshots/."""

import pytest
from django.core.management import call_command

from tests.browser import SCREENSHOTS, needs_browser
from tests.imprimatur.tenancy.factories import PASSWORD

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
    page.get_by_label("Images", exact=True).fill("2")
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


def test_admin_manages_members_at_desktop_and_phone_width(
    transactional_db, live_server, acme, browser_page
):
    """The members page in the tour: invite, change roles, the last-admin refusal,
    deactivation; at 1366 px and at 390 px (a phone) nothing of the page's content runs off
    the screen (the navigation bar of the page shell is not this page's)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser_page
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("acme-admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Members").click()
    page.get_by_role("heading", name="Members", exact=True).wait_for()
    assert page.locator("li.member").count() == 5

    invite = page.locator("section", has=page.get_by_role("heading", name="Invite someone"))
    page.get_by_role("link", name="Invite someone").click()
    invite.get_by_label("E-mail").fill("newcomer@acme.test")
    invite.get_by_label("Creator").check()
    invite.get_by_role("button", name="Send invitation").click()
    page.get_by_text("newcomer@acme.test was invited").wait_for()

    creator = page.locator("li.member", has=page.get_by_role("heading", name="acme-creator"))
    creator.get_by_label("Reviewer").check()
    creator.get_by_role("button", name="Save roles").click()
    page.get_by_text("The roles of acme-creator were saved.").wait_for()
    assert creator.get_by_label("Reviewer").is_checked()

    admin = page.locator("li.member", has=page.get_by_role("heading", name="acme-admin"))
    admin.get_by_label("Admin", exact=True).uncheck()
    admin.get_by_label("Creator").check()
    admin.get_by_role("button", name="Save roles").click()
    refusal = page.locator(".message.error")
    refusal.wait_for()
    assert "acme-admin is the last admin" in refusal.inner_text()
    page.screenshot(path=SCREENSHOTS / "members-1366.png", full_page=True)

    reviewer = page.locator("li.member", has=page.get_by_role("heading", name="acme-reviewer"))
    reviewer.get_by_role("link", name="Deactivate…").click()
    page.get_by_role("heading", name="Deactivate acme-reviewer?").wait_for()
    page.screenshot(path=SCREENSHOTS / "members-deactivate-1366.png", full_page=True)
    page.get_by_role("button", name="Deactivate").click()
    page.get_by_text("acme-reviewer was removed from acme Org").wait_for()
    assert page.locator("li.member").count() == 5  # 5 + newcomer - reviewer

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    page.get_by_role("heading", name="Members", exact=True).wait_for()
    page.screenshot(path=SCREENSHOTS / "members-390.png", full_page=True)
    widest = page.evaluate(
        "() => Math.max(...[...document.querySelectorAll('main *')]"
        ".map(node => node.getBoundingClientRect().right))"
    )
    assert widest <= 390, f"the members page's content reaches {widest} px at a 390 px viewport"
