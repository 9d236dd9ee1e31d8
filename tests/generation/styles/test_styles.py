"""Style models: a training set needs at least ten images, each with its rights attested;
a style is used only once approved, and only in its own project; the request's audit event
names its styles; the review of a style decides it."""

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from generation.jobs.models import GenerationRequest
from generation.jobs.services import generation_request_submit
from generation.styles import services
from generation.styles.models import StyleModel
from generation.styles.reviewing import STYLE_REVIEW
from generation.styles.transitions import style_transition
from governance.audit.models import AuditEvent
from governance.reviews.models import Review
from governance.reviews.services import task_decide
from imprimatur.errors import InvalidTransition
from tests.generation.styles.helpers import approved_style, png, style_create, training_set

pytestmark = pytest.mark.django_db


def create(tenant, images, attest=True):
    return services.style_create(
        project=tenant.project, user=tenant.users["admin"], name="outline", images=images,
        attest=attest,
    )  # fmt: skip


def test_a_training_set_needs_ten_images(acme):
    with pytest.raises(ValidationError) as caught:
        create(acme, training_set(9))
    assert caught.value.message_dict["images"] == [
        "A style needs at least 10 images of the brand's own; 9 were given."
    ]
    assert not StyleModel.objects.exists()


def test_every_image_needs_its_rights_attested(acme):
    images = training_set(10)
    images[3]["owner"] = ""
    images[7]["licence"] = " "
    with pytest.raises(ValidationError) as caught:
        create(acme, images)
    assert "missing for images 4, 8" in caught.value.message_dict["attestations"][0]
    with pytest.raises(ValidationError) as caught:
        create(acme, training_set(10), attest=False)
    assert "attest" in caught.value.message_dict
    assert not StyleModel.objects.exists()


def test_an_attested_set_is_stored_with_held_out_images_and_audited(acme):
    style = style_create(acme)
    images = list(style.images.all())
    assert len(images) == 10 and sum(image.held_out for image in images) == 2
    assert {image.attested_by for image in images} == {acme.users["admin"]}
    assert all(image.rights_owner == "Acme Ltd" and image.attested_at for image in images)
    event = AuditEvent.objects.get(action="styles.style.create")
    assert len(event.data["images"]) == 10 and event.data["attested_by"] == "acme-admin"
    again = style_create(acme)
    assert (style.version, again.version) == (1, 2)


def test_training_settings_are_bounded_and_reach_the_trainer():
    from generation.engine.lora import LoraTrainConfig

    config = services.style_config_clean({"caption_dropout": 0.3, "flip": True})
    assert config["caption_dropout"] == 0.3 and config["flip"] is True
    assert config["train_text_encoder"] is False and config["steps"] == 300
    defaults = services.style_config_clean({})
    assert defaults["caption_dropout"] == 0.3 and defaults["convolutions"] is False
    assert defaults["lr_schedule"] == "cosine"
    assert services.style_config_clean({"lr_schedule": "constant"})["lr_schedule"] == "constant"
    from generation.engine.lora import LR_SCHEDULES

    assert services.CONFIG_CHOICES["lr_schedule"][1] == LR_SCHEDULES
    # Every setting is one the trainer takes (the task passes them on by name).
    assert set(config) <= set(LoraTrainConfig.__dataclass_fields__) | {"time_budget_s", "members"}
    with pytest.raises(ValidationError) as caught:
        services.style_config_clean({"caption_dropout": 1.0, "flip": "yes", "lr_schedule": "x"})
    assert caught.value.message_dict == {
        "caption_dropout": ["Must be from 0 to 0.9."],
        "flip": ["Give true or false."],
        "lr_schedule": ["Choose one of: constant, cosine."],
    }


def test_the_api_refuses_a_set_without_attestations(acme):
    url = f"/api/v1/projects/{acme.project.slug}/styles/"

    def files():
        return [SimpleUploadedFile(f"{i}.png", png(i), "image/png") for i in range(10)]

    body = {"name": "outline", "images": files(), "attest": "true"}
    response = acme.client("admin").post(url, body, format="multipart")
    assert response.status_code == 400
    assert "rights owner and licence" in str(response.json())
    body = {**body, "owners": ["Acme Ltd"], "licences": ["Owned"]}
    response = acme.client("creator").post(url, {**body, "images": files()}, format="multipart")
    assert response.status_code == 403
    created = acme.client("admin").post(url, {**body, "images": files()}, format="multipart")
    assert created.status_code == 201, created.json()
    assert created.json()["status"] == "draft" and len(created.json()["images"]) == 10


def submit(tenant, styles, **params):
    return generation_request_submit(
        project=tenant.project,
        user=tenant.users["creator"],
        prompt="a red star",
        params={"styles": styles, **params},
    )


def test_a_style_is_used_only_once_approved(acme):
    style = style_create(acme)
    with pytest.raises(ValidationError) as caught:
        submit(acme, [{"name": "outline"}])
    assert caught.value.message_dict["styles"] == [
        "The style 'outline' is not approved yet, so it cannot be used."
    ]
    assert style.status == StyleModel.Status.DRAFT
    assert not GenerationRequest.objects.exists()


def test_another_organisations_style_is_unknown(acme, globex):
    approved_style(globex)
    response = acme.client("creator").post(
        f"/api/v1/projects/{acme.project.slug}/requests/",
        {"prompt": "a red star", "styles": [{"name": "outline"}]},
        format="json",
    )
    assert response.status_code == 400
    assert "This project has no style named 'outline'." in str(response.json())
    theirs = StyleModel.objects.get()
    assert acme.client("admin").get(f"/api/v1/styles/{theirs.pk}/").status_code == 404
    assert acme.client("admin").post(f"/api/v1/styles/{theirs.pk}/train/").status_code == 404


def test_an_approved_style_is_stored_with_the_request_and_named_by_its_audit_event(acme):
    style = approved_style(acme)
    request = submit(acme, [{"name": "outline", "weight": 0.7}])
    assert request.styles == [
        {
            "id": style.pk,
            "name": "outline",
            "version": 1,
            "weight": 0.7,
            "sha256": style.weights_sha256,
        }
    ]
    event = AuditEvent.objects.get(action="generation.request.submit", target_id=str(request.pk))
    assert event.data["styles"] == [
        {"name": "outline", "version": 1, "weight": 0.7, "sha256": style.weights_sha256}
    ]
    with pytest.raises(ValidationError) as caught:
        submit(acme, [{"name": "outline", "weight": 3}])
    assert "at most 2" in caught.value.message_dict["styles"][0]


def test_a_preset_brings_its_style(acme):
    from generation.styles.presets import preset_save

    style = approved_style(acme)
    preset_save(
        project=acme.project,
        user=acme.users["admin"],
        name="brand",
        data={"prompt_template": "{prompt}", "style_model": style.pk, "style_weight": 0.5},
    )
    request = submit(acme, [], preset="brand")
    assert [(entry["name"], entry["weight"]) for entry in request.styles] == [("outline", 0.5)]


def test_a_trained_style_is_reviewed_by_compliance(acme):
    style = style_create(acme)
    style = style_transition(style=style, to=StyleModel.Status.TRAINING)
    style = style_transition(
        style=style,
        to=StyleModel.Status.TRAINED,
        weights_sha256="0" * 64,
        evaluation={"cmmd_base": 2.0, "cmmd_style": 0.5, "images": 2, "references": 2},
    )
    style = services.style_review_send(style=style, user=acme.users["admin"])
    assert style.status == StyleModel.Status.IN_REVIEW
    review = Review.objects.get(kind=STYLE_REVIEW, object_id=style.pk)
    assert review.reasons[0]["evaluation"].startswith("CMMD to the brand's images: 0.500")
    task = review.tasks.get()
    browser = Client()
    browser.force_login(acme.users["compliance"])
    page = browser.get(f"/reviews/tasks/{task.pk}/")
    assert page.status_code == 200 and b"with the base model alone" in page.content
    task_decide(task=task, user=acme.users["compliance"], decision="approve", comment="on brand")
    style.refresh_from_db()
    assert style.status == StyleModel.Status.APPROVED
    with pytest.raises(InvalidTransition):
        style_transition(style=style, to=StyleModel.Status.TRAINING)


def test_the_styles_pages(acme):
    from generation.styles.models import StylePreset

    admin, creator = Client(), Client()
    admin.force_login(acme.users["admin"])
    creator.force_login(acme.users["creator"])
    url = f"/projects/{acme.project.slug}/styles/"
    page = creator.get(url)
    assert page.status_code == 200 and b"Add a preset" not in page.content
    assert creator.post(url, {"form": "preset"}).status_code == 403
    refused = admin.post(
        url, {"form": "preset", "preset-name": "poster", "preset-prompt_template": "a poster",
              "preset-style_weight": 1})  # fmt: skip
    assert refused.status_code == 400 and "Put {prompt} where" in refused.content.decode()
    saved = admin.post(
        url, {"form": "preset", "preset-name": "poster", "preset-prompt_template": "{prompt}!",
              "preset-style_weight": 1})  # fmt: skip
    assert saved.status_code == 302
    assert StylePreset.objects.get().current.prompt_template == "{prompt}!"
    files = [SimpleUploadedFile(f"{i}.png", png(i), "image/png") for i in range(10)]
    upload = {
        "form": "style", "style-name": "outline", "style-base_model": acme.model.name,
        "style-images": files, "style-rights_owner": "Acme Ltd", "style-licence": "Owned",
        "style-steps": 4, "style-time_budget_s": 60,
    }  # fmt: skip
    unattested = admin.post(url, upload)
    assert unattested.status_code == 400
    assert "Attest that the organisation holds the rights" in unattested.content.decode()
    files = [SimpleUploadedFile(f"{i}.png", png(i), "image/png") for i in range(10)]
    stored = admin.post(url, {**upload, "style-images": files, "style-attest": "on"})
    assert stored.status_code == 302, stored.content.decode()[-1500:]
    style = StyleModel.objects.get()
    detail = creator.get(f"/styles/{style.pk}/")
    assert detail.status_code == 200 and b"Held out for the evaluation" in detail.content
    assert b"Start training" not in detail.content
    assert b"Start training" in admin.get(f"/styles/{style.pk}/").content


def test_a_duplicate_training_message_leaves_the_running_one_alone(acme):
    from django.utils import timezone

    from generation.styles.training import style_train_run

    style = services.style_train(style=style_create(acme), user=acme.users["admin"])
    assert (style.worker, style.heartbeat_at) == ("", None)
    StyleModel.objects.filter(pk=style.pk).update(worker="w1", heartbeat_at=timezone.now())
    assert style_train_run(style_id=style.pk, worker="w2") is None
    style.refresh_from_db()
    assert (style.status, style.worker) == (StyleModel.Status.TRAINING, "w1")
    # Stopped before any worker took it: it ends cancelled without training.
    StyleModel.objects.filter(pk=style.pk).update(
        worker="", heartbeat_at=None, cancel_requested_at=timezone.now()
    )
    stopped = style_train_run(style_id=style.pk, worker="w2")
    assert stopped.status == StyleModel.Status.CANCELLED and stopped.steps_done == 0
