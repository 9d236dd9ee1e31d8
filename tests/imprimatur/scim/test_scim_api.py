"""SCIM 2.0 over HTTP (in process): each operation, the group → role mapping, deactivation,
errors in SCIM's format, and that one organisation's client never reaches another's people."""

import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from rest_framework.authtoken.models import Token

from governance.audit.models import AuditEvent
from imprimatur.scim.models import ScimToken, ScimUser
from imprimatur.scim.services import scim_token_rotate
from imprimatur.tenancy.models import GroupRole, Membership
from tests.imprimatur.tenancy.factories import PASSWORD

pytestmark = pytest.mark.django_db
User = get_user_model()
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class Scim:
    """A SCIM client of one organisation (Django's test client, real views and database)."""

    def __init__(self, organization):
        self.token = scim_token_rotate(organization=organization)
        self.client = Client()

    def __call__(self, method: str, path: str, body=None, token=None):
        response = getattr(self.client, method.lower())(
            f"/scim/v2/{path}",
            data=json.dumps(body) if body is not None else None,
            content_type="application/scim+json",
            HTTP_AUTHORIZATION=f"Bearer {token or self.token}",
        )
        data = json.loads(response.content) if response.content else None
        return response.status_code, data

    def create_user(self, user_name: str, **attributes):
        status, data = self(
            "post", "Users", {"schemas": [USER_SCHEMA], "userName": user_name, **attributes}
        )
        assert status == 201, data
        return data

    def create_group(self, name: str, members=()):
        status, data = self(
            "post",
            "Groups",
            {
                "schemas": [GROUP_SCHEMA],
                "displayName": name,
                "members": [{"value": member} for member in members],
            },
        )
        assert status == 201, data
        return data

    def patch(self, path: str, *operations):
        return self("patch", path, {"schemas": [PATCH_SCHEMA], "Operations": list(operations)})


@pytest.fixture
def acme_scim(acme):
    return Scim(acme.organization)


@pytest.fixture
def globex_scim(globex):
    return Scim(globex.organization)


def _roles(tenant, user) -> set[str]:
    return set(
        Membership.objects.filter(organization=tenant.organization, user=user).values_list(
            "role", flat=True
        )
    )


def test_requests_without_a_valid_token_are_refused_in_scim_format(acme, acme_scim):
    client = Client()
    response = client.get("/scim/v2/Users")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    body = response.json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert body["status"] == "401"
    status, _ = acme_scim("get", "Users", token="scim_not-a-token")
    assert status == 401


def test_the_token_is_stored_only_as_a_digest_and_rotating_replaces_it(acme, acme_scim):
    stored = ScimToken.objects.get(organization=acme.organization)
    assert acme_scim.token not in (stored.digest, stored.prefix)
    assert acme_scim.token.startswith(stored.prefix)
    old = acme_scim.token
    acme_scim.token = scim_token_rotate(organization=acme.organization)
    assert acme_scim("get", "Users", token=old)[0] == 401
    assert acme_scim("get", "Users")[0] == 200
    assert AuditEvent.objects.filter(action="scim.token.rotate").count() == 2


def test_the_management_command_prints_a_working_token(acme, capsys):
    call_command("scim_token", organization=acme.organization.slug)
    token = capsys.readouterr().out.strip()
    response = Client().get("/scim/v2/ServiceProviderConfig", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    body = response.json()
    assert body["patch"]["supported"] is True
    assert body["authenticationSchemes"][0]["type"] == "oauthbearertoken"
    with pytest.raises(Exception, match="No organisation with slug 'nope'"):
        call_command("scim_token", organization="nope")


def test_discovery_documents(acme_scim):
    status, types = acme_scim("get", "ResourceTypes")
    assert status == 200
    assert {item["name"]: item["endpoint"] for item in types["Resources"]} == {
        "User": "/Users",
        "Group": "/Groups",
    }
    status, schemas = acme_scim("get", "Schemas")
    assert {item["id"] for item in schemas["Resources"]} == {USER_SCHEMA, GROUP_SCHEMA}
    user_schema = next(item for item in schemas["Resources"] if item["id"] == USER_SCHEMA)
    assert {attribute["name"] for attribute in user_schema["attributes"]} == {
        "userName",
        "name",
        "displayName",
        "emails",
        "active",
        "groups",
    }
    status, body = acme_scim("get", "NoSuchThing")
    assert (status, body["status"]) == (404, "404")
    status, body = acme_scim("post", "Users/.search", {})
    assert (status, body["status"]) == (501, "501")


def test_create_read_replace_and_delete_a_user(acme, acme_scim):
    created = acme_scim.create_user(
        "ada@acme.test",
        externalId="00u1",
        name={"givenName": "Ada", "familyName": "Lovelace"},
        emails=[{"value": "ada@acme.test", "primary": True, "type": "work"}],
        active=True,
    )
    user = User.objects.get(username="ada@acme.test")
    assert (user.first_name, user.last_name, user.email) == ("Ada", "Lovelace", "ada@acme.test")
    assert not user.has_usable_password()
    assert created["meta"]["location"].endswith(f"/scim/v2/Users/{created['id']}")
    assert created["emails"] == [{"value": "ada@acme.test", "primary": True, "type": "work"}]

    status, read = acme_scim("get", f"Users/{created['id']}")
    assert (status, read["externalId"], read["name"]["givenName"]) == (200, "00u1", "Ada")

    status, replaced = acme_scim(
        "put",
        f"Users/{created['id']}",
        {
            "schemas": [USER_SCHEMA],
            "userName": "ada.l@acme.test",
            "name": {"givenName": "Augusta", "familyName": "King"},
            "active": True,
        },
    )
    assert status == 200, replaced
    assert "emails" not in replaced
    user.refresh_from_db()
    assert (user.username, user.first_name, user.email) == ("ada.l@acme.test", "Augusta", "")

    status, _ = acme_scim("delete", f"Users/{created['id']}")
    assert status == 204
    status, body = acme_scim("get", f"Users/{created['id']}")
    assert status == 404 and body["detail"].startswith("No user")
    user.refresh_from_db()
    assert not user.is_active  # kept (audit events name it), but disabled: in no organisation
    assert list(
        AuditEvent.objects.filter(action__startswith="scim.user.").values_list("action", flat=True)
    ) == ["scim.user.create", "scim.user.update", "scim.user.delete"]


def test_list_filter_and_pagination(acme_scim):
    for number in range(5):
        acme_scim.create_user(f"person{number}@acme.test", externalId=f"ext-{number}")
    status, page = acme_scim("get", "Users?startIndex=2&count=2")
    assert status == 200
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (5, 2, 2)
    assert [item["userName"] for item in page["Resources"]] == [
        "person1@acme.test",
        "person2@acme.test",
    ]
    status, found = acme_scim("get", 'Users?filter=userName eq "PERSON3@acme.test"')
    assert [item["userName"] for item in found["Resources"]] == ["person3@acme.test"]
    status, found = acme_scim("get", 'Users?filter=externalId eq "ext-4"')
    assert [item["externalId"] for item in found["Resources"]] == ["ext-4"]
    # Evaluated on the resources rather than by the database.
    status, found = acme_scim("get", 'Users?filter=userName sw "person1" or externalId eq "ext-2"')
    assert found["totalResults"] == 2
    status, found = acme_scim("get", "Users?filter=userName eq&attributes=userName")
    assert (status, found["scimType"]) == (400, "invalidFilter")
    status, found = acme_scim("get", "Users?count=1&attributes=userName")
    assert set(found["Resources"][0]) == {"schemas", "id", "userName"}


def test_errors_name_their_scim_type(acme_scim):
    acme_scim.create_user("dup@acme.test")
    status, body = acme_scim(
        "post", "Users", {"schemas": [USER_SCHEMA], "userName": "Dup@acme.test"}
    )
    assert (status, body["scimType"]) == (409, "uniqueness")
    client = acme_scim.client
    response = client.post(
        "/scim/v2/Users",
        data="{not json",
        content_type="application/scim+json",
        HTTP_AUTHORIZATION=f"Bearer {acme_scim.token}",
    )
    assert (response.status_code, response.json()["scimType"]) == (400, "invalidSyntax")
    status, body = acme_scim("post", "Users", {"schemas": [USER_SCHEMA], "displayName": "x"})
    assert status == 400 and body["scimType"]
    status, body = acme_scim(
        "post",
        "Groups",
        {"schemas": [GROUP_SCHEMA], "displayName": "G", "members": [{"value": "nope"}]},
    )
    assert (status, body["scimType"]) == (400, "invalidValue")


def test_groups_give_roles_through_group_role_and_patch_members(acme, acme_scim):
    GroupRole.objects.create(organization=acme.organization, group="Designers", role="creator")
    GroupRole.objects.create(organization=acme.organization, group="Approvers", role="reviewer")
    ada = acme_scim.create_user("ada@acme.test")
    user = User.objects.get(username="ada@acme.test")
    assert _roles(acme, user) == set()  # provisioned, but in no group: no role, not a member

    designers = acme_scim.create_group("Designers", members=[ada["id"]])
    assert _roles(acme, user) == {"creator"}
    approvers = acme_scim.create_group("Approvers")
    status, patched = acme_scim.patch(
        f"Groups/{approvers['id']}",
        {"op": "add", "path": "members", "value": [{"value": ada["id"]}]},
    )
    assert status == 200 and [member["value"] for member in patched["members"]] == [ada["id"]]
    assert _roles(acme, user) == {"creator", "reviewer"}
    status, read = acme_scim("get", f"Users/{ada['id']}")
    assert {group["display"] for group in read["groups"]} == {"Designers", "Approvers"}

    status, _ = acme_scim.patch(
        f"Groups/{designers['id']}",
        {"op": "remove", "path": f'members[value eq "{ada["id"]}"]'},
    )
    assert status == 200
    assert _roles(acme, user) == {"reviewer"}
    status, found = acme_scim("get", 'Groups?filter=displayName eq "approvers"')
    assert [group["id"] for group in found["Resources"]] == [approvers["id"]]

    assert acme_scim("delete", f"Groups/{approvers['id']}")[0] == 204
    assert _roles(acme, user) == set()
    grants = AuditEvent.objects.filter(action="tenancy.membership.grant", data__via="scim")
    assert grants.count() == 2


def test_active_false_ends_the_membership_sessions_and_token_and_true_restores_roles(
    acme, acme_scim
):
    GroupRole.objects.create(organization=acme.organization, group="Designers", role="creator")
    ada = acme_scim.create_user("ada@acme.test")
    acme_scim.create_group("Designers", members=[ada["id"]])
    user = User.objects.get(username="ada@acme.test")
    user.set_password(PASSWORD)
    user.save()
    browser = Client()
    assert browser.login(username="ada@acme.test", password=PASSWORD)
    Token.objects.create(user=user)

    status, body = acme_scim.patch(
        f"Users/{ada['id']}", {"op": "replace", "path": "active", "value": False}
    )
    assert (status, body["active"]) == (200, False)
    user.refresh_from_db()
    assert not user.is_active and _roles(acme, user) == set()
    assert not Token.objects.filter(user=user).exists()
    assert browser.get("/").status_code == 302  # the session ended: back to the login page
    assert AuditEvent.objects.get(action="tenancy.member.deactivate").data["via"] == "scim"

    # Entra's form: no path, the value an object, the boolean as a string.
    status, body = acme_scim.patch(
        f"Users/{ada['id']}", {"op": "Replace", "value": {"active": "True"}}
    )
    assert (status, body["active"]) == (200, True)
    user.refresh_from_db()
    assert user.is_active and _roles(acme, user) == {"creator"}


def test_the_last_admin_cannot_be_deprovisioned(acme, acme_scim):
    admin = acme.users["admin"]
    linked = acme_scim.create_user(admin.username)  # an existing member is linked
    assert ScimUser.objects.get(id=linked["id"]).user == admin
    status, body = acme_scim.patch(
        f"Users/{linked['id']}", {"op": "replace", "path": "active", "value": False}
    )
    assert status == 409 and "last admin" in body["detail"]
    assert _roles(acme, admin) == {"admin"}
    assert ScimUser.objects.get(id=linked["id"]).active  # nothing changed


def test_a_person_in_another_organisation_is_neither_disabled_nor_changed(acme, globex, acme_scim):
    shared = globex.users["creator"]
    Membership.objects.create(user=shared, organization=acme.organization, role="creator")
    linked = acme_scim.create_user(
        shared.username, name={"givenName": "Renamed"}, emails=[{"value": "x@acme.test"}]
    )
    shared.refresh_from_db()
    assert (shared.first_name, shared.email) == ("", f"{shared.username}@example.test")
    assert acme_scim("delete", f"Users/{linked['id']}")[0] == 204
    shared.refresh_from_db()
    assert shared.is_active
    assert _roles(acme, shared) == set() and _roles(globex, shared) == {"creator"}


def test_an_account_of_another_organisation_cannot_be_claimed(acme, globex, acme_scim):
    status, body = acme_scim(
        "post", "Users", {"schemas": [USER_SCHEMA], "userName": globex.users["admin"].username}
    )
    assert (status, body["scimType"]) == (409, "uniqueness")
    assert not ScimUser.objects.exists()


def test_one_organisation_never_sees_or_changes_anothers_users_and_groups(
    acme, globex, acme_scim, globex_scim
):
    ada = acme_scim.create_user("ada@acme.test")
    group = acme_scim.create_group("Acme team", members=[ada["id"]])
    status, listing = globex_scim("get", "Users")
    assert (status, listing["totalResults"]) == (200, 0)
    assert globex_scim("get", 'Users?filter=userName eq "ada@acme.test"')[1]["totalResults"] == 0
    assert globex_scim("get", "Groups")[1]["totalResults"] == 0
    for path in (f"Users/{ada['id']}", f"Groups/{group['id']}"):
        assert globex_scim("get", path)[0] == 404
        assert globex_scim("delete", path)[0] == 404
        assert (
            globex_scim.patch(path, {"op": "replace", "path": "externalId", "value": "x"})[0] == 404
        )
    status, body = globex_scim(
        "put", f"Users/{ada['id']}", {"schemas": [USER_SCHEMA], "userName": "stolen"}
    )
    assert status == 404
    # Globex cannot put Acme's user in its groups either.
    status, body = globex_scim(
        "post",
        "Groups",
        {"schemas": [GROUP_SCHEMA], "displayName": "G", "members": [{"value": ada["id"]}]},
    )
    assert (status, body["scimType"]) == (400, "invalidValue")
    # …nor provision an account Acme provisioned.
    status, body = globex_scim(
        "post", "Users", {"schemas": [USER_SCHEMA], "userName": "ada@acme.test"}
    )
    assert (status, body["scimType"]) == (409, "uniqueness")
    link = ScimUser.objects.get(id=ada["id"])
    assert (link.user_name, link.external_id, link.user.is_active) == ("ada@acme.test", "", True)


def test_an_account_two_providers_hold_is_enabled_again_by_the_one_that_gives_it_roles(
    acme, globex, acme_scim, globex_scim
):
    GroupRole.objects.create(organization=globex.organization, group="Staff", role="creator")
    GroupRole.objects.create(organization=acme.organization, group="Staff", role="reviewer")
    in_acme = acme_scim.create_user("sam@example.test")
    acme_scim.create_group("Staff", members=[in_acme["id"]])
    sam = User.objects.get(username="sam@example.test")
    Membership.objects.create(user=sam, organization=globex.organization, role="auditor")
    in_globex = globex_scim.create_user("sam@example.test")  # linked: a Globex member
    globex_scim.patch(
        f"Users/{in_globex['id']}", {"op": "replace", "path": "active", "value": False}
    )
    sam.refresh_from_db()
    assert sam.is_active  # Acme still gives them a role
    acme_scim.patch(f"Users/{in_acme['id']}", {"op": "replace", "path": "active", "value": False})
    sam.refresh_from_db()
    assert not sam.is_active  # now in no organisation
    globex_scim.patch(
        f"Users/{in_globex['id']}", {"op": "replace", "path": "active", "value": True}
    )
    globex_scim.create_group("Staff", members=[in_globex["id"]])
    sam.refresh_from_db()
    assert sam.is_active and _roles(globex, sam) == {"creator"} and _roles(acme, sam) == set()


def test_a_deprovisioned_account_stays_its_organisations(acme, globex, acme_scim, globex_scim):
    ada = acme_scim.create_user("ada@acme.test")
    assert acme_scim("delete", f"Users/{ada['id']}")[0] == 204
    assert acme_scim("get", "Users")[1]["totalResults"] == 0
    # Disabled and in no organisation, but Globex's provider still cannot take the account…
    status, body = globex_scim(
        "post", "Users", {"schemas": [USER_SCHEMA], "userName": "ada@acme.test"}
    )
    assert (status, body["scimType"]) == (409, "uniqueness")
    # …while Acme's provider may provision it again.
    again = acme_scim.create_user("ada@acme.test", active=True)
    assert again["id"] != ada["id"]
    assert ScimUser.objects.get(id=again["id"]).user == User.objects.get(username="ada@acme.test")
    assert ScimUser.objects.filter(user__username="ada@acme.test").count() == 1


def test_a_repeated_change_writes_nothing(acme, acme_scim):
    ada = acme_scim.create_user("ada@acme.test", active=True)
    operation = {"op": "replace", "path": "active", "value": True}
    assert acme_scim.patch(f"Users/{ada['id']}", operation)[0] == 200
    status, body = acme_scim(
        "put",
        f"Users/{ada['id']}",
        {"schemas": [USER_SCHEMA], "userName": "ada@acme.test", "active": True},
    )
    assert (status, body["userName"]) == (200, "ada@acme.test")
    assert not AuditEvent.objects.filter(action="scim.user.update").exists()
