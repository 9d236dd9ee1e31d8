"""Signing in through a real OpenID provider on loopback: the browser goes from the login
page's form to the provider, signs in there as a chosen subject with chosen groups, and
comes back; PKCE, state, nonce, issuer and audience are each shown to be checked."""

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import SuspiciousOperation

from governance.audit.models import AuditEvent
from imprimatur.identity.backends import OrganizationOIDCBackend
from imprimatur.identity.models import IdentityLink, SingleSignOn
from imprimatur.tenancy.models import Membership
from tests.imprimatur.identity.conftest import CLIENT_ID

pytestmark = pytest.mark.django_db
User = get_user_model()

ALICE = {
    "email": "alice@acme.example",
    "email_verified": True,
    "preferred_username": "alice",
    "groups": ["design", "marketing"],
}


def roles(user, organization) -> set[str]:
    return set(
        Membership.objects.filter(user=user, organization=organization).values_list(
            "role", flat=True
        )
    )


def session_user(client):
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


def test_first_sign_in_creates_the_user_with_the_mapped_roles(acme, acme_sso, sign_in):
    response = sign_in("alice-sub", ALICE)

    assert response.status_code == 302 and response["Location"] == "/"
    user = session_user(sign_in.client)
    assert user.username == "alice" and user.email == "alice@acme.example"
    assert not user.has_usable_password()
    assert roles(user, acme.organization) == {"creator"}
    link = IdentityLink.objects.get(user=user)
    assert (link.issuer, link.subject) == (acme_sso.issuer, "alice-sub")
    actions = list(AuditEvent.objects.order_by("sequence").values_list("action", "data"))
    assert ("identity.sso.provision", {"issuer": acme_sso.issuer, "subject": "alice-sub",
            "user": "alice"}) in actions  # fmt: skip
    grant = next(data for action, data in actions if action == "tenancy.membership.grant"
                 and data["user"] == "alice")  # fmt: skip
    assert grant == {"user": "alice", "role": "creator", "via": "sso"}
    signin = AuditEvent.objects.get(action="identity.sso.signin")
    assert signin.data["granted"] == ["creator"] and signin.actor_name == "alice"
    # The dashboard opens for the new user.
    assert sign_in.client.get("/").status_code == 200


def test_the_authorization_request_carries_a_pkce_s256_challenge_state_and_nonce(
    acme_sso, sign_in, oidc_provider
):
    sign_in("pkce-sub", {**ALICE, "email": "pkce@acme.example"})

    sent = oidc_provider.pkce.authorization_requests[-1]
    assert sent["code_challenge_method"] == "S256"
    assert sent["state"] and sent["nonce"] and sent["client_id"] == CLIENT_ID
    verifier = oidc_provider.pkce.token_requests[-1]["code_verifier"]
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    assert sent["code_challenge"] == digest.decode()
    assert session_user(sign_in.client) is not None


def test_a_second_sign_in_updates_roles_and_email(acme, acme_sso, sign_in, oidc_provider):
    sign_in("alice-sub", ALICE)
    user = session_user(sign_in.client)
    sign_in.client.logout()

    again = sign_in("alice-sub", {**ALICE, "email": "a.smith@acme.example",
                                   "groups": ["legal", "it-admins"]})  # fmt: skip

    assert again.status_code == 302 and session_user(sign_in.client) == user
    user.refresh_from_db()
    assert user.email == "a.smith@acme.example"
    assert roles(user, acme.organization) == {"compliance", "admin"}
    assert IdentityLink.objects.filter(user=user).count() == 1
    revoked = AuditEvent.objects.filter(action="tenancy.membership.revoke", data__user="alice")
    assert [event.data["role"] for event in revoked] == ["creator"]


def test_the_provider_refuses_a_wrong_pkce_verifier(acme_sso, sign_in):
    callback = sign_in.to_callback("mallory-sub", {**ALICE, "email": "m@acme.example"})
    session = sign_in.client.session
    for entry in session["oidc_states"].values():
        entry["code_verifier"] = "x" * 64  # not the verifier of the challenge sent
    session.save()

    response = sign_in.client.get(callback)

    assert response.status_code == 400
    assert "PKCE verification failed" in response.content.decode()
    assert session_user(sign_in.client) is None
    assert not IdentityLink.objects.filter(subject="mallory-sub").exists()


def test_a_state_this_browser_did_not_start_is_refused(acme_sso, sign_in, oidc_provider):
    callback = sign_in.to_callback("alice-sub", ALICE)
    stranger = sign_in.__class__(oidc_provider)  # another browser, with the victim's link

    refused = stranger.client.get(callback)
    assert refused.status_code == 400
    assert "not started in this browser" in refused.content.decode()
    assert session_user(stranger.client) is None

    # The state is used up by one sign-in: the same link a second time is refused too.
    assert sign_in.client.get(callback).status_code == 302
    sign_in.client.logout()
    assert sign_in.client.get(callback).status_code == 400


def test_an_id_token_with_another_nonce_is_refused(acme_sso, sign_in):
    callback = sign_in.to_callback("alice-sub", ALICE)
    session = sign_in.client.session
    for entry in session["oidc_states"].values():
        entry["nonce"] = "not-the-nonce-sent"
    session.save()

    response = sign_in.client.get(callback)

    assert response.status_code == 400 and "Nonce" in response.content.decode()
    assert session_user(sign_in.client) is None


def test_an_id_token_from_another_issuer_is_refused(acme, acme_sso, sign_in, oidc_provider):
    # The provider names itself after the host it is asked at: its token endpoint reached
    # as localhost issues ID tokens whose issuer is not the configured 127.0.0.1 one.
    SingleSignOn.objects.filter(pk=acme_sso.pk).update(
        token_endpoint=f"http://localhost:{oidc_provider.port}/oauth2/token"
    )

    response = sign_in("alice-sub", ALICE)

    assert response.status_code == 400
    assert "Invalid issuer" in response.content.decode()
    assert session_user(sign_in.client) is None


def _id_token_for(provider, client_id: str, subject: str) -> tuple[str, str]:
    """A real ID token from the provider for ``client_id`` (the whole code flow by hand)."""
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    nonce = "n-" + subject
    query = {
        "response_type": "code", "client_id": client_id, "scope": "openid email",
        "redirect_uri": "http://rp.example/cb", "state": "s", "nonce": nonce,
        "code_challenge": challenge.decode(), "code_challenge_method": "S256",
    }  # fmt: skip
    back = provider.authorize(str(httpx.URL(f"{provider.url}/oauth2/authorize", params=query)),
                              subject)  # fmt: skip
    code = parse_qs(urlsplit(back).query)["code"][0]
    token = httpx.post(f"{provider.url}/oauth2/token", data={
        "grant_type": "authorization_code", "code": code, "client_id": client_id,
        "client_secret": "x", "redirect_uri": "http://rp.example/cb", "code_verifier": verifier,
    })  # fmt: skip
    assert token.status_code == 200, token.text
    return token.json()["id_token"], nonce


def test_an_id_token_issued_to_another_client_is_refused(acme_sso, oidc_provider):
    backend = OrganizationOIDCBackend()
    backend.sso = acme_sso
    backend.OIDC_OP_JWKS_ENDPOINT = acme_sso.jwks_uri
    backend.OIDC_RP_SIGN_ALGO, backend.OIDC_RP_IDP_SIGN_KEY = "RS256", None
    ours, nonce = _id_token_for(oidc_provider, CLIENT_ID, "aud-sub")
    assert backend.verify_token(ours, nonce=nonce)["sub"] == "aud-sub"  # the check can pass

    theirs, nonce = _id_token_for(oidc_provider, "another-client", "aud-sub")
    with pytest.raises(SuspiciousOperation, match="Audience doesn't match"):
        backend.verify_token(theirs, nonce=nonce)
    # A token whose signature is not the provider's is refused before anything else.
    header, payload, signature = ours.split(".")
    forged = f"{header}.{payload}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"
    with pytest.raises(SuspiciousOperation, match="Signature verification failed"):
        backend.verify_token(forged, nonce=nonce)


def test_groups_that_give_no_role_get_a_clear_page_and_no_account(acme_sso, sign_in):
    response = sign_in("bob-sub", {"email": "bob@acme.example", "groups": ["marketing"]})

    assert response.status_code == 403
    page = response.content.decode()
    assert "none of your groups there (marketing) gives a role" in page
    assert session_user(sign_in.client) is None
    assert not User.objects.filter(email="bob@acme.example").exists()
    assert AuditEvent.objects.get(action="identity.sso.refuse").data["reason"] == "no_role"


def test_a_user_removed_from_every_mapped_group_loses_their_roles(acme, acme_sso, sign_in):
    sign_in("alice-sub", ALICE)
    user = session_user(sign_in.client)
    sign_in.client.logout()

    response = sign_in("alice-sub", {**ALICE, "groups": []})

    assert response.status_code == 403 and session_user(sign_in.client) is None
    assert roles(user, acme.organization) == set()


def test_an_existing_member_is_linked_by_a_verified_email(acme, acme_sso, sign_in):
    creator = acme.users["creator"]
    creator.email = "carol@acme.example"
    creator.save()

    sign_in("carol-sub", {"email": "carol@acme.example", "email_verified": True,
                          "groups": ["legal"]})  # fmt: skip

    assert session_user(sign_in.client) == creator
    assert IdentityLink.objects.get(subject="carol-sub").user == creator
    assert roles(creator, acme.organization) == {"compliance"}
    assert AuditEvent.objects.filter(action="identity.sso.link").count() == 1


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"email_verified": False}, "did not say the email is verified"),
        ({"email_verified": True, "email": "dave@globex.example"}, "not one of"),
        ({"email_verified": True, "member": False}, "not a member of"),
    ],
)
def test_an_account_is_not_taken_over_by_email(acme, globex, acme_sso, sign_in, claims, why):
    """A provider (or its user) that asserts someone else's email gets no account."""
    victim = globex.users["admin"] if claims.pop("member", True) is False else acme.users["admin"]
    email = claims.pop("email", "dave@acme.example")
    victim.email = email
    victim.save()

    response = sign_in("attacker-sub", {"email": email, "groups": ["it-admins"], **claims})

    assert response.status_code == 403 and why in response.content.decode()
    assert session_user(sign_in.client) is None
    assert not IdentityLink.objects.filter(subject="attacker-sub").exists()
    assert AuditEvent.objects.get(action="identity.sso.refuse").data["reason"] == "email_in_use"


def test_the_last_admin_keeps_admin_when_the_provider_drops_it(acme, acme_sso, sign_in):
    sign_in("root-sub", {"email": "root@acme.example", "preferred_username": "root",
                         "groups": ["it-admins"]})  # fmt: skip
    admin = session_user(sign_in.client)
    Membership.objects.filter(organization=acme.organization, role="admin").exclude(
        user=admin
    ).delete()
    sign_in.client.logout()

    response = sign_in("root-sub", {"email": "root@acme.example", "groups": ["design"]})

    assert response.status_code == 302
    assert roles(admin, acme.organization) == {"admin", "creator"}
    assert AuditEvent.objects.filter(action="identity.sso.admin_kept").count() == 1


def test_the_login_page_finds_the_provider_by_email_domain_and_names_no_organisation(
    acme, acme_sso, sign_in, client
):
    page = client.get("/accounts/login/").content.decode()
    assert "Sign in with your organisation" in page
    assert acme.organization.name not in page and acme.organization.slug not in page

    by_email = sign_in.start("someone@ACME.example", next_url="/projects/")
    assert by_email.status_code == 302
    assert by_email["Location"].startswith(acme_sso.authorization_endpoint)
    assert sign_in.client.session["oidc_login_next"] == "/projects/"

    unknown = sign_in.start("initech")
    assert unknown.status_code == 404 and "No organisation signs in" in unknown.content.decode()


def test_a_sign_in_the_user_denies_at_the_provider_says_so(acme_sso, sign_in):
    start = sign_in.start()
    back = httpx.post(start["Location"], data={"action": "deny"})  # the provider's "Deny"
    callback = urlsplit(back.headers["location"])

    response = sign_in.client.get(f"{callback.path}?{callback.query}")

    assert response.status_code == 403
    assert "did not sign you in: access_denied" in response.content.decode()
    assert session_user(sign_in.client) is None


def test_a_disabled_account_is_not_signed_in(acme_sso, sign_in):
    sign_in("alice-sub", ALICE)
    user = session_user(sign_in.client)
    sign_in.client.logout()
    User.objects.filter(pk=user.pk).update(is_active=False)

    response = sign_in("alice-sub", ALICE)

    assert response.status_code == 403 and "Your account is disabled" in response.content.decode()
    assert session_user(sign_in.client) is None
