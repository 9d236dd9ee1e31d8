"""`restrict(user, action)` scopes every queryset to the user's organisations and roles."""

import pytest
from django.contrib.auth.models import AnonymousUser

from imprimatur.tenancy.models import BrandProject, Membership, Organization
from imprimatur.tenancy.permissions import Action
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
