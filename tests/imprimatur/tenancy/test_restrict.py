"""`restrict(user, action)` scopes every queryset to the user's organisations and roles."""

import pytest
from django.contrib.auth.models import AnonymousUser

from imprimatur.tenancy.models import BrandProject, Membership, Organization
from imprimatur.tenancy.permissions import (
    Action,
    user_may,
    user_may_anywhere,
    user_roles_anywhere,
)
from tests.imprimatur.tenancy.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_view_shows_only_the_users_organisations(acme, globex):
    assert list(BrandProject.objects.restrict(acme.users["auditor"], Action.VIEW)) == [acme.project]


def test_generate_needs_the_creator_role(acme):
    assert BrandProject.objects.restrict(acme.users["creator"], Action.GENERATE).count() == 1
    for role in ("reviewer", "compliance", "admin", "auditor"):
        assert not BrandProject.objects.restrict(acme.users[role], Action.GENERATE).exists()


def test_roles_accumulate(acme):
    reviewer = acme.users["reviewer"]
    Membership.objects.create(user=reviewer, organization=acme.organization, role="creator")
    assert BrandProject.objects.restrict(reviewer, Action.GENERATE).count() == 1
    assert BrandProject.objects.restrict(reviewer, Action.REVIEW).count() == 1


def test_a_role_in_one_organisation_gives_nothing_in_another(acme, globex):
    creator = acme.users["creator"]
    Membership.objects.create(user=creator, organization=globex.organization, role="auditor")
    assert list(BrandProject.objects.restrict(creator, Action.GENERATE)) == [acme.project]
    assert list(BrandProject.objects.restrict(creator, Action.AUDIT)) == [globex.project]


def test_anonymous_inactive_and_roleless_users_see_nothing(acme):
    assert not BrandProject.objects.restrict(AnonymousUser(), Action.VIEW).exists()
    inactive = acme.users["creator"]
    inactive.is_active = False
    inactive.save()
    assert not BrandProject.objects.restrict(inactive, Action.VIEW).exists()
    assert not Organization.objects.restrict(UserFactory(), Action.VIEW).exists()


def test_superusers_see_everything(acme, globex):
    admin = UserFactory(is_superuser=True)
    assert BrandProject.objects.restrict(admin, Action.MANAGE).count() == 2


def test_unknown_action_is_an_error(acme):
    with pytest.raises(ValueError, match="Unknown action"):
        BrandProject.objects.restrict(acme.users["admin"], "delete-everything")


def test_user_may_and_the_roles_the_navigation_shows(acme, globex):
    """``user_may`` answers as ``restrict`` does for one object; ``user_roles_anywhere``
    gathers a user's roles over all organisations, and none for inactive or anonymous users."""
    admin = acme.users["admin"]
    assert user_may(admin, Action.MANAGE, acme.project)
    assert not user_may(admin, Action.MANAGE, globex.project)
    assert not user_may(acme.users["creator"], Action.MANAGE, acme.project)
    assert user_may_anywhere(acme.users["auditor"], Action.AUDIT)
    assert not user_may_anywhere(acme.users["creator"], Action.AUDIT)

    Membership.objects.create(user=admin, organization=globex.organization, role="auditor")
    assert user_roles_anywhere(admin) == {"admin", "auditor"}
    assert user_roles_anywhere(AnonymousUser()) == set()
    admin.is_active = False
    assert user_roles_anywhere(admin) == set()
