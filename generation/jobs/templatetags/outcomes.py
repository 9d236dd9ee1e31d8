"""``{{ req|outcome }}``: a request's status as people read it (``outcome.request_outcome``)."""

from django import template

from generation.jobs.outcome import request_outcome

register = template.Library()


@register.filter
def outcome(request):
    return request_outcome(request)
