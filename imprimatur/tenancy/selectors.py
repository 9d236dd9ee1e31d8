"""Reads for tenancy, always scoped to what the user may see."""

from django.core.exceptions import ValidationError
from django.http import Http404

from imprimatur.tenancy.models import BrandProject
from imprimatur.tenancy.permissions import Action


def project_list(*, user, action: str = Action.VIEW):
    return BrandProject.objects.restrict(user, action).select_related("organization")


def project_get(*, user, slug: str, action: str = Action.VIEW) -> BrandProject:
    """The project with this slug among those the user may act on, else 404.

    A project of another organisation is indistinguishable from one that does not exist.
    """
    matches = list(project_list(user=user, action=action).filter(slug=slug)[:2])
    if not matches:
        raise Http404("No such project.")
    if len(matches) > 1:
        raise ValidationError(
            {"project": "Several of your organisations have a project with this slug."}
        )
    return matches[0]
