"""Push to a destination: once an approved image is published, its signed file and a JSON
sidecar are copied to the project's folder or bucket (a real folder; the SeaweedFS S3
server), retried when the destination fails, and audited. Destinations outside what the
operator allows are refused."""

import json

import pytest

from generation.jobs import destinations, signing
from generation.jobs.models import Asset, AssetPush
from governance.audit.models import AuditEvent
from governance.reviews.models import Review
from governance.reviews.services import task_decide
from imprimatur.webhooks.models import Delivery
from imprimatur.webhooks.services import endpoint_create
from tests.generation.jobs.test_provenance_flow import generated

pytestmark = pytest.mark.django_db


def approved_and_published(tenant) -> Asset:
    asset = generated(tenant)
    review = Review.objects.get(kind="asset", object_id=asset.pk)
    for stage in range(len(review.stages)):
        task = review.tasks.get(stage_index=stage)
        role = "reviewer" if task.role == "reviewer" else "compliance"
        task_decide(task=task, user=tenant.users[role], decision="approve")
    signing.asset_publish(asset.pk)  # what the worker's task runs; it queues the push
    asset.refresh_from_db()
    return asset


@pytest.fixture
def push_root(settings, tmp_path):
    settings.IMPRIMATUR_PUSH_FOLDER_ROOT = str(tmp_path / "push")
    settings.IMPRIMATUR_WEBHOOK_RETRY_SCHEDULE = [0.0, 0.0, 0.0]
    (tmp_path / "push").mkdir()
    return tmp_path / "push"


def test_an_approved_image_is_copied_with_its_sidecar_to_a_folder(
    acme, tiny_model_path, push_root, settings
):
    folder = push_root / "acme"
    response = acme.client("admin").put(
        f"/api/v1/projects/{acme.project.slug}/destination/", {"url": str(folder)}, format="json"
    )
    assert response.status_code == 200, response.json()

    settings.IMPRIMATUR_WEBHOOK_ALLOW_PRIVATE = True  # an endpoint that is never called here
    endpoint, _ = endpoint_create(
        organization=acme.organization,
        url="http://127.0.0.1:9/hooks",
        actor=acme.users["admin"],
        event_types=["asset.approved"],
    )

    asset = approved_and_published(acme)
    push = AssetPush.objects.get(asset=asset)
    destinations.push_attempt(push.pk)

    push.refresh_from_db()
    assert push.status == AssetPush.Status.SUCCEEDED and push.attempts == 1
    # The approval was also a webhook event for the organisation's endpoint.
    [approved] = Delivery.objects.filter(endpoint=endpoint)
    assert approved.payload["data"]["asset"] == {"id": asset.pk, "status": "approved"}
    image, sidecar = (folder / name for name in push.names)
    with asset.published_image.open("rb") as handle:
        assert image.read_bytes() == handle.read()  # the signed published file, manifest in it
    document = json.loads(sidecar.read_text())
    assert document["request"]["prompt"] == asset.request.prompt
    assert document["request"]["model"] == asset.request.model_name
    assert document["request"]["policy_versions"] == asset.request.policy_versions
    assert [a["decision"] for a in document["approvals"]] == ["approve"] * len(
        document["approvals"]
    )
    assert document["approvals"] and all("by" not in a for a in document["approvals"])
    event = AuditEvent.objects.get(action="generation.asset.push")
    assert event.target_id == str(asset.pk) and event.data["names"] == push.names
    state = acme.client("admin").get(f"/api/v1/projects/{acme.project.slug}/destination/").json()
    assert state["pushes"][0]["status"] == "succeeded"


def test_a_failing_destination_is_retried_then_given_up(acme, tiny_model_path, push_root):
    folder = push_root / "blocked"
    destinations.push_destination_set(
        project=acme.project, url=str(folder), enabled=True, actor=acme.users["admin"]
    )
    folder.write_text("a file where the folder should be")  # writing there fails
    asset = approved_and_published(acme)
    push = AssetPush.objects.get(asset=asset)

    destinations.push_attempt(push.pk)
    push.refresh_from_db()
    assert push.status == AssetPush.Status.PENDING and push.attempts == 1 and push.last_error
    folder.unlink()  # the destination is fixed: the retry succeeds
    destinations.push_attempt(push.pk)
    push.refresh_from_db()
    assert push.status == AssetPush.Status.SUCCEEDED and push.attempts == 2

    folder.joinpath(push.names[0]).unlink()
    push2 = AssetPush.objects.create(asset=asset, destination_url=str(folder))
    folder.rename(push_root / "moved")
    folder.write_text("blocked again")
    AssetPush.objects.filter(pk=push2.pk).update(next_attempt_at=push.created_at)
    for _ in range(3):
        destinations.push_attempt(push2.pk)
    push2.refresh_from_db()
    assert push2.status == AssetPush.Status.FAILED and push2.attempts == 3
    assert AuditEvent.objects.filter(action="generation.asset.push_failed").count() == 1


def test_an_approved_image_is_copied_to_an_allowed_bucket(
    acme, tiny_model_path, s3_storage, settings
):
    settings.IMPRIMATUR_PUSH_S3_BUCKETS = [s3_storage.storage_url]
    destinations.push_destination_set(
        project=acme.project,
        url=f"s3://{s3_storage.bucket}/exports/acme",
        enabled=True,
        actor=acme.users["admin"],
    )
    asset = approved_and_published(acme)
    push = AssetPush.objects.get(asset=asset)
    destinations.push_attempt(push.pk)
    push.refresh_from_db()
    assert push.status == AssetPush.Status.SUCCEEDED, push.last_error
    client = s3_storage.client()
    stored = client.get_object(Bucket=s3_storage.bucket, Key=f"exports/acme/{push.names[1]}")
    assert json.loads(stored["Body"].read())["asset"]["id"] == asset.pk


@pytest.mark.parametrize(
    "url, message",
    [
        ("/etc", "must be inside"),
        ("{root}/../outside", "must be inside"),
        ("file://host/x", "three slashes"),
        ("s3://someone-elses-bucket/x", "not one the operator allows"),
        ("s3://allowed?endpoint=http://169.254.169.254", "nothing more"),
        ("https://example.com/upload", "Give a folder"),
        ("s3://[bucket/x", "Not a valid destination"),
    ],
)
def test_destinations_outside_what_the_operator_allows_are_refused(
    acme, push_root, settings, url, message
):
    settings.IMPRIMATUR_PUSH_S3_BUCKETS = ["s3://allowed?endpoint=http://127.0.0.1:1&region=x"]
    response = acme.client("admin").put(
        f"/api/v1/projects/{acme.project.slug}/destination/",
        {"url": url.format(root=push_root)},
        format="json",
    )
    assert response.status_code == 400, response.json()
    assert message in " ".join(response.json()["errors"]["url"])


def test_only_the_organisations_admins_set_a_destination(acme, globex, push_root):
    url = f"/api/v1/projects/{acme.project.slug}/destination/"
    body = {"url": str(push_root / "x")}
    assert acme.client("creator").put(url, body, format="json").status_code == 403
    assert globex.client("admin").put(url, body, format="json").status_code == 404
    assert globex.client("admin").get(url).status_code == 404
