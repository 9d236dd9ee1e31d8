"""Page middleware: a choice of organisation for a project slug that several of the user's
organisations use; the branded 404 also with DEBUG on."""

from urllib.parse import urlencode

from django.conf import settings
from django.http import Http404
from django.shortcuts import render
from django.urls import Resolver404, resolve

from imprimatur.errors import AmbiguousProject


class AmbiguousProjectMiddleware:
    """Pages answer ``AmbiguousProject`` (``tenancy.selectors.project_get``) with a choice of
    the organisations, each a link to the same page with ``?organization=``; the API answers
    it as a 400 on the ``organization`` field (imprimatur/api.py)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, AmbiguousProject) or request.path.startswith("/api/"):
            return None
        choices = []
        for organization in exception.organizations:
            query = request.GET.copy()
            query["organization"] = organization.slug
            choices.append(
                {"organization": organization, "url": f"{request.path}?{urlencode(query)}"}
            )
        return render(
            request,
            "web/choose_organization.html",
            {"slug": exception.slug, "choices": choices},
            status=400,
        )


class BrandedNotFoundMiddleware:
    """With ``DEBUG`` on, Django answers an unknown URL or a view's ``Http404`` with its
    technical page, which lists every URL pattern; this answers both with the site's own 404
    (``handler404``: the API's error format under ``/api/``) all the same. With ``DEBUG`` off
    ``handler404`` does it already, so this does nothing then."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.DEBUG:
            try:
                resolve(request.path_info, getattr(request, "urlconf", None))
            except Resolver404 as exception:
                # CommonMiddleware (outside this one) still redirects /page to /page/.
                return _not_found(request, exception)
        return self.get_response(request)

    def process_exception(self, request, exception):
        if settings.DEBUG and isinstance(exception, Http404):
            return _not_found(request, exception)
        return None


def _not_found(request, exception):
    from imprimatur.web.views import not_found

    return not_found(request, exception)
