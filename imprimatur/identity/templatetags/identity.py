from django import template

from imprimatur.identity.selectors import sso_any_enabled

register = template.Library()


@register.simple_tag
def sso_offered() -> bool:
    """Whether the login page offers single sign-on (any organisation has it on); no
    organisation is named to anonymous visitors."""
    return sso_any_enabled()
