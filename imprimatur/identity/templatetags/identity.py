from django import template

from imprimatur.identity.selectors import sso_any_enabled
from imprimatur.tenancy.models import Organization
from imprimatur.tenancy.permissions import Action

register = template.Library()


@register.simple_tag
def sso_offered() -> bool:
    """Whether the login page offers single sign-on (any organisation has it on); no
    organisation is named to anonymous visitors."""
    return sso_any_enabled()


@register.simple_tag
def sso_managed_organizations(user):
    """The organisations whose single sign-on ``user`` may set up (their admins')."""
    return Organization.objects.restrict(user, Action.MANAGE)
