"""Swagger UI (the API docs) under the Content-Security-Policy, in a real browser: it starts
and lists the operations, and the policy blocks nothing (the browser_page fixture fails the
test on any block Chromium reports)."""

import pytest

from tests.browser import needs_browser

pytestmark = [*needs_browser, pytest.mark.django_db(transaction=True)]


def _log_in(page, live_server, user) -> None:
    """A session cookie for ``user`` in the browser, without the login form."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    page.context.add_cookies(
        [{"name": "sessionid", "value": session.session_key, "url": live_server.url}]
    )


def test_the_api_docs_work_under_the_policy(live_server, browser_page, acme):
    page = browser_page
    _log_in(page, live_server, acme.users["creator"])
    response = page.goto(f"{live_server.url}/api/docs/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.get_by_text("/api/v1/requests/", exact=True).first.wait_for(timeout=30_000)
    assert page.locator(".opblock").count() > 20


def test_removing_a_reference_image_asks_first(live_server, browser_page, acme):
    """The confirmation moved from an onsubmit= attribute to brand_kit.js: dismissing it keeps
    the image, accepting it removes the image."""
    import io

    from django.core.files.base import ContentFile
    from PIL import Image

    from imprimatur.tenancy.models import BrandReferenceImage

    png = io.BytesIO()
    Image.new("RGB", (32, 32), "teal").save(png, format="PNG")
    reference = BrandReferenceImage(project=acme.project, caption="teal square")
    reference.image.save("teal.png", ContentFile(png.getvalue()), save=False)
    reference.save()
    page = browser_page
    _log_in(page, live_server, acme.users["admin"])
    page.goto(f"{live_server.url}/projects/{acme.project.slug}/brand/")
    remove = page.get_by_role("button", name="Remove teal square")
    page.once("dialog", lambda dialog: dialog.dismiss())
    remove.click()
    page.wait_for_timeout(300)  # a submitted form would have navigated by now
    assert BrandReferenceImage.objects.filter(pk=reference.pk).exists()
    page.once("dialog", lambda dialog: dialog.accept())
    remove.click()
    page.get_by_text("The reference image was removed.").wait_for()
    assert not BrandReferenceImage.objects.filter(pk=reference.pk).exists()
