"""The members page and API: organisation admins only, roles, invitations (down to choosing
a password from the e-mailed link and logging in), deactivation, token revocation, the
last-admin refusal, and the audit trail of each change."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core import mail
from django.test import Client
from rest_framework.authtoken.models import Token

from governance.audit.models import AuditEvent
from imprimatur.scim.models import ScimToken
from imprimatur.tenancy.models import Membership
from tests.imprimatur.tenancy.factories import PASSWORD

pytestmark = pytest.mark.django_db
User = get_user_model()


def _roles(tenant, user) -> set[str]:
    return set(
        Membership.objects.filter(organization=tenant.organization, user=user).values_list(
            "role", flat=True
        )
    )


@pytest.fixture
def admin_client(acme):
    client = Client()
    client.force_login(acme.users["admin"])
    return client


def _url(tenant, user, action: str) -> str:
    return f"/members/{tenant.organization.slug}/{user.pk}/{action}/"


# -- The page ------------------------------------------------------------------------------------


def test_admins_see_their_members_and_nobody_elses(acme, globex, admin_client):
    Token.objects.create(user=acme.users["creator"])
    response = admin_client.get("/members/")
    assert response.status_code == 200
    page = response.content.decode()
    for user in acme.users.values():
        assert f">{user.username}</h2>" in page
    assert "globex-" not in page
    assert page.count("Created <time") == 1  # the creator's token: its date, never its key
    assert Token.objects.get(user=acme.users["creator"]).key not in page
    assert 'href="/members/"' in page  # in the navigation


def test_non_admins_are_refused_and_other_organisations_are_not_found(acme, globex, admin_client):
    creator = Client()
    creator.force_login(acme.users["creator"])
    assert creator.get("/members/").status_code == 403
    assert (
        creator.post(_url(acme, acme.users["reviewer"], "roles"), {"roles": ["admin"]}).status_code
        == 403
    )
    assert _roles(acme, acme.users["reviewer"]) == {"reviewer"}
    assert 'href="/members/"' not in creator.get("/").content.decode()

    assert admin_client.get("/members/?organization=globex-org").status_code == 404
    for action in ("roles", "deactivate", "token/revoke"):
        response = admin_client.post(
            _url(globex, globex.users["creator"], action), {"roles": ["admin"]}
        )
        assert response.status_code == 404
        # Nor through Acme's URL: a Globex user is not an Acme member.
        response = admin_client.post(
            _url(acme, globex.users["creator"], action), {"roles": ["admin"]}
        )
        assert response.status_code == 404
    assert _roles(globex, globex.users["creator"]) == {"creator"}
    assert globex.users["creator"].memberships.count() == 1


def test_an_admin_of_several_organisations_picks_one(acme, globex, admin_client):
    Membership.objects.create(
        user=acme.users["admin"], organization=globex.organization, role="admin"
    )
    page = admin_client.get("/members/").content.decode()
    assert '<select id="organization" name="organization">' in page
    page = admin_client.get("/members/?organization=globex-org").content.decode()
    assert ">globex-creator</h2>" in page and ">acme-creator</h2>" not in page


def test_roles_change_and_each_change_is_audited(acme, admin_client):
    creator = acme.users["creator"]
    response = admin_client.post(
        _url(acme, creator, "roles"), {"roles": ["creator", "reviewer"]}, follow=True
    )
    assert "The roles of acme-creator were saved." in response.content.decode()
    assert _roles(acme, creator) == {"creator", "reviewer"}
    event = AuditEvent.objects.get(action="tenancy.membership.grant", data__user="acme-creator")
    assert (event.actor_id, event.data["role"], event.data["via"]) == (
        acme.users["admin"].pk,
        "reviewer",
        "members",
    )
    # The audit page says what the event means.
    detail = admin_client.get(f"/audit/events/{event.sequence}/").content.decode()
    assert "A user was given a role in an organisation." in detail


def test_the_last_admin_is_refused_with_a_clear_message(acme, admin_client):
    admin = acme.users["admin"]
    response = admin_client.post(_url(acme, admin, "roles"), {"roles": ["creator"]}, follow=True)
    page = response.content.decode()
    assert "acme-admin is the last admin of acme Org; make someone else an admin first." in page
    assert 'class="message error"' in page
    assert _roles(acme, admin) == {"admin"}
    response = admin_client.post(_url(acme, admin, "deactivate"), follow=True)
    assert "is the last admin" in response.content.decode()
    assert _roles(acme, admin) == {"admin"}


def test_deactivation_asks_first_then_ends_sessions_and_token(acme, admin_client):
    reviewer = acme.users["reviewer"]
    browser = Client()
    assert browser.login(username=reviewer.username, password=PASSWORD)
    Token.objects.create(user=reviewer)
    confirm = admin_client.get(_url(acme, reviewer, "deactivate"))
    assert confirm.status_code == 200 and "Deactivate acme-reviewer?" in confirm.content.decode()
    assert _roles(acme, reviewer) == {"reviewer"}  # asking changed nothing
    response = admin_client.post(_url(acme, reviewer, "deactivate"), follow=True)
    assert "acme-reviewer was removed from acme Org; 1 session(s)" in response.content.decode()
    reviewer.refresh_from_db()
    assert _roles(acme, reviewer) == set() and not reviewer.is_active
    assert not Token.objects.filter(user=reviewer).exists()
    assert browser.get("/").status_code == 302
    assert (
        AuditEvent.objects.get(action="tenancy.member.deactivate").actor_id
        == acme.users["admin"].pk
    )


def test_an_admin_revokes_a_members_token(acme, admin_client):
    auditor = acme.users["auditor"]
    Token.objects.create(user=auditor)
    admin_client.post(_url(acme, auditor, "token/revoke"))
    assert not Token.objects.filter(user=auditor).exists()
    event = AuditEvent.objects.get(action="tenancy.member.token_revoke")
    assert (event.actor_id, event.data["user"]) == (acme.users["admin"].pk, "acme-auditor")


def test_invitation_email_leads_to_a_password_and_a_login(
    acme, admin_client, django_capture_on_commit_callbacks
):
    # Links use IMPRIMATUR_BASE_URL (its default here), not the Host header of the request.
    with django_capture_on_commit_callbacks(execute=True):  # the e-mail goes after the commit
        response = admin_client.post(
            "/members/acme-org/invite/",
            {"email": "Newcomer@Acme.test", "roles": ["creator", "auditor"]},
        )
    assert response.status_code == 302
    user = User.objects.get(email="Newcomer@Acme.test")
    assert not user.has_usable_password()
    assert _roles(acme, user) == {"creator", "auditor"}
    event = AuditEvent.objects.get(action="tenancy.member.invite")
    assert event.data["roles"] == ["auditor", "creator"] and event.data["account_created"]

    (message,) = mail.outbox
    assert message.to == ["Newcomer@Acme.test"]
    assert "acme-admin added you to acme Org on Imprimatur, as: Creator, Auditor." in message.body
    assert "single sign-on" in message.body
    link = re.search(r"http://127.0.0.1:8000(/accounts/reset/\S+/)", message.body).group(1)

    newcomer = Client()
    form = newcomer.get(link, follow=True)
    assert "Choose a password" in form.content.decode()
    set_password_url = form.redirect_chain[-1][0]
    done = newcomer.post(
        set_password_url,
        {"new_password1": "a-long-new-password-7", "new_password2": "a-long-new-password-7"},
        follow=True,
    )
    assert "Your password is set." in done.content.decode()
    assert newcomer.login(username="Newcomer@Acme.test", password="a-long-new-password-7")
    # The link works once.
    assert "has been used already" in Client().get(link, follow=True).content.decode()


def test_inviting_an_existing_account_adds_it_and_says_how_to_sign_in(
    acme, globex, admin_client, django_capture_on_commit_callbacks
):
    person = globex.users["reviewer"]
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            "/members/acme-org/invite/", {"email": person.email, "roles": ["reviewer"]}
        )
    assert _roles(acme, person) == {"reviewer"} and _roles(globex, person) == {"reviewer"}
    (message,) = mail.outbox
    assert f"Sign in as {person.username} at http://127.0.0.1:8000/accounts/login/" in message.body
    assert "/accounts/reset/" not in message.body


def test_invitation_errors_are_shown_on_the_form(acme, admin_client):
    response = admin_client.post(
        "/members/acme-org/invite/", {"email": "not-an-address", "roles": []}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Enter a valid email address." in page
    response = admin_client.post("/members/acme-org/invite/", {"email": "x@acme.test"})
    assert "Choose at least one role." in response.content.decode()
    response = admin_client.post(
        "/members/acme-org/invite/", {"email": acme.users["creator"].email, "roles": ["reviewer"]}
    )
    assert "acme-creator is a member already" in response.content.decode()
    assert not mail.outbox


def test_the_scim_token_is_shown_once(acme, admin_client):
    admin_client.post("/members/acme-org/scim-token/", {"action": "create"})
    page = admin_client.get("/members/").content.decode()
    token = re.search(r'id="new-scim-token" class="mono" readonly value="([^"]+)"', page).group(1)
    assert ScimToken.objects.get(organization=acme.organization).prefix == token[:9]
    again = admin_client.get("/members/").content.decode()
    assert token not in again and "http://testserver/scim/v2/" in again
    admin_client.post("/members/acme-org/scim-token/", {"action": "revoke"})
    assert not ScimToken.objects.exists()
    assert list(
        AuditEvent.objects.filter(action__startswith="scim.token").values_list("action", flat=True)
    ) == [
        "scim.token.rotate",
        "scim.token.revoke",
    ]


# -- The API -------------------------------------------------------------------------------------


def test_api_lists_members_with_roles_tokens_and_sign_in(acme, globex):
    Token.objects.create(user=acme.users["creator"])
    response = acme.client("admin").get("/api/v1/members/?organization=acme-org")
    assert response.status_code == 200
    members = {member["username"]: member for member in response.json()}
    assert set(members) == {f"acme-{role}" for role in acme.users}
    creator = members["acme-creator"]
    assert creator["roles"] == ["creator"] and creator["api_token"]["created"]
    assert set(creator["api_token"]) == {"created"}
    assert members["acme-reviewer"]["api_token"] is None
    assert creator["provisioned_by_scim"] is False
    # Without a slug: the admin's only organisation.
    assert len(acme.client("admin").get("/api/v1/members/").json()) == 5


def test_api_refuses_non_admins_and_hides_other_organisations(acme, globex):
    response = acme.client("creator").get("/api/v1/members/?organization=acme-org")
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    response = acme.client("admin").get("/api/v1/members/?organization=globex-org")
    assert response.status_code == 404
    target = globex.users["creator"].pk
    for method, path, body in (
        ("patch", f"/api/v1/members/{target}/", {"organization": "acme-org", "roles": ["admin"]}),
        ("post", f"/api/v1/members/{target}/deactivate/", {"organization": "acme-org"}),
        ("patch", f"/api/v1/members/{target}/", {"organization": "globex-org", "roles": ["admin"]}),
    ):
        response = getattr(acme.client("admin"), method)(path, body, format="json")
        assert response.status_code == 404, (method, path)
    assert _roles(globex, globex.users["creator"]) == {"creator"}


def test_api_sets_roles_and_refuses_the_last_admin(acme):
    client = acme.client("admin")
    creator = acme.users["creator"]
    response = client.patch(
        f"/api/v1/members/{creator.pk}/",
        {"organization": "acme-org", "roles": ["creator", "admin"]},
        format="json",
    )
    assert response.status_code == 200 and response.json()["roles"] == ["creator", "admin"]
    response = client.patch(
        f"/api/v1/members/{creator.pk}/",
        {"organization": "acme-org", "roles": ["bogus"]},
        format="json",
    )
    assert response.status_code == 400 and "roles[0]" in response.json()["errors"]
    # Two admins now: acme-admin may step down; then acme-creator is the last one.
    client.patch(
        f"/api/v1/members/{acme.users['admin'].pk}/", {"roles": ["auditor"]}, format="json"
    )
    response = acme.client("creator").patch(
        f"/api/v1/members/{creator.pk}/", {"roles": ["creator"]}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["detail"].startswith("acme-creator is the last admin")


def test_api_invites_and_deactivates(acme, globex, django_capture_on_commit_callbacks):
    client = acme.client("admin")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/members/invite/",
            {"organization": "acme-org", "email": "api@acme.test", "roles": ["reviewer"]},
            format="json",
        )
    assert response.status_code == 201, response.json()
    invited = response.json()
    assert (invited["username"], invited["roles"]) == ("api@acme.test", ["reviewer"])
    assert len(mail.outbox) == 1
    response = client.post(f"/api/v1/members/{invited['id']}/deactivate/", {}, format="json")
    assert response.json() == {"roles": ["reviewer"], "sessions": 0, "account_disabled": True}
    Membership.objects.create(
        user=acme.users["admin"], organization=globex.organization, role="admin"
    )
    response = client.get("/api/v1/members/")
    assert response.status_code == 400 and "organization" in response.json()["errors"]


def test_sessions_of_a_member_removed_by_the_api_end(acme):
    browser = Client()
    assert browser.login(username="acme-creator", password=PASSWORD)
    assert Session.objects.count() == 1
    acme.client("admin").post(
        f"/api/v1/members/{acme.users['creator'].pk}/deactivate/",
        {"organization": "acme-org"},
        format="json",
    )
    assert Session.objects.count() == 0


def test_group_roles_are_set_on_the_page_and_provisioned_members_follow(acme, globex, admin_client):
    from imprimatur.scim.models import ScimGroup, ScimUser
    from imprimatur.tenancy.models import GroupRole

    person = User.objects.create_user("pat@acme.test")
    link = ScimUser.objects.create(
        organization=acme.organization, user=person, user_name="pat@acme.test"
    )
    ScimGroup.objects.create(organization=acme.organization, display_name="Designers").members.add(
        link
    )
    response = admin_client.post(
        "/members/acme-org/group-roles/", {"group": "Designers", "role": "creator"}, follow=True
    )
    assert "roles were saved; provisioned members" in response.content.decode()
    assert _roles(acme, person) == {"creator"}
    page = admin_client.get("/members/").content.decode()
    assert "<td>Designers</td><td>Creator</td>" in page and "SCIM</span>" in page
    event = AuditEvent.objects.get(action="tenancy.group_role.add")
    assert event.data == {"group": "Designers", "role": "creator"}

    mapping = GroupRole.objects.get(group="Designers")
    admin_client.post(f"/members/acme-org/group-roles/{mapping.pk}/remove/")
    assert _roles(acme, person) == set()
    assert AuditEvent.objects.filter(action="tenancy.group_role.remove").count() == 1


def test_a_group_role_change_that_would_remove_the_last_admin_is_refused(acme, admin_client):
    from imprimatur.scim.models import ScimGroup, ScimUser
    from imprimatur.tenancy.models import GroupRole

    admin = acme.users["admin"]
    link = ScimUser.objects.create(
        organization=acme.organization, user=admin, user_name=admin.username
    )
    ScimGroup.objects.create(organization=acme.organization, display_name="Admins").members.add(
        link
    )
    mapping = GroupRole.objects.create(organization=acme.organization, group="Admins", role="admin")
    response = admin_client.post(f"/members/acme-org/group-roles/{mapping.pk}/remove/", follow=True)
    assert "Not changed: acme-admin is the last admin" in response.content.decode()
    assert GroupRole.objects.filter(pk=mapping.pk).exists() and _roles(acme, admin) == {"admin"}


def test_group_roles_of_another_organisation_are_out_of_reach(acme, globex, admin_client):
    from imprimatur.tenancy.models import GroupRole

    mapping = GroupRole.objects.create(organization=globex.organization, group="G", role="creator")
    assert (
        admin_client.post(f"/members/acme-org/group-roles/{mapping.pk}/remove/").status_code == 404
    )
    assert (
        admin_client.post(
            "/members/globex-org/group-roles/", {"group": "X", "role": "admin"}
        ).status_code
        == 404
    )
    creator = Client()
    creator.force_login(acme.users["creator"])
    assert (
        creator.post("/members/acme-org/group-roles/", {"group": "X", "role": "admin"}).status_code
        == 403
    )
    assert list(GroupRole.objects.values_list("group", flat=True)) == ["G"]


def test_a_forged_host_header_never_receives_the_set_password_link(
    acme, admin_client, settings, django_capture_on_commit_callbacks
):
    settings.ALLOWED_HOSTS = ["*"]  # a permissive deployment: the Host header is not checked
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            "/members/acme-org/invite/",
            {"email": "victim@acme.test", "roles": ["creator"]},
            HTTP_HOST="attacker.example",
        )
    (message,) = mail.outbox
    assert "attacker.example" not in message.body
    assert f"{settings.IMPRIMATUR_BASE_URL}/accounts/reset/" in message.body


# -- Locked accounts ----------------------------------------------------------------------------


def _lock_by_failed_logins(user, settings) -> None:
    """Fail the HTML login until the account locks (the limit made small for the test)."""
    settings.IMPRIMATUR_LOGIN_FAILURES_PER_ACCOUNT = 3
    guesser = Client()
    for _ in range(3):
        guesser.post("/accounts/login/", {"username": user.username, "password": "wrong"})
    response = guesser.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert "_auth_user_id" not in guesser.session, "the account should be locked"
    assert response.status_code != 302


def test_a_locked_member_shows_as_locked_and_an_admin_unlocks_them(acme, admin_client, settings):
    creator = acme.users["creator"]
    _lock_by_failed_logins(creator, settings)
    page = admin_client.get("/members/").content.decode()
    card = page[page.index(f'id="member-{creator.pk}"') :][:3000]
    assert "member-locked" in card and "Unlock sign-in" in card
    api = acme.client("admin").get("/api/v1/members/").json()
    assert {m["username"]: m["locked"] for m in api} == {
        f"acme-{role}": role == "creator" for role in acme.users
    }

    response = admin_client.post(_url(acme, creator, "unlock"), follow=True)
    assert f"{creator.username} can sign in again." in response.content.decode()
    assert "member-locked" not in admin_client.get("/members/").content.decode()
    event = AuditEvent.objects.get(action="accounts.login.unlock")
    assert event.actor_id == acme.users["admin"].pk and event.data["via"] == "members"
    assert Client().login(username=creator.username, password=PASSWORD)


def test_another_organisations_admin_cannot_unlock(acme, globex, settings):
    creator = acme.users["creator"]
    _lock_by_failed_logins(creator, settings)
    outsider = Client()
    outsider.force_login(globex.users["admin"])
    assert outsider.post(_url(acme, creator, "unlock")).status_code == 404
    assert not AuditEvent.objects.filter(action="accounts.login.unlock").exists()
