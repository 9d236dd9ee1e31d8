"""A page for a project slug that several of the user's organisations use: which one?"""

from urllib.parse import urlencode

from django.shortcuts import render

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
