"""Unlocking: superusers and admins of the member's organisation (API, audited), operators
with the management command; nobody else."""

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from governance.audit.models import AuditEvent
from imprimatur.accounts.selectors import account_lock
from imprimatur.accounts.services import account_lock_create
from tests.imprimatur.tenancy.factories import PASSWORD, UserFactory


@pytest.fixture
def locked(acme):
    user = acme.users["creator"]
    account_lock_create(username=user.username, failures=10, address="198.51.100.1")
    assert account_lock(user) is not None
    return user


def unlock(client, user):
    return client.post(reverse("api:member-unlock", args=[user.pk]))


def can_log_in(user) -> int:
    return (
        APIClient()
        .post(
            "/api/v1/auth/token/", {"username": user.username, "password": PASSWORD}, format="json"
        )
        .status_code
    )


def test_an_admin_of_the_members_organisation_unlocks_it_audited(acme, locked):
    assert can_log_in(locked) == 403
    response = unlock(acme.client("admin"), locked)
    assert response.status_code == 200
    assert response.json() == {"user": locked.pk, "username": "acme-creator", "unlocked": True}
    assert account_lock(locked) is None
    assert can_log_in(locked) == 200
    event = AuditEvent.objects.get(action="accounts.login.unlock")
    assert event.actor_name == "acme-admin"
    assert event.organization == acme.organization
    assert event.target_id == str(locked.pk)
    assert event.data["via"] == "api" and event.data["failures"] == 10
    lock_event = AuditEvent.objects.get(action="accounts.login.lock")
    assert lock_event.organization == acme.organization and lock_event.actor_name == "system"


def test_an_admin_of_another_organisation_gets_404_a_member_who_is_no_admin_403(
    acme, globex, locked
):
    assert unlock(globex.client("admin"), locked).status_code == 404
    refused = unlock(acme.client("reviewer"), locked)
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    assert unlock(APIClient(), locked).status_code in (401, 403)
    assert account_lock(locked) is not None
    assert not AuditEvent.objects.filter(action="accounts.login.unlock").exists()
    missing = APIClient()
    missing.force_authenticate(acme.users["admin"])
    assert missing.post("/api/v1/members/999999/unlock/").status_code == 404


def test_a_superuser_unlocks_anyone(acme, locked):
    root = APIClient()
    root.force_authenticate(UserFactory(username="root", is_superuser=True, is_staff=True))
    assert unlock(root, locked).json()["unlocked"] is True
    assert account_lock(locked) is None


def test_unlocking_an_account_that_is_not_locked_changes_nothing(acme):
    response = unlock(acme.client("admin"), acme.users["reviewer"])
    assert response.status_code == 200 and response.json()["unlocked"] is False
    assert not AuditEvent.objects.filter(action="accounts.login.unlock").exists()


def test_unlocking_also_forgets_the_failures_counted_in_the_window(acme, settings):
    settings.IMPRIMATUR_LOGIN_FAILURES_PER_ACCOUNT = 2
    user = acme.users["creator"]
    client = APIClient()
    body = {"username": user.username, "password": "wrong"}
    for _ in range(2):
        client.post("/api/v1/auth/token/", body, format="json")
    assert unlock(acme.client("admin"), user).json()["unlocked"] is True
    assert can_log_in(user) == 200


def test_the_command_unlocks_and_says_so(acme, locked, capsys):
    call_command("account_unlock", "acme-creator")
    assert "Unlocked acme-creator" in capsys.readouterr().out
    assert account_lock(locked) is None
    event = AuditEvent.objects.get(action="accounts.login.unlock")
    assert event.data["via"] == "command" and event.actor_name == "system"
    call_command("account_unlock", "acme-creator")
    assert "was not locked" in capsys.readouterr().out
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        call_command("account_unlock", "ghost")
