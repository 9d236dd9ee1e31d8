"""Reads for tenancy, always scoped to what the user may see."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.http import Http404

from imprimatur.errors import AmbiguousProject
from imprimatur.tenancy.models import BrandProject, Membership, Organization
from imprimatur.tenancy.permissions import Action


def project_list(*, user, action: str = Action.VIEW):
    return BrandProject.objects.restrict(user, action).select_related("organization")


def project_get(
    *, user, slug: str, action: str = Action.VIEW, organization: str | None = None
) -> BrandProject:
    """The project with this slug among those the user may act on (in the organisation with
    the slug ``organization`` when given), else 404.

    A project of another organisation is indistinguishable from one that does not exist. A
    slug that several of the user's organisations use raises ``AmbiguousProject``: a slug is
    unique within an organisation only.
    """
    return project_choose(
        project_list(user=user, action=action), slug=slug, organization=organization
    )


def project_choose(projects, *, slug: str, organization: str | None = None) -> BrandProject:
    """The one project of ``projects`` (already scoped to the user) with ``slug``."""
    projects = projects.filter(slug=slug).select_related("organization")
    if organization:
        projects = projects.filter(organization__slug=organization)
    matches = list(projects.order_by("organization__slug"))
    if not matches:
        raise Http404("No such project.")
    if len(matches) > 1:
        raise AmbiguousProject(slug, [project.organization for project in matches])
    return matches[0]


def organizations_managed(*, user):
    """The organisations ``user`` administers (the members page and API offer these)."""
    return Organization.objects.restrict(user, Action.MANAGE).order_by("name")


def organization_managed_get(*, user, slug: str | None):
    """The organisation with ``slug`` among those ``user`` administers; without a slug, their
    only one. 404 for an organisation they do not administer (or that does not exist)."""
    managed = organizations_managed(user=user)
    if slug:
        organization = managed.filter(slug=slug).first()
        if organization is None:
            raise Http404("No such organisation among those you administer.")
        return organization
    organizations = list(managed[:2])
    if len(organizations) != 1:
        raise ValidationError(
            {"organization": "Name the organisation (its slug): you administer several."}
            if organizations
            else {"organization": "You administer no organisation."}
        )
    return organizations[0]


def member_list(*, organization):
    """The organisation's members (users with a role in it), each with ``member_roles`` (a
    sorted list) and their API token if any."""
    return (
        get_user_model()
        .objects.filter(memberships__organization=organization)
        .distinct()
        .select_related("auth_token")
        .prefetch_related(
            Prefetch(
                "memberships",
                queryset=Membership.objects.filter(organization=organization),
                to_attr="organization_memberships",
            )
        )
        .order_by("username")
    )


def member_get(*, organization, user_id: int):
    """One member of the organisation, else 404 (someone not in it is not found)."""
    member = member_list(organization=organization).filter(pk=user_id).first()
    if member is None:
        raise Http404("No such member.")
    return member
