"""Signed exports, from the request page and from the API: one service signs the re-encoded
file with the stored image as its parent ingredient, decides who may have it, and records
one audit event per export."""

import hashlib

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from rest_framework.test import APIClient

from generation.jobs import exports, signing, worker
from generation.jobs.models import Asset
from generation.provenance import verify
from governance.audit.models import AuditEvent
from governance.reviews.models import Review
from governance.reviews.services import task_decide
from tests.generation.jobs.factories import GenerationJobFactory

pytestmark = pytest.mark.django_db

LABEL = "org.imprimatur.generation"


def generated(tenant) -> Asset:
    job = GenerationJobFactory(
        request__project=tenant.project, request__created_by=tenant.users["creator"]
    )
    worker.generation_job_run(job_id=job.pk)
    return Asset.objects.get(job=job)


def read(field) -> bytes:
    with field.open("rb") as handle:
        return handle.read()


def report_of(data: bytes) -> dict:
    return verify(data, trust_anchors_pem=signing.trust_anchors(), generation_label=LABEL).to_dict()


def export_events(asset):
    return AuditEvent.objects.filter(action="generation.asset.export", target_id=str(asset.pk))


def api_export(client, asset, body, **extra):
    return client.post(f"/api/v1/assets/{asset.pk}/export/", body, format="json", **extra)


def test_the_api_exports_a_signed_file_whose_parent_is_the_asset(acme, tiny_model_path):
    asset = generated(acme)
    source = report_of(read(asset.image))
    assert source["status"] == "trusted"
    client = acme.client("creator")
    for fmt, mime, magic in (("jpeg", "image/jpeg", b"\xff\xd8"), ("webp", "image/webp", b"RIFF")):
        response = api_export(client, asset, {"format": fmt})
        assert response.status_code == 200, response.content[:300]
        assert response["Content-Type"] == mime and response.content.startswith(magic)
        name = f"imprimatur-request{asset.request_id}-1.{fmt}"
        assert response["Content-Disposition"] == f'attachment; filename="{name}"'
        report = report_of(response.content)
        assert report["status"] == "trusted", report["failures"]
        assert report["title"] == name
        assert [action["action"] for action in report["actions"]] == [
            "c2pa.opened",
            "c2pa.transcoded",
        ]
        # The parent ingredient is the stored image, its own manifest carried along.
        [parent] = report["ingredients"]
        assert parent["relationship"] == "parentOf" and parent["format"] == "image/png"
        assert parent["active_manifest"] == source["active_manifest"]
        assert report["generation"]["asset_id"] == f"{asset.request_id}:0"
        assert report["generation"]["request_id"] == str(asset.request_id)


def test_a_client_asking_for_the_image_type_gets_the_file(acme, tiny_model_path):
    asset = generated(acme)
    response = api_export(
        acme.client("creator"), asset, {"format": "webp"}, HTTP_ACCEPT="image/webp"
    )
    assert response.status_code == 200 and response["Content-Type"] == "image/webp"
    # Errors still come as the API's JSON error.
    response = api_export(
        acme.client("creator"), asset, {"format": "gif"}, HTTP_ACCEPT="image/webp"
    )
    assert response.status_code == 400 and response["Content-Type"] == "application/json"


@pytest.mark.parametrize("body", [{"format": "gif"}, {"format": "png"}, {}])
def test_a_bad_format_is_400_naming_the_field_and_exports_nothing(acme, tiny_model_path, body):
    asset = generated(acme)
    response = api_export(acme.client("creator"), asset, body)
    assert response.status_code == 400
    payload = response.json()
    assert payload["code"] == "invalid" and list(payload["errors"]) == ["format"], payload
    assert not export_events(asset).exists()


def test_other_organisations_and_anonymous_users_get_no_export(acme, globex, tiny_model_path):
    asset = generated(acme)
    for role in ("creator", "admin", "auditor"):
        response = api_export(globex.client(role), asset, {"format": "jpeg"})
        assert response.status_code == 404, role
        assert response.json()["code"] == "not_found"
    assert api_export(APIClient(), asset, {"format": "jpeg"}).status_code == 401
    assert not export_events(asset).exists()
    # The service itself refuses them too, whoever calls it.
    with pytest.raises(PermissionDenied):
        exports.asset_export(asset=asset, user=globex.users["admin"], fmt="jpeg")
    with pytest.raises(ValidationError) as refused:
        exports.asset_export(asset=asset, user=acme.users["creator"], fmt="gif")
    assert list(refused.value.message_dict) == ["format"]
    assert not export_events(asset).exists()


def test_a_quarantined_image_is_exported_only_by_compliance_and_admins(
    client, acme, tiny_model_path
):
    asset = generated(acme)
    Asset.objects.filter(pk=asset.pk).update(quarantined=True)
    asset.refresh_from_db()
    for role in ("creator", "reviewer", "auditor"):
        assert api_export(acme.client(role), asset, {"format": "jpeg"}).status_code == 404, role
        client.force_login(acme.users[role])
        assert client.get(f"/assets/{asset.pk}/export/jpeg/").status_code == 404, role
        assert not exports.may_export(user=acme.users[role], asset=asset)
    for role in ("compliance", "admin"):
        assert api_export(acme.client(role), asset, {"format": "jpeg"}).status_code == 200, role
        client.force_login(acme.users[role])
        assert client.get(f"/assets/{asset.pk}/export/jpeg/").status_code == 200, role
    assert export_events(asset).count() == 4


def test_every_export_from_the_page_or_the_api_is_one_audit_event(client, acme, tiny_model_path):
    asset = generated(acme)
    client.force_login(acme.users["reviewer"])
    page = client.get(f"/assets/{asset.pk}/export/webp/")
    assert page.status_code == 200
    api = api_export(acme.client("creator"), asset, {"format": "jpeg"})
    assert api.status_code == 200
    first, second = export_events(asset).order_by("sequence")
    for event, user, fmt, content in (
        (first, acme.users["reviewer"], "webp", page.content),
        (second, acme.users["creator"], "jpeg", api.content),
    ):
        assert event.actor_id == user.pk and event.organization_id == acme.organization.pk
        assert event.data == {
            "format": fmt,
            "size": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
            "asset_sha256": asset.sha256,
            "approved": False,
            "project": acme.project.slug,
        }
    # An unknown format on the page is still a 404, and records nothing.
    assert client.get(f"/assets/{asset.pk}/export/gif/").status_code == 404
    assert export_events(asset).count() == 2


def test_an_approved_image_is_exported_from_its_approved_version(client, acme, tiny_model_path):
    asset = generated(acme)
    review = Review.objects.get(kind="asset", object_id=asset.pk)
    for stage in range(len(review.stages)):
        task = review.tasks.get(stage_index=stage)
        user = acme.users["reviewer"] if task.role == "reviewer" else acme.users["compliance"]
        task_decide(task=task, user=user, decision="approve")
    signing.asset_publish(asset.pk)  # what the worker's task runs
    asset.refresh_from_db()
    published = report_of(read(asset.published_image))

    response = api_export(acme.client("creator"), asset, {"format": "jpeg"})
    assert response.status_code == 200
    name = f"imprimatur-request{asset.request_id}-1-approved.jpeg"
    assert response["Content-Disposition"] == f'attachment; filename="{name}"'
    report = report_of(response.content)
    assert report["status"] == "trusted", report["failures"]
    [parent] = report["ingredients"]
    assert parent["active_manifest"] == published["active_manifest"]
    assert report["generation"]["asset_id"] == f"{asset.request_id}:0"  # two parents down
    client.force_login(acme.users["creator"])
    page = client.get(f"/assets/{asset.pk}/export/webp/")
    assert page["Content-Disposition"] == (
        f'attachment; filename="imprimatur-request{asset.request_id}-1-approved.webp"'
    )
    assert [event.data["approved"] for event in export_events(asset)] == [True, True]
