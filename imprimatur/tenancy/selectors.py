"""Reads for tenancy, always scoped to what the user may see."""

from django.http import Http404

from imprimatur.errors import AmbiguousProject
from imprimatur.tenancy.models import BrandProject
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
