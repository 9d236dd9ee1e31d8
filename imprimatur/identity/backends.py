"""The two ways to sign in (``AUTHENTICATION_BACKENDS``).

``PasswordPolicyBackend`` replaces Django's ModelBackend: the password is checked first,
then whether the user's organisations still allow passwords. So the login page and the API
token endpoint (``POST /api/v1/auth/token/``) both refuse alike, and only someone who knows
the password learns that the account signs in with single sign-on.

``OrganizationOIDCBackend`` is mozilla-django-oidc's backend made per organisation: the
library exchanges the code (with the PKCE verifier), fetches the provider's keys and checks
the ID token's signature and nonce; here the issuer, audience and expiry are checked too,
and the user comes from ``services.sso_sign_in``."""

import logging

import jwt
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import SuspiciousOperation, ValidationError
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings

from imprimatur.identity import events
from imprimatur.identity.models import SingleSignOn
from imprimatur.identity.selectors import password_sign_in_refusal
from imprimatur.identity.services import sso_sign_in

logger = logging.getLogger(__name__)

# Asymmetric algorithms only: an ID token signed with the client secret (HS256) or not at
# all ("none") is refused.
ID_TOKEN_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")
CALLBACK_URL_NAME = "sso-callback"


class PasswordSignInDisabled(ValidationError):
    """A right password for an account whose organisations sign in with single sign-on
    only. A ValidationError: Django's login form and DRF's token serializer both show it
    as the form's error, in their own formats."""

    def __init__(self, message: str):
        super().__init__(message, code="sso_required")


class PasswordPolicyBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            return None
        refusal = password_sign_in_refusal(user)
        if refusal is None:
            return user
        message, sso = refusal
        events.password_refused(user=user, organization=sso.organization)
        raise PasswordSignInDisabled(message)


class SignInRefused(Exception):
    """The provider vouched for the user, but Imprimatur does not let them in (the page
    says why: no role from their groups, an account that cannot be linked)."""


class OrganizationOIDCBackend(OIDCAuthenticationBackend):
    """Authenticates only when called with ``sso`` (the callback view does): never for a
    username and password."""

    def __init__(self, *args, **kwargs):
        # The library reads one provider from settings here; ours is chosen per sign-in.
        self.UserModel = get_user_model()
        self.sso = None

    def get_settings(self, attr, *args):
        sso = self.sso
        per_sign_in = {
            "OIDC_RP_SCOPES": sso.scopes if sso else "openid email",
            "OIDC_USE_NONCE": True,
            "OIDC_AUTHENTICATION_CALLBACK_URL": CALLBACK_URL_NAME,
            "OIDC_TOKEN_USE_BASIC_AUTH": bool(
                # bandit: the name of a token endpoint auth method (RFC 8414), not a secret.
                sso and sso.token_auth_method == "client_secret_basic"  # nosec B105
            ),
            "OIDC_TIMEOUT": settings.IMPRIMATUR_SSO_TIMEOUT,
            "OIDC_VERIFY_SSL": True,
            # bandit: switches of the library (keep no token in the session), not passwords.
            "OIDC_STORE_ACCESS_TOKEN": False,  # nosec B105
            "OIDC_STORE_ID_TOKEN": False,  # nosec B105
            "OIDC_ALLOW_UNSECURED_JWT": False,
        }
        if attr in per_sign_in:
            return per_sign_in[attr]
        return import_from_settings(attr, *args)

    def authenticate(
        self, request, sso: SingleSignOn | None = None, nonce=None, code_verifier=None
    ):
        if request is None or sso is None or not nonce or not code_verifier:
            return None
        self.sso = sso
        self.OIDC_OP_TOKEN_ENDPOINT = sso.token_endpoint
        self.OIDC_OP_USER_ENDPOINT = sso.userinfo_endpoint
        self.OIDC_OP_JWKS_ENDPOINT = sso.jwks_uri
        self.OIDC_RP_CLIENT_ID = sso.client_id
        self.OIDC_RP_CLIENT_SECRET = sso.client_secret
        self.OIDC_RP_SIGN_ALGO = "RS256"  # routes the library to the provider's JWKS
        self.OIDC_RP_IDP_SIGN_KEY = None
        return super().authenticate(request, nonce=nonce, code_verifier=code_verifier)

    def _verify_jws(self, payload, key):
        """The ID token's signature with the provider's key, and its issuer, audience and
        times (OpenID Connect Core §3.1.3.7); the library checks the nonce after."""
        try:
            algorithm = jwt.get_unverified_header(payload).get("alg")
        except jwt.InvalidTokenError as exc:
            raise SuspiciousOperation(f"The ID token is not a JWT: {exc}") from exc
        if algorithm not in ID_TOKEN_ALGORITHMS:
            raise SuspiciousOperation(f"The ID token is signed with {algorithm!r}, not accepted.")
        try:
            claims = jwt.decode(
                payload,
                key,
                algorithms=[algorithm],
                audience=self.sso.client_id,
                issuer=self.sso.issuer,
                leeway=60,
                options={"require": ["iss", "aud", "sub", "exp", "iat"]},
            )
        except jwt.InvalidTokenError as exc:
            raise SuspiciousOperation(f"The ID token was refused: {exc}") from exc
        audience = claims["aud"]
        if (
            isinstance(audience, list)
            and len(audience) > 1
            and claims.get("azp") != self.sso.client_id
        ):
            raise SuspiciousOperation("The ID token was issued to another client (azp).")
        return claims

    def retrieve_matching_jwk(self, token):
        """The provider's key for ``token``: the one its ``kid`` names; without a ``kid``
        (a provider with one key), the only signing key. The library insists on a kid."""
        response = requests.get(self.sso.jwks_uri, timeout=settings.IMPRIMATUR_SSO_TIMEOUT)
        response.raise_for_status()
        header = jwt.get_unverified_header(token)
        keys = [
            key
            for key in response.json().get("keys", [])
            if key.get("use", "sig") == "sig"
            and key.get("alg", header.get("alg")) == header.get("alg")
        ]
        if "kid" in header:
            keys = [key for key in keys if key.get("kid") == header["kid"]]
        if len(keys) != 1:
            raise SuspiciousOperation(
                "The provider's keys (JWKS) hold no single key for the ID token."
            )
        return jwt.PyJWK(keys[0])

    def get_or_create_user(self, access_token, id_token, payload):
        """The user for the verified ID token ``payload``: its claims, with the userinfo
        endpoint's added (where some providers put groups); the ID token's subject wins."""
        userinfo = {}
        if self.sso.userinfo_endpoint:
            userinfo = self.get_userinfo(access_token, id_token, payload)
            if str(userinfo.get("sub", payload["sub"])) != str(payload["sub"]):
                raise SuspiciousOperation("The userinfo endpoint answered for another subject.")
        result = sso_sign_in(sso=self.sso, claims={**userinfo, **payload})
        if result.refused:
            raise SignInRefused(result.refused)
        return result.user

    def get_user(self, user_id):
        # ModelBackend's: an inactive user's session ends (the library's would keep it).
        return ModelBackend.get_user(self, user_id)
