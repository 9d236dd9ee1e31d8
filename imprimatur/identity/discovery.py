"""Reading an OpenID provider's discovery document
(``<issuer>/.well-known/openid-configuration``, OpenID Connect Discovery 1.0 §4)."""

from dataclasses import dataclass

import requests
from django.conf import settings
from django.core.exceptions import ValidationError

REQUIRED = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str
    jwks_uri: str
    token_auth_method: str


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def provider_discover(issuer: str) -> ProviderMetadata:
    """The provider's endpoints, from its discovery document. Raises ``ValidationError``
    with a message that says what is wrong (unreachable, not JSON, another issuer, no PKCE
    S256, a missing endpoint)."""
    url = discovery_url(issuer)
    try:
        response = requests.get(url, timeout=settings.IMPRIMATUR_SSO_TIMEOUT)
        response.raise_for_status()
        document = response.json()
    except requests.RequestException as exc:
        raise ValidationError(
            f"Could not read the provider's discovery document {url}: {exc}"
        ) from exc
    except ValueError:
        raise ValidationError(f"The discovery document {url} is not JSON.") from None
    missing = [key for key in REQUIRED if not document.get(key)]
    if missing:
        raise ValidationError(f"The discovery document {url} lacks {', '.join(missing)}.")
    # Discovery §4.3: the issuer in the document must be the one configured, exactly;
    # ID tokens are checked against it.
    if document["issuer"] != issuer:
        raise ValidationError(
            f"The provider calls itself {document['issuer']!r}, not {issuer!r}: configure the "
            "issuer exactly as the provider names it."
        )
    methods = document.get("code_challenge_methods_supported")
    if methods is not None and "S256" not in methods:
        raise ValidationError("The provider does not support PKCE with S256, which sign-in uses.")
    auth_methods = document.get("token_endpoint_auth_methods_supported") or [
        "client_secret_basic"  # the default the specification gives
    ]
    token_auth_method = (
        "client_secret_post" if "client_secret_post" in auth_methods else "client_secret_basic"
    )
    return ProviderMetadata(
        issuer=document["issuer"],
        authorization_endpoint=document["authorization_endpoint"],
        token_endpoint=document["token_endpoint"],
        userinfo_endpoint=document.get("userinfo_endpoint") or "",
        jwks_uri=document["jwks_uri"],
        token_auth_method=token_auth_method,
    )
