"""Swagger UI (the API docs) under the Content-Security-Policy, in a real browser: it starts
and lists the operations, and the policy blocks nothing (the browser_page fixture fails the
test on any block Chromium reports)."""

import pytest

from tests.browser import needs_browser

pytestmark = [*needs_browser, pytest.mark.django_db(transaction=True)]


def test_the_api_docs_work_under_the_policy(live_server, browser_page, acme):
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    user = acme.users["creator"]
    session = SessionStore()
    session[SESSION_KEY], session[BACKEND_SESSION_KEY] = (
        str(user.pk),
        ("django.contrib.auth.backends.ModelBackend"),
    )
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    page = browser_page
    page.context.add_cookies(
        [{"name": "sessionid", "value": session.session_key, "url": live_server.url}]
    )
    response = page.goto(f"{live_server.url}/api/docs/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.get_by_text("/api/v1/requests/", exact=True).first.wait_for(timeout=30_000)
    assert page.locator(".opblock").count() > 20
