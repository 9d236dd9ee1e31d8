"""One OpenID provider for the whole session, an organisation configured against it, and
the browser's whole way through a sign-in."""

from urllib.parse import urlsplit

import pytest
from django.test import Client

from imprimatur.identity.services import sso_configure
from tests.imprimatur.identity.provider import Provider

CLIENT_ID = "imprimatur-acme"
MAPPING = {"design": {"creator"}, "legal": {"compliance"}, "it-admins": {"admin"}}


@pytest.fixture(scope="session")
def oidc_provider():
    provider = Provider().start()
    yield provider
    provider.stop()


@pytest.fixture
def acme_sso(acme, oidc_provider):
    """Acme signs in through the provider; its groups design, legal and it-admins map to
    creator, compliance and admin."""
    return sso_configure(
        organization=acme.organization,
        issuer=oidc_provider.url,
        client_id=CLIENT_ID,
        client_secret="s3cret-acme",
        email_domains=["acme.example"],
        group_roles=MAPPING,
    )


class SignIn:
    """A browser (Django's test client) signing in through the provider."""

    def __init__(self, provider, client: Client | None = None):
        self.provider = provider
        self.client = client or Client()

    def start(self, organization: str = "acme-org", next_url: str = ""):
        query = {"organization": organization, **({"next": next_url} if next_url else {})}
        return self.client.get("/accounts/sso/start/", query)

    def to_callback(self, subject: str, claims: dict | None, organization: str = "acme-org"):
        """Start, sign in at the provider as ``subject``: the callback URL (path and query)."""
        if claims is not None:
            self.provider.user_set(subject, claims)
        start = self.start(organization)
        assert start.status_code == 302, start.content
        back = urlsplit(self.provider.authorize(start["Location"], subject))
        assert back.path == "/accounts/sso/callback/"
        return f"{back.path}?{back.query}"

    def __call__(self, subject: str, claims: dict | None, organization: str = "acme-org"):
        return self.client.get(self.to_callback(subject, claims, organization))


@pytest.fixture
def sign_in(oidc_provider):
    return SignIn(oidc_provider)
