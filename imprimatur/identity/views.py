"""Signing in through an organisation's identity provider: the start (from the login page)
and the provider's way back (the callback, one URL for every organisation)."""

import logging
from urllib.parse import parse_qs, urlsplit

import requests
from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import SuspiciousOperation, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render, resolve_url
from django.urls import reverse
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import OIDCAuthenticationRequestView

from imprimatur.identity.backends import CALLBACK_URL_NAME, SignInRefused
from imprimatur.identity.forms import SingleSignOnSettingsForm
from imprimatur.identity.models import SingleSignOn
from imprimatur.identity.selectors import sso_find
from imprimatur.identity.services import sso_configure
from imprimatur.tenancy.models import Organization
from imprimatur.tenancy.permissions import Action

logger = logging.getLogger(__name__)


def _failure(request, message: str, status: int = 400):
    return render(request, "identity/sso_failed.html", {"message": message}, status=status)


class SSOStartView(OIDCAuthenticationRequestView):
    """``GET ?organization=<slug or work email>&next=…``: redirect to the organisation's
    provider with a fresh state, nonce and PKCE challenge (S256), kept in the session
    under the state together with the organisation."""

    def __init__(self, *args, **kwargs):
        # The library reads one provider from settings here; ours is found per request.
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)
        self.sso = None

    def get_settings(self, attr, *args):
        per_request = {
            "OIDC_RP_SCOPES": self.sso.scopes if self.sso else "openid",
            "OIDC_USE_NONCE": True,
            "OIDC_USE_PKCE": True,
            "OIDC_PKCE_CODE_CHALLENGE_METHOD": "S256",
            "OIDC_AUTHENTICATION_CALLBACK_URL": CALLBACK_URL_NAME,
            "OIDC_REDIRECT_FIELD_NAME": "next",
        }
        if attr in per_request:
            return per_request[attr]
        return import_from_settings(attr, *args)

    def get(self, request):
        query = request.GET.get("organization", "")
        self.sso = sso_find(query)
        if self.sso is None:
            return _failure(
                request,
                "No organisation signs in with single sign-on by that name or email domain. "
                "Check what you typed, or sign in with your username and password.",
                status=404,
            )
        self.OIDC_OP_AUTH_ENDPOINT = self.sso.authorization_endpoint
        self.OIDC_RP_CLIENT_ID = self.sso.client_id
        response = super().get(request)
        state = parse_qs(urlsplit(response["Location"]).query)["state"][0]
        request.session["oidc_states"][state]["organization"] = self.sso.organization_id
        request.session.modified = True
        return response


def sso_callback(request):
    """The provider sends the browser back here with ``code`` and ``state``. The state must
    be one this browser's session started (then it is used up); the backend exchanges the
    code with the PKCE verifier and checks the ID token; the user is logged in."""
    state = request.GET.get("state", "")
    states = request.session.get("oidc_states") or {}
    started = states.pop(state, None) if state else None
    request.session["oidc_states"] = states
    if request.GET.get("error"):
        # Nothing is signed in on this answer, so it is shown even without a state (some
        # providers leave the state out of their error answers).
        error = request.GET["error"]
        reason = request.GET.get("error_description") or error
        return _failure(
            request, f"Your organisation's provider did not sign you in: {error} ({reason}).", 403
        )
    if started is None or "organization" not in started:
        return _failure(
            request,
            "This sign-in was not started in this browser, or it was already used. "
            "Start again from the login page.",
        )
    sso = (
        SingleSignOn.objects.filter(organization_id=started["organization"], enabled=True)
        .select_related("organization")
        .first()
    )
    if sso is None or not request.GET.get("code"):
        return _failure(request, "Single sign-on is not available for this organisation now.")
    try:
        user = auth.authenticate(
            request,
            sso=sso,
            nonce=started["nonce"],
            code_verifier=started["code_verifier"],
        )
    except SignInRefused as exc:
        return _failure(request, str(exc), status=403)
    except (SuspiciousOperation, requests.RequestException) as exc:
        logger.warning("Single sign-on for %s failed: %s", sso.organization, exc)
        return _failure(
            request,
            f"Signing in through {sso.organization}'s provider failed: {exc}",
        )
    if user is None or not user.is_active:
        return _failure(request, f"Signing in through {sso.organization}'s provider failed.", 403)
    next_url = request.session.pop("oidc_login_next", None)
    auth.login(request, user)
    return HttpResponseRedirect(next_url or resolve_url(settings.LOGIN_REDIRECT_URL))


@login_required
def sso_settings(request, slug: str):
    """An organisation admin's page for its single sign-on (the same service as the
    ``sso_configure`` command and Django admin). Another organisation's: 404."""
    organization = get_object_or_404(
        Organization.objects.restrict(request.user, Action.MANAGE), slug=slug
    )
    sso = SingleSignOn.objects.filter(organization=organization).first()
    status = 200
    if request.method == "POST":
        form = SingleSignOnSettingsForm(request.POST, organization=organization, sso=sso)
        if form.is_valid():
            try:
                sso_configure(
                    organization=organization,
                    actor=request.user,
                    group_roles=form.cleaned_data["group_roles"],
                    break_glass=form.cleaned_data["break_glass_users"],
                    **form.service_values(),
                )
            except ValidationError as exc:
                errors = exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages}
                for name, messages_ in errors.items():
                    form.add_error(name if name in form.fields else None, messages_)
            else:
                messages.success(request, f"Single sign-on for {organization} was saved.")
                return redirect("sso-settings", slug=organization.slug)
        status = 400
    else:
        form = SingleSignOnSettingsForm(organization=organization, sso=sso)
    context = {
        "organization": organization,
        "sso": sso,
        "form": form,
        "redirect_uri": request.build_absolute_uri(reverse("sso-callback")),
    }
    return render(request, "identity/settings.html", context, status=status)
