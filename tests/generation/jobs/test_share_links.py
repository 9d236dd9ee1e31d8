"""Share links: off until an organisation's admin turns them on; compliance officers and
admins make one for an approved image, valid for a bounded time; the link gives the
published file without a login until it expires or is revoked (or sharing is turned off);
only the token's hash is stored; making, revoking and every use are audited."""

from datetime import timedelta

import pytest
from django.test import Client, override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from generation.jobs.models import Asset, ShareLink
from governance.audit.models import AuditEvent
from tests.generation.jobs.factories import approved_asset

pytestmark = pytest.mark.django_db


@pytest.fixture
def asset(acme) -> Asset:
    return approved_asset(acme)


def turn_on(tenant):
    response = tenant.client("admin").put(
        f"/api/v1/organizations/{tenant.organization.slug}/sharing/",
        {"share_links": True},
        format="json",
    )
    assert response.status_code == 200 and response.json() == {"share_links": True}


def make_link(tenant, asset, hours=2, role="compliance"):
    return tenant.client(role).post(
        f"/api/v1/assets/{asset.pk}/share-links/", {"expires_in_hours": hours}, format="json"
    )


def fetch(url: str):
    """As someone without an account: a fresh client, no session, no token."""
    return Client().get(url)


def read(response) -> bytes:
    return b"".join(response.streaming_content)


def test_share_links_are_off_until_an_admin_turns_them_on(acme, asset):
    refused = make_link(acme, asset)
    assert refused.status_code == 403 and "off for this organisation" in refused.json()["detail"]
    slug = acme.organization.slug
    assert acme.client("compliance").get(f"/api/v1/organizations/{slug}/sharing/").json() == {
        "share_links": False
    }
    not_admin = acme.client("compliance").put(
        f"/api/v1/organizations/{slug}/sharing/", {"share_links": True}, format="json"
    )
    assert not_admin.status_code == 403
    turn_on(acme)
    assert AuditEvent.objects.filter(action="generation.sharing.configure").count() == 1
    assert make_link(acme, asset).status_code == 201


def test_a_link_serves_the_published_file_until_revoked(acme, asset):
    turn_on(acme)
    made = make_link(acme, asset)
    assert made.status_code == 201, made.json()
    link = made.json()
    assert link["asset"] == asset.pk and link["uses"] == 0 and link["revoked_at"] is None
    url = link["url"]
    token = url.rstrip("/").rsplit("/", 1)[1]
    stored = ShareLink.objects.get(pk=link["id"])
    assert token not in stored.token_sha256 and len(stored.token_sha256) == 64
    # The link is shown once: listing gives no URL.
    listed = acme.client("admin").get(f"/api/v1/assets/{asset.pk}/share-links/").json()
    assert [item["url"] for item in listed] == [None]

    response = fetch(url)
    assert response.status_code == 200
    assert read(response) == asset.published_image.open("rb").read()
    assert response["Content-Type"] == "image/png"
    stored.refresh_from_db()
    assert stored.uses == 1 and stored.last_used_at is not None
    use = AuditEvent.objects.get(action="generation.share.use")
    assert use.data["asset"] == asset.pk and use.data["address"] == "127.0.0.1"
    assert use.organization_id == acme.organization.pk
    created = AuditEvent.objects.get(action="generation.share.create")
    assert created.actor_name == "acme-compliance" and token not in str(created.data)

    revoked = acme.client("admin").post(f"/api/v1/share-links/{link['id']}/revoke/")
    assert revoked.status_code == 200 and revoked.json()["revoked_by"] == "acme-admin"
    gone = fetch(url)
    assert gone.status_code == 410 and b"revoked" in gone.content
    again = acme.client("admin").post(f"/api/v1/share-links/{link['id']}/revoke/")
    assert again.status_code == 409
    assert AuditEvent.objects.filter(action="generation.share.revoke").count() == 1


def test_a_link_ends_when_it_expires_or_sharing_is_turned_off(acme, asset):
    turn_on(acme)
    first = make_link(acme, asset).json()
    second = make_link(acme, asset).json()
    ShareLink.objects.filter(pk=first["id"]).update(expires_at=timezone.now() - timedelta(1))
    assert fetch(first["url"]).status_code == 410
    assert fetch(second["url"]).status_code == 200
    acme.client("admin").put(
        f"/api/v1/organizations/{acme.organization.slug}/sharing/",
        {"share_links": False},
        format="json",
    )
    assert fetch(second["url"]).status_code == 410
    assert fetch("/share/not-a-token/").status_code == 404


@override_settings(IMPRIMATUR_SHARE_LINK_MAX_HOURS=48)
def test_who_may_share_what_and_for_how_long(acme, globex, asset):
    turn_on(acme)
    assert make_link(acme, asset, hours=49).status_code == 400
    assert "expires_in_hours" in make_link(acme, asset, hours=49).json()["errors"]
    assert make_link(acme, asset, hours=0).status_code == 400
    assert make_link(acme, asset, hours=48).status_code == 201
    for role in ("creator", "reviewer", "auditor"):
        assert make_link(acme, asset, role=role).status_code == 403, role
    other = globex.client("admin").post(
        f"/api/v1/assets/{asset.pk}/share-links/", {"expires_in_hours": 1}, format="json"
    )
    assert other.status_code == 404
    link = ShareLink.objects.first()
    assert globex.client("admin").post(f"/api/v1/share-links/{link.pk}/revoke/").status_code == 404
    unapproved = approved_asset(acme)
    Asset.objects.filter(pk=unapproved.pk).update(status=Asset.Status.GENERATED)
    assert make_link(acme, unapproved).status_code == 409
    anonymous = APIClient().post(
        f"/api/v1/assets/{asset.pk}/share-links/", {"expires_in_hours": 1}, format="json"
    )
    assert anonymous.status_code == 401


def test_the_pages_switch_and_share_button(client, acme, asset):
    client.force_login(acme.users["admin"])
    settings_page = client.get("/settings/")
    assert b"Turn share links on" in settings_page.content
    client.post(f"/organizations/{acme.organization.slug}/sharing/", {"share_links": "on"})
    assert b"Turn share links off" in client.get("/settings/").content
    page = client.get(f"/requests/{asset.request_id}/")
    assert b"Make a share link" in page.content and b"<script>" not in page.content
    made = client.post(f"/assets/{asset.pk}/share/", {"hours": "3"}, follow=True)
    message = next(str(m) for m in made.context["messages"])
    url = message.rsplit(": ", 1)[1]
    assert fetch(url).status_code == 200
    link = ShareLink.objects.get()
    assert b"Revoke" in client.get(f"/requests/{asset.request_id}/").content
    client.post(f"/share-links/{link.pk}/revoke/")
    assert fetch(url).status_code == 410
    # A creator sees no button, and cannot post one.
    client.force_login(acme.users["creator"])
    assert b"Make a share link" not in client.get(f"/requests/{asset.request_id}/").content
    assert client.post(f"/assets/{asset.pk}/share/", {"hours": "3"}).status_code == 403


@override_settings(IMPRIMATUR_SHARE_PER_MINUTE=2)
def test_downloads_and_guesses_are_rate_limited_per_address(acme, asset):
    turn_on(acme)
    url = make_link(acme, asset).json()["url"]
    assert fetch("/share/a-guess/").status_code == 404
    assert fetch(url).status_code == 200
    limited = fetch(url)
    assert limited.status_code == 429 and limited["Retry-After"] == "60"
    assert AuditEvent.objects.filter(action="generation.share.use").count() == 1
