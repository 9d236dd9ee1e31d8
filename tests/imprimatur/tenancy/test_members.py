"""Members' roles set as a whole, deactivation that ends sessions and tokens, and the guard
that keeps one admin in every organisation (imprimatur.tenancy.members)."""

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from rest_framework.authtoken.models import Token

from governance.audit.models import AuditEvent
from imprimatur.errors import LastAdmin
from imprimatur.tenancy.members import (
    member_deactivate,
    member_roles_set,
    roles_for_groups,
    user_sessions_end,
)
from imprimatur.tenancy.models import GroupRole, Membership
from tests.imprimatur.tenancy.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def _roles(tenant, user) -> set[str]:
    return set(
        Membership.objects.filter(organization=tenant.organization, user=user).values_list(
            "role", flat=True
        )
    )


def test_roles_are_set_as_a_whole_and_each_change_is_audited(acme):
    admin, creator = acme.users["admin"], acme.users["creator"]
    granted, revoked = member_roles_set(
        organization=acme.organization, user=creator, roles=["reviewer", "auditor"], actor=admin
    )
    assert (granted, revoked) == ({"reviewer", "auditor"}, {"creator"})
    assert _roles(acme, creator) == {"reviewer", "auditor"}
    actions = list(
        AuditEvent.objects.filter(action__startswith="tenancy.membership.")
        .order_by("-pk")[:3]
        .values_list("action", "data__role", "data__via", "actor_id")
    )
    assert sorted(actions) == [
        ("tenancy.membership.grant", "auditor", "members", admin.pk),
        ("tenancy.membership.grant", "reviewer", "members", admin.pk),
        ("tenancy.membership.revoke", "creator", "members", admin.pk),
    ]


def test_unknown_role_is_refused(acme):
    with pytest.raises(ValueError, match="Unknown role owner"):
        member_roles_set(
            organization=acme.organization, user=acme.users["creator"], roles=["owner"]
        )


def test_the_last_admin_keeps_the_admin_role(acme):
    admin = acme.users["admin"]
    with pytest.raises(LastAdmin, match="last admin"):
        member_roles_set(organization=acme.organization, user=admin, roles=["creator"])
    assert _roles(acme, admin) == {"admin"}
    with pytest.raises(LastAdmin):
        member_deactivate(organization=acme.organization, user=admin)
    second = UserFactory()
    member_roles_set(organization=acme.organization, user=second, roles=["admin"])
    member_roles_set(organization=acme.organization, user=admin, roles=["creator"])
    assert _roles(acme, admin) == {"creator"}


def test_an_inactive_admin_does_not_count_as_the_remaining_admin(acme):
    dormant = UserFactory(is_active=False)
    member_roles_set(organization=acme.organization, user=dormant, roles=["admin"])
    with pytest.raises(LastAdmin):
        member_roles_set(organization=acme.organization, user=acme.users["admin"], roles=[])


def test_deactivation_ends_sessions_and_tokens_and_disables_a_user_left_with_no_org(acme):
    creator = acme.users["creator"]
    browser = Client()
    assert browser.login(username=creator.username, password=PASSWORD)
    assert browser.get("/").status_code == 200
    Token.objects.create(user=creator)
    outcome = member_deactivate(
        organization=acme.organization, user=creator, actor=acme.users["admin"], via="scim"
    )
    assert outcome == {"roles": ["creator"], "sessions": 1, "account_disabled": True}
    creator.refresh_from_db()
    assert not creator.is_active
    assert not Token.objects.filter(user=creator).exists()
    assert browser.get("/").status_code == 302  # back to the login page
    event = AuditEvent.objects.get(action="tenancy.member.deactivate")
    assert event.data["via"] == "scim" and event.data["sessions_ended"] == 1


def test_a_member_of_another_organisation_stays_active(acme, globex):
    creator = acme.users["creator"]
    member_roles_set(organization=globex.organization, user=creator, roles=["auditor"])
    outcome = member_deactivate(organization=acme.organization, user=creator)
    assert outcome["account_disabled"] is False
    creator.refresh_from_db()
    assert creator.is_active
    assert _roles(globex, creator) == {"auditor"}


def test_user_sessions_end_leaves_other_users_sessions(acme):
    one, other = Client(), Client()
    assert one.login(username=acme.users["creator"].username, password=PASSWORD)
    assert other.login(username=acme.users["reviewer"].username, password=PASSWORD)
    assert user_sessions_end(acme.users["creator"]) == 1
    assert Session.objects.count() == 1
    assert other.get("/").status_code == 200


def test_roles_for_groups(acme, globex):
    GroupRole.objects.create(organization=acme.organization, group="design", role="creator")
    GroupRole.objects.create(organization=acme.organization, group="design", role="reviewer")
    GroupRole.objects.create(organization=acme.organization, group="legal", role="compliance")
    GroupRole.objects.create(organization=globex.organization, group="legal", role="admin")
    assert roles_for_groups(acme.organization, ["design", "legal", "other"]) == {
        "creator",
        "reviewer",
        "compliance",
    }
    assert roles_for_groups(acme.organization, []) == set()
    assert roles_for_groups(acme.organization, ["Design"]) == set()  # names compare exactly
