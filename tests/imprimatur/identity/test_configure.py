"""Configuring an organisation's single sign-on: the management command (discovery read
from the real provider, the group mapping, the secret from a file and never shown back)."""

import io

import pytest
from django.contrib.admin.sites import site
from django.core.management import CommandError, call_command
from django.test import Client

from governance.audit.models import AuditEvent
from imprimatur.identity.management.commands.sso_configure import Command
from imprimatur.identity.models import SingleSignOn
from imprimatur.tenancy.models import GroupRole

pytestmark = pytest.mark.django_db


def configure(*args: str) -> str:
    out = io.StringIO()
    call_command("sso_configure", "--organization", "acme-org", *args, stdout=out)
    return out.getvalue()


def test_the_command_configures_the_provider_and_the_group_mapping(acme, oidc_provider, tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("very-secret-value\n")

    out = configure(
        "--issuer", oidc_provider.url, "--client-id", "imprimatur",
        "--client-secret-file", str(secret_file), "--groups-claim", "roles",
        "--map", "design=creator", "--map", "legal=compliance", "--map", "legal=reviewer",
        "--email-domain", "Acme.example",
    )  # fmt: skip

    sso = SingleSignOn.objects.get(organization=acme.organization)
    assert sso.client_secret == "very-secret-value" and sso.groups_claim == "roles"
    assert sso.token_endpoint == f"{oidc_provider.url}/oauth2/token"
    assert sso.jwks_uri == f"{oidc_provider.url}/jwks" and sso.email_domains == ["acme.example"]
    assert set(
        GroupRole.objects.filter(organization=acme.organization).values_list("group", "role")
    ) == {("design", "creator"), ("legal", "compliance"), ("legal", "reviewer")}
    assert "/accounts/sso/callback/" in out and "very-secret-value" not in out
    event = AuditEvent.objects.get(action="identity.sso.configure")
    assert "very-secret-value" not in str(event.data)
    assert event.data["group_roles"] == {"design": ["creator"], "legal": ["compliance", "reviewer"]}

    # A second run changes only what it names; the mapping and the secret stay.
    configure("--password-login", "off", "--break-glass", "acme-admin")
    sso.refresh_from_db()
    assert sso.password_login is False and sso.client_secret == "very-secret-value"
    assert GroupRole.objects.filter(organization=acme.organization).count() == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--client-id", "x"], "needs --issuer and --client-id"),
        (["--issuer", "http://idp.example", "--client-id", "x"], "must be an https:// URL"),
        (["--issuer", "{url}/", "--client-id", "x"], "configure the issuer exactly"),
        (["--issuer", "http://127.0.0.1:9", "--client-id", "x"], "Could not read"),
        (["--issuer", "{url}", "--client-id", "x", "--map", "design"], "GROUP=ROLE"),
        (["--issuer", "{url}", "--client-id", "x", "--map", "design=boss"], "Unknown role boss"),
    ],
)
def test_the_command_says_what_is_wrong(acme, oidc_provider, args, message):
    args = [arg.replace("{url}", oidc_provider.url) for arg in args]
    with pytest.raises(CommandError, match=message):
        configure(*args)
    assert not SingleSignOn.objects.exists()


def test_the_help_names_the_redirect_uri_and_every_option():
    text = Command().create_parser("manage.py", "sso_configure").format_help()
    for option in ("--issuer", "--client-secret-file", "--map", "--password-login",
                   "--break-glass", "--groups-claim", "--email-domain"):  # fmt: skip
        assert option in text
    assert "/accounts/sso/callback/" in text


def test_the_admin_never_shows_the_client_secret(acme, acme_sso, django_user_model):
    operator = django_user_model.objects.create_superuser("operator", password="pw-operator-1")
    client = Client()
    client.force_login(operator)

    page = client.get(f"/admin/identity/singlesignon/{acme_sso.pk}/change/")

    assert page.status_code == 200
    assert "s3cret-acme" not in page.content.decode()
    assert SingleSignOn in site._registry


def test_an_admin_change_goes_through_the_service_and_keeps_the_secret(
    acme, acme_sso, django_user_model
):
    operator = django_user_model.objects.create_superuser("operator", password="pw-operator-1")
    client = Client()
    client.force_login(operator)
    form = {
        "organization": acme.organization.pk, "enabled": "on", "issuer": acme_sso.issuer,
        "client_id": "imprimatur-acme-2", "client_secret": "", "scopes": acme_sso.scopes,
        "groups_claim": "groups", "email_domains": '["acme.example"]',
        "break_glass_users": [acme.users["admin"].pk],
    }  # fmt: skip
    url = f"/admin/identity/singlesignon/{acme_sso.pk}/change/"

    refused = client.post(url, {**form, "break_glass_users": [acme.users["creator"].pk]})
    assert refused.status_code == 200 and "must be active admins" in refused.content.decode()

    saved = client.post(url, form)
    assert saved.status_code == 302, saved.content.decode()[:2000]
    acme_sso.refresh_from_db()
    assert acme_sso.client_id == "imprimatur-acme-2" and acme_sso.client_secret == "s3cret-acme"
    assert acme_sso.password_login is False
    assert list(acme_sso.break_glass_users.all()) == [acme.users["admin"]]
    event = AuditEvent.objects.filter(action="identity.sso.configure").last()
    assert event.actor_name == "operator" and "client_id" in event.data["fields"]


def test_an_organisation_admin_sets_up_single_sign_on_on_their_settings_page(acme, oidc_provider):
    client = Client()
    client.force_login(acme.users["admin"])
    assert "Single sign-on for acme Org" in client.get("/settings/").content.decode()
    url = "/accounts/sso/settings/acme-org/"
    page = client.get(url)
    assert page.status_code == 200 and "/accounts/sso/callback/" in page.content.decode()
    form = {
        "enabled": "on", "issuer": oidc_provider.url, "client_id": "imprimatur",
        "client_secret": "page-secret", "scopes": "openid email", "groups_claim": "groups",
        "email_domains": "acme.example, acme.test", "group_roles": "design=creator\nops=admin",
        "break_glass_users": [acme.users["admin"].pk],
    }  # fmt: skip

    bad = client.post(url, {**form, "group_roles": "design=boss"})
    assert bad.status_code == 400 and "Line 1: write GROUP=ROLE" in bad.content.decode()

    assert client.post(url, form).status_code == 302
    sso = SingleSignOn.objects.get(organization=acme.organization)
    assert sso.client_secret == "page-secret" and sso.password_login is False
    assert sso.email_domains == ["acme.example", "acme.test"]
    assert set(GroupRole.objects.values_list("group", "role")) == {
        ("design", "creator"), ("ops", "admin")
    }  # fmt: skip
    again = client.get(url).content.decode()
    assert "page-secret" not in again and "ops=admin" in again
    assert AuditEvent.objects.get(action="identity.sso.configure").actor_name == "acme-admin"


@pytest.mark.parametrize("role", ["creator", "compliance", "auditor"])
def test_only_the_organisations_admins_reach_its_settings_page(acme, globex, role):
    client = Client()
    client.force_login(acme.users[role])
    assert client.get("/accounts/sso/settings/acme-org/").status_code == 404
    client.force_login(globex.users["admin"])
    assert client.get("/accounts/sso/settings/acme-org/").status_code == 404
    assert client.post("/accounts/sso/settings/acme-org/", {}).status_code == 404
