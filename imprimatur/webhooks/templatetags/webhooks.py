from django import template

from imprimatur.webhooks.selectors import organizations_managed

register = template.Library()


@register.simple_tag
def webhook_managed_organizations(user):
    """The organisations whose webhooks ``user`` manages (their admins')."""
    return list(organizations_managed(user=user))
