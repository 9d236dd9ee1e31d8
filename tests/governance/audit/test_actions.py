"""Paths outside the services leave events too: the Django admin, and signing in and out."""

import pytest

from governance.audit.models import AuditEvent
from imprimatur.tenancy.models import Membership
from tests.imprimatur.tenancy.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def test_admin_changes_are_audited(client, acme):
    staff = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(staff)
    membership = Membership.objects.get(user=acme.users["auditor"])
    response = client.post(
        f"/admin/tenancy/membership/{membership.pk}/change/",
        {"user": membership.user_id, "organization": acme.organization.pk, "role": "reviewer"},
    )
    assert response.status_code == 302, response.content[:2000]
    changed = AuditEvent.objects.get(action="admin.object.change")
    assert changed.actor_name == "root" and changed.organization_id == acme.organization.pk
    assert changed.target_type == "tenancy.membership" and "Role" in changed.data["change"]
    response = client.post(f"/admin/tenancy/membership/{membership.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    deleted = AuditEvent.objects.get(action="admin.object.delete")
    assert deleted.target_id == str(membership.pk)
    assert deleted.organization_id == acme.organization.pk


def test_signing_in_and_out_and_failing_are_audited(client, acme):
    user = acme.users["reviewer"]
    assert not client.login(username=user.username, password="wrong")
    assert not client.login(username="nobody-at-all", password="wrong")
    failed = AuditEvent.objects.get(action="auth.login.failed")
    assert failed.data == {"username": user.username} and failed.actor_name == "system"
    assert failed.organization_id == acme.organization.pk
    assert client.login(username=user.username, password=PASSWORD)
    client.post("/accounts/logout/")
    actions = list(
        AuditEvent.objects.filter(actor_name=user.username).values_list("action", flat=True)
    )
    assert actions == ["auth.login", "auth.logout"]
