from django import template

from generation.jobs.models import SharingSettings
from imprimatur.tenancy.models import Organization
from imprimatur.tenancy.permissions import Action

register = template.Library()


@register.simple_tag
def sharing_managed(user) -> list[dict]:
    """The organisations whose share-link switch ``user`` sets (their admins'), with its state."""
    organizations = list(Organization.objects.restrict(user, Action.MANAGE).order_by("name"))
    enabled = set(
        SharingSettings.objects.filter(
            organization__in=organizations, share_links=True
        ).values_list("organization_id", flat=True)
    )
    return [{"organization": o, "enabled": o.pk in enabled} for o in organizations]
