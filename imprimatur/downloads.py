"""File downloads for browsers and API clients alike.

The pages' file links (an asset's image and approved copy, its exports, audit exports,
proofs and reports) are plain Django views behind a login. The API hands some of them out
(``published_url``), so they must work for a client that sends ``Authorization: Token …``
as the API does, with the same permission checks: the view still scopes by ``request.user``.

``file_download`` wraps such a view: a request that carries an Authorization header is
authenticated by its token only (a bad token is a 401, never a fall-back to the session);
one without is authenticated by its session; one with neither is sent to the login page
when it is a browser's navigation (it accepts HTML) and answered 401 in the API's error
format otherwise, so an API client gets a status code, not a login page (and its 404s and
403s in that format too).

It imports no app of the project (DRF's token authentication only), so any app may use it.
"""

import functools

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication, get_authorization_header


def _error(status: int, code: str, detail: str) -> JsonResponse:
    """The API's error format (imprimatur/api.py), which this module may not import."""
    return JsonResponse(
        {"status": status, "code": code, "detail": detail, "errors": {}}, status=status
    )


def _unauthorized(detail: str, code: str) -> JsonResponse:
    response = _error(401, code, detail)
    response["WWW-Authenticate"] = 'Token realm="api"'
    return response


def _wants_html(request) -> bool:
    return "text/html" in request.headers.get("Accept", "")


def file_download(view):
    """Token or session authentication for a GET file view; 401 JSON for API clients."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if get_authorization_header(request):
            try:
                authenticated = TokenAuthentication().authenticate(request)
            except exceptions.AuthenticationFailed as error:
                return _unauthorized(str(error.detail), "authentication_failed")
            if authenticated is None:  # another scheme than "Token"
                return _unauthorized(
                    "Send Authorization: Token <key>, or log in.", "authentication_failed"
                )
            request.user = authenticated[0]
        elif not request.user.is_authenticated:
            if _wants_html(request):
                return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
            return _unauthorized(
                "Authentication credentials were not provided.", "not_authenticated"
            )
        if _wants_html(request):
            return view(request, *args, **kwargs)  # the site's own 404 and 403 pages
        try:
            return view(request, *args, **kwargs)
        except Http404:
            return _error(404, "not_found", "Not found.")
        except PermissionDenied as error:
            return _error(403, "permission_denied", str(error) or "Permission denied.")

    return wrapper
