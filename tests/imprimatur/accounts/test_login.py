"""Throttles per address and per username, shared by the login page and the token endpoint,
checked before the password; the lockout; the client address they key on."""

import pytest
from django.contrib.auth.signals import user_login_failed
from rest_framework.test import APIClient

from governance.audit.models import AuditEvent
from imprimatur.accounts.models import AccountLock
from imprimatur.accounts.selectors import account_lock
from imprimatur.ratelimit.models import Counter
from tests.imprimatur.tenancy.factories import PASSWORD

TOKEN = "/api/v1/auth/token/"
LOGIN = "/accounts/login/"


@pytest.fixture
def limits(settings):
    """Small limits, so that tests stay short: 3 failures per username, 5 per address."""
    settings.IMPRIMATUR_LOGIN_FAILURES_PER_ACCOUNT = 3
    settings.IMPRIMATUR_LOGIN_FAILURES_PER_ADDRESS = 5
    settings.IMPRIMATUR_LOGIN_WINDOW_SECONDS = 900
    settings.IMPRIMATUR_LOGIN_LOCKOUT_SECONDS = 3600
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "1000/min"},
    }
    return settings


def token(username, password, address="198.51.100.1", **headers):
    return APIClient().post(
        TOKEN, {"username": username, "password": password}, format="json",
        REMOTE_ADDR=address, **headers,
    )  # fmt: skip


def html(client, username, password, address="198.51.100.1", **headers):
    return client.post(
        LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address, **headers
    )


def test_a_username_is_locked_after_its_failures_from_any_addresses(acme, client, limits):
    for n in range(3):
        assert token("acme-creator", "wrong", address=f"198.51.100.{n}").status_code == 400
    refused = token("acme-creator", PASSWORD, address="192.0.2.77")
    assert refused.status_code == 403
    body = refused.json()
    assert body["code"] == "account_locked" and body["status"] == 403
    assert "locked" in body["detail"] and "admin" in body["detail"]
    assert 3500 < int(refused["Retry-After"]) <= 3600
    page = html(client, "acme-creator", PASSWORD, address="192.0.2.78")
    assert page.status_code == 403
    assert "This account is locked" in page.content.decode()
    assert "_auth_user_id" not in client.session
    lock = account_lock(acme.users["creator"])
    assert lock is not None and lock.failures == 3 and lock.address == "198.51.100.2"


def test_the_login_page_and_the_token_endpoint_share_the_counts(acme, client, limits):
    assert html(client, "acme-creator", "wrong").status_code == 200  # Django's form again
    assert token("acme-creator", "wrong").status_code == 400
    assert html(client, "ACME-Creator ", "wrong").status_code == 200  # one name, normalised
    assert AccountLock.objects.filter(username="acme-creator").exists()
    assert token("acme-creator", PASSWORD).status_code == 403
    assert html(client, "acme-creator", PASSWORD).status_code == 403


def test_an_address_is_throttled_across_usernames(acme, client, limits):
    for n in range(5):
        assert token(f"someone-{n}", "wrong").status_code == 400
    refused = token("acme-reviewer", PASSWORD)
    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled"
    assert "Too many failed logins" in refused.json()["detail"]
    assert 0 < int(refused["Retry-After"]) <= 900
    page = html(client, "acme-reviewer", PASSWORD)
    assert page.status_code == 429 and "Too many failed logins" in page.content.decode()
    assert int(page["Retry-After"]) <= 900
    # Another address is not throttled; the burst was audited once, not per attempt.
    assert token("acme-reviewer", PASSWORD, address="198.51.100.99").status_code == 200
    token("acme-auditor", "wrong")
    events = AuditEvent.objects.filter(action="accounts.login.throttle")
    assert [e.data["address"] for e in events] == ["198.51.100.1"]


def test_refused_attempts_never_reach_the_password_check(acme, limits):
    checked = []

    def count(sender, credentials, **kwargs):
        checked.append(credentials["username"])

    user_login_failed.connect(count)
    try:
        for _ in range(10):
            token("acme-creator", "wrong")
    finally:
        user_login_failed.disconnect(count)
    assert checked == ["acme-creator"] * 3  # the locking failure was the last one checked


def test_a_username_that_is_nobodys_is_treated_alike_but_not_audited(acme, limits):
    real = [token("acme-creator", "wrong", address="198.51.100.1") for _ in range(5)]
    ghost = [token("nobody-at-all", "wrong", address="198.51.100.2") for _ in range(5)]
    assert [r.status_code for r in real] == [r.status_code for r in ghost] == [400] * 3 + [403] * 2
    assert real[-1].json()["detail"] == ghost[-1].json()["detail"]
    locks = AuditEvent.objects.filter(action="accounts.login.lock")
    assert [(e.data["user"], e.organization_id) for e in locks] == [
        ("acme-creator", acme.organization.pk)
    ]


def test_a_successful_login_takes_its_counts_back(acme, client, limits):
    for _ in range(2):
        token("acme-creator", "wrong")
    for _ in range(4):  # successes do not use up the failures allowed
        assert token("acme-creator", PASSWORD).status_code == 200
    response = html(client, "acme-creator", PASSWORD)
    assert response.status_code == 302 and client.session["_auth_user_id"]
    assert account_lock(acme.users["creator"]) is None
    assert token("acme-creator", "wrong").status_code == 400  # the third failure locks
    assert account_lock(acme.users["creator"]) is not None


def test_the_lock_is_kept_in_the_database_not_only_in_the_counters(acme, limits):
    for _ in range(3):
        token("acme-creator", "wrong")
    Counter.objects.all().delete()
    from django.core.cache import cache

    cache.clear()  # as if the cache had been flushed or the window had ended
    assert token("acme-creator", PASSWORD).status_code == 403


def test_a_timed_lock_ends_by_itself(acme, limits):
    for _ in range(3):
        token("acme-creator", "wrong")
    from datetime import timedelta

    from django.core.cache import cache
    from django.utils import timezone

    AccountLock.objects.update(locked_until=timezone.now() - timedelta(seconds=1))
    Counter.objects.all().delete()
    cache.clear()  # the window ended too
    assert token("acme-creator", PASSWORD).status_code == 200


def test_a_lock_without_a_period_waits_for_an_admin(acme, limits):
    limits.IMPRIMATUR_LOGIN_LOCKOUT_SECONDS = 0
    for _ in range(3):
        token("acme-creator", "wrong")
    refused = token("acme-creator", PASSWORD)
    assert refused.status_code == 403 and "Retry-After" not in refused
    assert "otherwise" not in refused.json()["detail"]
    assert account_lock(acme.users["creator"]).locked_until is None


def test_forwarded_for_counts_only_from_a_trusted_proxy(acme, limits):
    limits.IMPRIMATUR_TRUSTED_PROXIES = ["10.0.0.0/8"]
    # Behind the proxy: each client has its own count.
    for n in range(5):
        assert (
            token(f"x{n}", "wrong", "10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.1").status_code
            == 400
        )
    assert token("y", "wrong", "10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.1").status_code == 429
    assert token("y", "wrong", "10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.2").status_code == 400
    # Straight from an untrusted peer, a rotating header changes nothing.
    answers = [
        token(f"z{n}", "wrong", "198.51.100.50", HTTP_X_FORWARDED_FOR=f"203.0.113.{n + 10}")
        for n in range(6)
    ]
    assert [a.status_code for a in answers] == [400] * 5 + [429]


def test_the_token_rate_counts_every_request_per_real_address(acme, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "3/min"},
    }
    answers = [
        token("acme-creator", PASSWORD, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code
        for n in range(4)
    ]
    assert answers == [200, 200, 200, 429]


def test_the_public_verify_rate_keys_on_the_real_address(acme, settings):
    settings.IMPRIMATUR_VERIFY_PER_MINUTE = 1
    api = acme.client("creator")
    first = api.post("/api/v1/provenance/verify/", {}, HTTP_X_FORWARDED_FOR="203.0.113.1")
    assert first.status_code == 400  # no image; counted
    second = api.post("/api/v1/provenance/verify/", {}, HTTP_X_FORWARDED_FOR="203.0.113.2")
    assert second.status_code == 429


def test_a_name_longer_than_any_username_is_throttled_without_a_lock(acme, limits, client):
    long = "ß" * 100  # 100 characters typed, 200 once case-folded ("ss")
    answers = [token(long, "wrong").status_code for _ in range(5)]
    assert answers == [400, 400, 400, 429, 429]
    pages = [html(client, long, "wrong", address="198.51.100.9").status_code for _ in range(2)]
    assert pages == [429, 429]  # the same count, through the other door
    assert not AccountLock.objects.exists()
    assert token("x" * 151, "wrong").json()["errors"]["username"]
