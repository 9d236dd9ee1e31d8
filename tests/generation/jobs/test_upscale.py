"""The upscaler in the platform, with the demo pack's real 4x network: a request's "Enlarge"
option, and the upscale of an approved image as a new image with the parent as its C2PA
ingredient and a review of its own. Jobs run in this process through the worker's own code."""

import hashlib

import pytest
from django.conf import settings

from generation.jobs import dispatch, signing, worker
from generation.jobs.models import Asset, GenerationJob, GenerationRequest
from generation.provenance import verify
from governance.audit.models import AuditEvent
from governance.reviews.models import Review
from governance.reviews.services import task_decide
from tests.generation.jobs.factories import GenerationJobFactory, approved_asset

pytestmark = pytest.mark.django_db


def read(asset, field="image") -> bytes:
    with getattr(asset, field).open("rb") as handle:
        return handle.read()


def weights_sha256() -> str:
    with open(settings.IMPRIMATUR_UPSCALER_PATH, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def generated(tenant, **request) -> Asset:
    job = GenerationJobFactory(
        request__project=tenant.project,
        request__created_by=tenant.users["creator"],
        request__steps=2,
        **{f"request__{key}": value for key, value in request.items()},
    )
    worker.generation_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    return Asset.objects.get(job=job)


def approve(tenant, asset, monkeypatch, capture) -> None:
    review = Review.objects.get(kind="asset", object_id=asset.pk)
    monkeypatch.setattr(dispatch, "send_now", lambda name, **message: None)  # fake broker
    with capture(execute=True):
        for stage in range(len(review.stages)):
            task = review.tasks.get(stage_index=stage)
            user = (
                tenant.users["reviewer"] if task.role == "reviewer" else tenant.users["compliance"]
            )
            task_decide(task=task, user=user, decision="approve")
    signing.asset_publish(asset.pk)
    asset.refresh_from_db()
    assert asset.status == "approved" and asset.published_image


def test_enlarge_option_makes_signed_images_four_times_the_size(acme, tiny_model_path):
    asset = generated(acme, upscale=4)
    assert (asset.width, asset.height) == (256, 256)
    report = verify(read(asset), trust_anchors_pem=signing.trust_anchors()).to_dict()
    assert report["status"] == "trusted", report["failures"]
    actions = [action["action"] for action in report["actions"]]
    assert actions == ["c2pa.created", "c2pa.resized"]
    upscale = report["parameters"]["upscale"]
    assert upscale["factor"] == 4 and upscale["width"] == 256
    assert upscale["sha256"] == weights_sha256()
    assert upscale["architecture"] == "RealESRGAN Compact"
    submit = AuditEvent.objects.filter(action="generation.job.transition").exists()
    assert submit


def test_an_approved_image_upscaled_is_a_new_image_with_its_parent_as_ingredient(
    acme, tiny_model_path, monkeypatch, django_capture_on_commit_callbacks
):
    parent = generated(acme)
    approve(acme, parent, monkeypatch, django_capture_on_commit_callbacks)
    sent = []
    monkeypatch.setattr(dispatch, "send_now", lambda name, **message: sent.append(message))
    with django_capture_on_commit_callbacks(execute=True):
        response = acme.client("creator").post(
            f"/api/v1/assets/{parent.pk}/upscale/", {"factor": 2}, format="json"
        )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["mode"] == "upscale" and body["upscale"] == 2 and body["parent_asset"] == parent.pk
    assert (body["width"], body["height"]) == (128, 128)
    job = GenerationJob.objects.get(request_id=body["id"])
    assert sent == [{"args": [job.pk], "queue": job.request.model_profile.queue}]
    event = AuditEvent.objects.get(action="generation.asset.upscale")
    assert event.data["asset"] == parent.pk and event.data["factor"] == 2

    worker.generation_job_run(job_id=job.pk)  # what the worker's task runs
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    child = Asset.objects.get(job=job)
    assert (child.width, child.height) == (128, 128) and child.status == "generated"
    assert Review.objects.get(kind="asset", object_id=child.pk).status == "open"
    report = verify(read(child), trust_anchors_pem=signing.trust_anchors()).to_dict()
    assert report["status"] == "trusted", report["failures"]
    assert [action["action"] for action in report["actions"]] == ["c2pa.opened", "c2pa.resized"]
    (ingredient,) = report["ingredients"]
    assert ingredient["relationship"] == "parentOf"
    assert report["parameters"]["mode"] == "upscale"
    assert report["parameters"]["upscale"]["factor"] == 2
    # The parent's manifest (its approval) travels inside the ingredient: verification follows it.
    assert report["approval"] is not None or report["generation"]["asset_id"]


@pytest.mark.parametrize(
    ("role", "factor", "status", "message"),
    [
        ("creator", 3, 400, "valid choice"),
        ("reviewer", 2, 403, "Only creators"),
        ("auditor", 2, 403, "Only creators"),
    ],
)
def test_upscale_refusals(acme, role, factor, status, message):
    asset = approved_asset(acme)
    response = acme.client(role).post(
        f"/api/v1/assets/{asset.pk}/upscale/", {"factor": factor}, format="json"
    )
    assert response.status_code == status, response.json()
    assert message in str(response.json())
    assert not GenerationRequest.objects.filter(mode="upscale").exists()


def test_only_an_approved_image_of_ones_own_organisation(acme, globex):
    asset = approved_asset(acme)
    asset.status = Asset.Status.GENERATED
    asset.save()
    response = acme.client("creator").post(
        f"/api/v1/assets/{asset.pk}/upscale/", {"factor": 2}, format="json"
    )
    assert response.status_code == 400
    assert "Only an approved image can be upscaled." in str(response.json())
    other = globex.client("creator").post(
        f"/api/v1/assets/{asset.pk}/upscale/", {"factor": 2}, format="json"
    )
    assert other.status_code == 404


def test_without_an_upscaler_the_option_is_refused_and_hidden(acme, settings, client):
    settings.IMPRIMATUR_UPSCALER_PATH = ""
    response = acme.client("creator").post(
        f"/api/v1/projects/{acme.project.slug}/requests/",
        {"prompt": "a red star", "upscale": 2},
        format="json",
    )
    assert response.status_code == 400
    assert "No upscaler is installed" in str(response.json()["errors"]["upscale"])
    client.force_login(acme.users["creator"])
    page = client.get(f"/projects/{acme.project.slug}/")
    assert 'name="upscale"' not in page.content.decode()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"upscale": 3}, "Choose 1 (original size), 2 or 4."),
        ({"upscale": 4, "width": 256, "height": 256}, "allowed is 512"),
    ],
)
def test_the_enlarge_option_is_checked(acme, settings, client, body, message):
    settings.IMPRIMATUR_UPSCALE_MAX_SIDE = 512
    response = acme.client("creator").post(
        f"/api/v1/projects/{acme.project.slug}/requests/",
        {"prompt": "a red star", **body},
        format="json",
    )
    assert response.status_code == 400
    assert message in str(response.json()["errors"]["upscale"])
    client.force_login(acme.users["creator"])
    page = client.get(f"/projects/{acme.project.slug}/")
    assert 'name="upscale"' in page.content.decode()
