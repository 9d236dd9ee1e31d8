"""Output checks in the platform: every generated image is checked before it is stored, the
results stay with the asset (with history), a failed image is quarantined, flagged and
failed images go to the review stages named for them, and checks can be run again.

Real parts throughout: the tiny pipeline generates, NudeNet and the demo CLIP check.
"""

import io
import re

import pytest
from django.core.files.base import ContentFile
from PIL import Image

from generation.jobs import checking, worker
from generation.jobs.models import Asset, AssetCheck, GenerationJob
from governance.audit.models import AuditEvent
from governance.reviews.models import Review
from governance.reviews.services import task_decide
from imprimatur.tenancy.models import BrandReferenceImage
from tests.generation.jobs.factories import GenerationJobFactory

pytestmark = pytest.mark.django_db


def run_job(tenant, *, concepts=(), num_images=2):
    job = GenerationJobFactory(
        request__project=tenant.project,
        request__created_by=tenant.users["creator"],
        request__num_images=num_images,
        request__steps=2,
        request__policy_output_concepts=list(concepts),
    )
    finished = worker.generation_job_run(job_id=job.pk)
    return finished, list(Asset.objects.filter(job=job).order_by("index"))


def png_of(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_every_image_is_checked_and_sent_to_review(acme, tiny_model_path):
    finished, assets = run_job(acme, concepts=[{"concept": "a star", "action": "flag"}])
    assert finished.status == GenerationJob.Status.SUCCEEDED
    assert len(assets) == 2
    for asset in assets:
        [check] = asset.checks.all()
        result = check.result
        assert check.trigger == "generation" and check.verdict == asset.check_verdict
        assert result["verdict"] in ("pass", "flag")
        assert "FEMALE_BREAST_EXPOSED" in result["safety"]["nudenet"]["rules"]
        [concept] = result["safety"]["concepts"]
        assert concept["name"] == "a star" and 0 <= concept["score"] <= 1
        # The project's brand kit: palette and descriptors from the factory.
        parts = result["brand"]["parts"]
        assert {"palette", "descriptors", "alignment"} <= set(parts)
        assert parts["palette"]["palette"] == ["#1F3A93", "#F2C14E"]
        assert not asset.quarantined
        event = AuditEvent.objects.get(action="generation.asset.check", target_id=str(asset.pk))
        assert event.data["verdict"] == result["verdict"]
        review = Review.objects.get(kind="asset", object_id=asset.pk)
        names = [stage["name"] for stage in review.stages]
        assert names[0] == "Brand review"
        assert ("Compliance review" in names) == (result["verdict"] == "flag")


def test_a_failed_image_is_quarantined_and_withheld_from_the_creator(client, acme, tiny_model_path):
    # A policy concept that fails from a tiny score: the demo CLIP's real score decides.
    _finished, [asset] = run_job(
        acme, num_images=1, concepts=[{"concept": "a shape", "action": "fail", "threshold": 0.01}]
    )
    assert asset.check_verdict == "fail" and asset.quarantined
    review = Review.objects.get(kind="asset", object_id=asset.pk)
    assert [stage["name"] for stage in review.stages] == ["Safety review"]
    assert review.tasks.get().role == "compliance"

    client.force_login(acme.users["creator"])
    assert client.get(f"/assets/{asset.pk}/image.png").status_code == 404
    assert acme.client("creator").get(f"/api/v1/assets/{asset.pk}/file/").status_code == 404
    assert acme.client("creator").get(f"/api/v1/assets/{asset.pk}/").json()["url"] is None
    page = client.get(f"/requests/{asset.request_id}/").content.decode()
    assert "data-withheld" in page and f"/assets/{asset.pk}/image.png" not in page
    assert "a shape" in page  # the reason is shown, without the image
    assert "Run the checks again" not in page

    client.force_login(acme.users["compliance"])
    assert client.get(f"/assets/{asset.pk}/image.png").status_code == 200
    page = client.get(f"/requests/{asset.request_id}/").content.decode()
    assert "data-withheld" not in page and "Run the checks again" in page


def test_a_check_that_cannot_run_fails_the_job_and_keeps_no_image(acme, tiny_model_path, settings):
    settings.IMPRIMATUR_CLIP_CHECKPOINT = settings.BASE_DIR / "no-such-clip.safetensors"
    finished, assets = run_job(acme, concepts=[{"concept": "a star", "action": "flag"}])
    assert finished.status == GenerationJob.Status.FAILED
    assert finished.error.startswith("The output checks could not run, so no image is kept")
    assert "no-such-clip.safetensors" in finished.error
    assert assets == []


def test_checks_run_again_keep_the_history_and_see_a_real_face(acme, settings):
    skimage_data = pytest.importorskip("skimage.data")
    acme.project.likeness_review = True
    acme.project.save()
    job = GenerationJobFactory(
        request__project=acme.project, request__created_by=acme.users["creator"]
    )
    asset = worker.asset_store(
        job=job, index=0, seed=1, png=png_of(Image.fromarray(skimage_data.astronaut()))
    )
    first = checking.asset_checks_rerun(asset_id=asset.pk, user_id=acme.users["compliance"].pk)
    second = checking.asset_checks_rerun(asset_id=asset.pk)
    asset.refresh_from_db()
    assert asset.checks.count() == 2 and first.trigger == second.trigger == "rerun"
    assert asset.has_face and asset.check_verdict in ("pass", "flag")
    faces = second.result["safety"]["nudenet"]["faces"]
    assert any(face["class"] == "FACE_FEMALE" for face in faces)
    assert "face_detected" in checking.asset_review_facts(asset, second.result)


def test_reference_images_are_embedded_once_on_upload(
    acme, settings, django_capture_on_commit_callbacks
):
    skimage_data = pytest.importorskip("skimage.data")
    with django_capture_on_commit_callbacks() as callbacks:
        reference = BrandReferenceImage(project=acme.project, caption="coffee")
        reference.image.save(
            "coffee.png", ContentFile(png_of(Image.fromarray(skimage_data.coffee())))
        )
    assert len(callbacks) == 1  # the embedding task, sent once the upload commits
    clip = checking.clip_load()
    checking.reference_embed(reference, clip)
    reference.refresh_from_db()
    assert reference.embedding_model == checking.clip_model_name()
    stored = reference.embedding
    ids, embeddings = checking.project_reference_embeddings(acme.project, clip)
    assert ids == [reference.pk] and embeddings == [stored]
    # Another CLIP model: the stored embedding no longer counts and is computed again.
    BrandReferenceImage.objects.filter(pk=reference.pk).update(embedding_model="other")
    checking.project_reference_embeddings(acme.project, clip)
    reference.refresh_from_db()
    assert reference.embedding_model == checking.clip_model_name()


def test_approving_an_image_review_approves_the_image(acme, tiny_model_path):
    _finished, [asset] = run_job(acme, num_images=1)
    review = Review.objects.get(kind="asset", object_id=asset.pk)
    for task_stage in range(len(review.stages)):
        task = review.tasks.get(stage_index=task_stage)
        user = acme.users["reviewer"] if task.role == "reviewer" else acme.users["compliance"]
        task_decide(task=task, user=user, decision="approve")
    asset.refresh_from_db()
    assert asset.status == "approved"


def test_only_compliance_and_admins_ask_for_checks_again(
    client, acme, tiny_model_path, django_capture_on_commit_callbacks
):
    _finished, [asset] = run_job(acme, num_images=1)
    client.force_login(acme.users["creator"])
    assert client.post(f"/assets/{asset.pk}/recheck/").status_code == 403
    client.force_login(acme.users["compliance"])
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(f"/assets/{asset.pk}/recheck/")
    assert response.status_code == 302
    assert response["Location"].endswith(f"/requests/{asset.request_id}/#asset-{asset.pk}")
    assert len(callbacks) == 1
    assert AuditEvent.objects.filter(action="generation.asset.recheck").count() == 1
    assert AssetCheck.objects.filter(asset=asset).count() == 1  # the worker adds the next


def test_calibration_shows_scores_by_decision_to_compliance_only(client, acme, tiny_model_path):
    _finished, [first, second] = run_job(acme, concepts=[{"concept": "a star"}])
    Asset.objects.filter(pk=first.pk).update(status=Asset.Status.APPROVED)
    Asset.objects.filter(pk=second.pk).update(status=Asset.Status.REJECTED)
    checking.asset_checks_rerun(asset_id=first.pk)  # the latest run counts, once
    client.force_login(acme.users["creator"])
    assert client.get(f"/projects/{acme.project.slug}/calibration/").status_code == 403
    client.force_login(acme.users["compliance"])
    response = client.get(f"/projects/{acme.project.slug}/calibration/")
    assert response.status_code == 200
    assert response.context["assets"] == 2
    by_key = {item["d"].key: item for item in response.context["distributions"]}
    assert {"brand", "brand.palette", "concept.a star"} <= set(by_key)
    brand_bins = by_key["brand"]["bins"]
    assert sum(row["approved"] for row in brand_bins) == 1
    assert sum(row["rejected"] for row in brand_bins) == 1
    assert by_key["brand"]["summary"]["thresholds"] == [0.5]
    assert "Concept: a star" in response.content.decode()


def test_the_demo_brand_kit_is_red_shapes_on_navy(acme):
    from django.core.management import call_command

    call_command("demo_brand_kit", organization=acme.organization.slug, project=acme.project.slug)
    acme.project.refresh_from_db()
    assert acme.project.palette == ["#D72323", "#192364", "#FFFFFF"]
    assert acme.project.reference_images.count() == 6
    from governance.audit.models import AuditEvent

    [changed] = AuditEvent.objects.filter(action="tenancy.project.update", data__brand_kit="demo")
    assert changed.actor_name == "system" and changed.target_id == str(acme.project.pk)
    out = io.StringIO()
    call_command(
        "demo_brand_kit", organization=acme.organization.slug, project=acme.project.slug, stdout=out
    )
    assert "kept" in out.getvalue() and acme.project.reference_images.count() == 6


def test_the_policy_sets_nudenet_rules_per_class(acme):
    from generation.checks.safety import NUDENET_LABELS
    from governance.policies.limits import SAFETY_CLASSES

    assert SAFETY_CLASSES == NUDENET_LABELS  # governance keeps its own copy of the names
    skimage_data = pytest.importorskip("skimage.data")
    job = GenerationJobFactory(
        request__project=acme.project,
        request__created_by=acme.users["creator"],
        request__policy_safety_classes={"FACE_FEMALE": {"threshold": 0.3, "action": "fail"}},
    )
    asset = worker.asset_store(
        job=job, index=0, seed=1, png=png_of(Image.fromarray(skimage_data.astronaut()))
    )
    check = checking.asset_checks_rerun(asset_id=asset.pk)
    asset.refresh_from_db()
    assert check.verdict == "fail" and asset.quarantined
    rules = check.result["safety"]["nudenet"]["rules"]
    assert rules["FACE_FEMALE"] == {"threshold": 0.3, "action": "fail"}
    assert any("FACE_FEMALE" in reason for reason in check.result["reasons"])


def test_bulk_approval_and_variants_side_by_side(client, acme, tiny_model_path):
    _finished, assets = run_job(acme, num_images=2)
    tasks = [
        Review.objects.get(kind="asset", object_id=asset.pk).tasks.get(stage_index=0)
        for asset in assets
    ]
    client.force_login(acme.users["reviewer"])
    page = client.get(f"/reviews/tasks/{tasks[0].pk}/").content.decode()
    assert "The other images of this request" in page
    assert f"/assets/{assets[1].pk}/image.png" in page
    queue = client.get("/reviews/").content.decode()
    assert f'name="task" value="{tasks[0].pk}"' in queue
    shown = re.search(r'name="shown" value="([^"]+)"', queue).group(1)
    response = client.post(
        "/reviews/bulk-approve/",
        {"task": [tasks[0].pk, tasks[1].pk, 999999], "comment": "On brand.", "shown": shown},
        follow=True,
    )
    text = response.content.decode()
    assert "Approved 2 tasks." in text and "#999999" in text
    for task in tasks:
        task.refresh_from_db()
        assert task.status == "approved"
        assert task.decisions.get().comment == "On brand."


def test_generated_images_are_compared_with_the_brand_reference_images(acme, tiny_model_path):
    """The reference images' embeddings reach the brand check when a job's images are checked
    (they were stored but never passed on: the reference part was never measured)."""
    skimage_data = pytest.importorskip("skimage.data")
    reference = BrandReferenceImage(project=acme.project, caption="coffee")
    reference.image.save("coffee.png", ContentFile(png_of(Image.fromarray(skimage_data.coffee()))))
    _finished, [asset] = run_job(acme, num_images=1)
    part = asset.checks.get().result["brand"]["parts"]["reference"]
    assert part["references"] == 1, part
    reference.refresh_from_db()
    assert reference.embedding  # computed once, then stored
