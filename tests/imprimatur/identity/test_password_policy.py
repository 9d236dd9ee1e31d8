"""Password login switched off per organisation: refused on the login page and the API
token endpoint for members, with a clear message only for someone who knows the password;
break-glass admins (and, should none be left, every admin) keep theirs."""

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from rest_framework.test import APIClient

from governance.audit.models import AuditEvent
from imprimatur.identity.services import sso_configure
from imprimatur.tenancy.models import Membership
from tests.imprimatur.tenancy.factories import PASSWORD

pytestmark = pytest.mark.django_db

SSO_ONLY = "signs in with single sign-on"


@pytest.fixture
def acme_closed(acme, acme_sso):
    """Acme turns password login off; its admin is its break-glass admin."""
    return sso_configure(
        organization=acme.organization, password_login=False, break_glass=[acme.users["admin"]]
    )


def login_page(username: str, password: str):
    client = Client()
    response = client.post("/accounts/login/", {"username": username, "password": password})
    return response, client


def token(username: str, password: str):
    return APIClient().post(
        "/api/v1/auth/token/", {"username": username, "password": password}, format="json"
    )


def test_a_member_cannot_sign_in_with_their_password(acme, acme_closed):
    response, client = login_page("acme-creator", PASSWORD)

    assert response.status_code == 200  # the form again, with the reason
    assert "acme Org signs in with single sign-on" in response.content.decode()
    assert "_auth_user_id" not in client.session
    event = AuditEvent.objects.get(action="identity.password.refuse")
    assert event.data == {"user": "acme-creator"} and event.organization == acme.organization


def test_a_wrong_password_says_nothing_about_single_sign_on(acme, acme_closed):
    response, _client = login_page("acme-creator", "not-the-password")

    page = response.content.decode()
    assert "correct username and password" in page and SSO_ONLY not in page
    assert not AuditEvent.objects.filter(action="identity.password.refuse").exists()


def test_the_token_endpoint_refuses_too(acme, acme_closed):
    refused = token("acme-reviewer", PASSWORD)
    assert refused.status_code == 400
    assert refused.json()["errors"] == {
        "non_field_errors": [
            "acme Org signs in with single sign-on: use “Sign in with your organisation's "
            "single sign-on” below."
        ]
    }
    wrong = token("acme-reviewer", "not-the-password")
    assert wrong.status_code == 400 and SSO_ONLY not in wrong.content.decode()


def test_the_break_glass_admin_still_signs_in(acme, acme_closed):
    response, client = login_page("acme-admin", PASSWORD)
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(
        acme.users["admin"].pk
    )
    assert token("acme-admin", PASSWORD).status_code == 200


def test_a_member_of_an_organisation_that_allows_passwords_still_signs_in(
    acme, globex, acme_closed
):
    Membership.objects.create(user=acme.users["creator"], organization=globex.organization,
                              role="creator")  # fmt: skip
    assert token("acme-creator", PASSWORD).status_code == 200


def test_every_admin_keeps_the_password_when_no_break_glass_admin_is_left(acme, acme_closed):
    """An organisation cannot lock itself out: its break-glass admin demoted, its other
    admins may use their password (the members still may not)."""
    other_admin = acme.users["auditor"]
    Membership.objects.create(user=other_admin, organization=acme.organization, role="admin")
    assert token("acme-auditor", PASSWORD).status_code == 400  # not break-glass: refused
    Membership.objects.filter(user=acme.users["admin"], role="admin").delete()

    assert token("acme-auditor", PASSWORD).status_code == 200
    assert token("acme-creator", PASSWORD).status_code == 400


def test_password_login_cannot_be_switched_off_without_a_break_glass_admin(acme, acme_sso):
    with pytest.raises(ValidationError, match="at least one break-glass admin"):
        sso_configure(organization=acme.organization, password_login=False)
    with pytest.raises(ValidationError, match="must be active admins"):
        sso_configure(
            organization=acme.organization,
            password_login=False,
            break_glass=[acme.users["creator"]],
        )
    acme_sso.refresh_from_db()
    assert acme_sso.password_login is True


def test_a_disabled_single_sign_on_gives_passwords_back(acme, acme_closed):
    sso_configure(organization=acme.organization, enabled=False)
    assert token("acme-creator", PASSWORD).status_code == 200


def test_a_demoted_break_glass_admin_does_not_block_other_changes(acme, acme_closed):
    Membership.objects.filter(user=acme.users["admin"], role="admin").delete()
    sso = sso_configure(organization=acme.organization, client_secret="rotated")
    assert sso.client_secret == "rotated" and sso.password_login is False
    with pytest.raises(ValidationError, match="acme-admin is not"):
        sso_configure(organization=acme.organization, break_glass=[acme.users["admin"]])
