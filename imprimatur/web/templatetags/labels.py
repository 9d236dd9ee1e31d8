"""``{{ code|label:"kind" }}``: an internal code in words (``imprimatur/web/labels.py``)."""

from django import template

from imprimatur.web import labels

register = template.Library()


@register.filter
def label(code, kind: str) -> str:
    return labels.label(code, kind)
