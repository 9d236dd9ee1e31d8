"""The model catalog: admins register checkpoints (checked without loading weights), choose
projects, and requests are limited and routed by their model's profile."""

import shutil

import pytest

from generation.jobs.models import GenerationJob, ModelProfile
from governance.audit.models import AuditEvent
from imprimatur.celery import app

pytestmark = pytest.mark.django_db


def profile_body(path, **overrides):
    body = {
        "name": "tiny-two",
        "display_name": "Tiny two",
        "path": str(path),
        "capabilities": ["text-to-image", "image-to-image"],
        "sizes": [64, 128],
        "default_size": 64,
        "default_steps": 10,
        "max_steps": 30,
        "max_images": 2,
        "projects": ["acme-campaign"],
    }
    body.update(overrides)
    return body


def test_admin_registers_a_model_read_from_its_checkpoint(acme, tiny_model_path):
    response = acme.client("admin").post(
        "/api/v1/models/", profile_body(tiny_model_path), format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["pipeline_class"] == "StableDiffusionPipeline"
    assert set(body["model_capabilities"]) == {"text-to-image", "image-to-image", "inpainting"}
    assert body["projects"] == ["acme-campaign"]
    event = AuditEvent.objects.get(action="generation.model.create")
    assert event.actor_name == "acme-admin"
    assert event.data["changed"]["max_steps"] == 30


@pytest.mark.parametrize(
    ("make_path", "reason"),
    [
        (lambda tmp, model: tmp / "nowhere", "does not exist"),
        (lambda tmp, model: tmp, "model_index.json"),
    ],
)
def test_a_broken_path_is_refused_with_the_reason(
    acme, tiny_model_path, tmp_path, make_path, reason
):
    path = make_path(tmp_path, tiny_model_path)
    response = acme.client("admin").post("/api/v1/models/", profile_body(path), format="json")
    assert response.status_code == 400
    assert reason in " ".join(response.json()["errors"]["path"])
    assert not ModelProfile.objects.filter(name="tiny-two").exists()


def test_a_checkpoint_missing_a_component_is_refused(acme, tiny_model_path, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_path, broken)
    shutil.rmtree(broken / "unet")
    response = acme.client("admin").post("/api/v1/models/", profile_body(broken), format="json")
    assert response.status_code == 400
    assert "unet" in " ".join(response.json()["errors"]["path"])


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"sizes": [63]}, "sizes"),
        ({"sizes": [64], "default_size": 128}, "default_size"),
        ({"default_steps": 40, "max_steps": 30}, "default_steps"),
        ({"capabilities": ["telepathy"]}, "capabilities"),
        ({"capabilities": []}, "capabilities"),
        ({"queue": "gpu queue!"}, "queue"),
        ({"max_images": 0}, "max_images"),
        ({"projects": ["not-ours"]}, "projects"),
    ],
)
def test_bad_limits_name_their_field(acme, tiny_model_path, overrides, field):
    response = acme.client("admin").post(
        "/api/v1/models/", profile_body(tiny_model_path, **overrides), format="json"
    )
    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()


def test_only_admins_manage_models(acme, globex, tiny_model_path):
    body = profile_body(tiny_model_path)
    assert acme.client("creator").post("/api/v1/models/", body, format="json").status_code == 403
    url = f"/api/v1/models/{acme.model.pk}/"
    assert globex.client("admin").patch(url, {"max_steps": 5}, format="json").status_code == 404
    response = acme.client("admin").patch(url, {"max_steps": 5, "default_steps": 5}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["max_steps"] == 5


def test_members_see_enabled_models_without_paths(acme):
    ModelProfile.objects.filter(pk=acme.model.pk).update(enabled=False)
    assert acme.client("creator").get("/api/v1/models/").json()["count"] == 0
    admin_view = acme.client("admin").get("/api/v1/models/").json()["results"]
    assert admin_view[0]["path"] and admin_view[0]["enabled"] is False
    ModelProfile.objects.filter(pk=acme.model.pk).update(enabled=True)
    creator_view = acme.client("creator").get("/api/v1/models/").json()["results"]
    assert "path" not in creator_view[0]


def test_requests_may_use_only_enabled_models_allowed_for_the_project(acme, tiny_model_path):
    url = f"/api/v1/projects/{acme.project.slug}/requests/"
    acme.model.projects.clear()
    response = acme.client("creator").post(url, {"prompt": "a star"}, format="json")
    assert response.status_code == 400
    assert "no models yet" in response.json()["errors"]["model"][0]
    acme.model.projects.add(acme.project)
    ModelProfile.objects.filter(pk=acme.model.pk).update(enabled=False)
    response = acme.client("creator").post(url, {"prompt": "a star"}, format="json")
    assert response.status_code == 400


def test_limits_come_from_the_profile(acme):
    ModelProfile.objects.filter(pk=acme.model.pk).update(max_steps=8, default_steps=6)
    url = f"/api/v1/projects/{acme.project.slug}/requests/"
    client = acme.client("creator")
    assert client.post(url, {"prompt": "a", "steps": 9}, format="json").status_code == 400
    created = client.post(url, {"prompt": "a"}, format="json").json()
    assert created["steps"] == 6 and created["model"] == "tiny-sd"


def test_a_job_goes_to_its_models_queue(acme, django_capture_on_commit_callbacks):
    ModelProfile.objects.filter(pk=acme.model.pk).update(queue="bench-special")
    with app.connection_for_read() as connection:
        queue = connection.SimpleQueue("bench-special")
        queue.clear()
        with django_capture_on_commit_callbacks(execute=True):
            created = acme.client("creator").post(
                f"/api/v1/projects/{acme.project.slug}/requests/", {"prompt": "a"}, format="json"
            )
        message = queue.get(block=True, timeout=10)
        job = GenerationJob.objects.get(request_id=created.json()["id"])
        assert message.headers["task"] == "generation.jobs.run_generation_job"
        assert message.payload[0] == [job.pk]  # Celery's message body: [args, kwargs, embed]
        message.ack()
        queue.close()


def test_admin_adds_a_model_in_the_ui(client, acme, tiny_model_path):
    client.force_login(acme.users["admin"])
    assert "Models" in client.get("/").content.decode()
    response = client.post(
        "/models/new/",
        {"name": "tiny-ui", "path": str(tiny_model_path), "capabilities": ["text-to-image"],
         "queue": "gpu", "scheduler": "DDIMScheduler", "sizes": "64, 128", "default_size": 64,
         "default_steps": 10, "max_steps": 20, "default_guidance": 5, "max_guidance": 10,
         "max_images": 2, "enabled": "on", "projects": ["acme-campaign"]},
    )  # fmt: skip
    assert response.status_code == 302, response.context["form"].errors
    profile = ModelProfile.objects.get(name="tiny-ui")
    assert (profile.sizes, profile.scheduler) == ([64, 128], "DDIMScheduler")
    page = client.get("/models/").content.decode()
    assert "tiny-ui" in page


def test_model_form_shows_a_broken_path_next_to_the_field(client, acme, tmp_path):
    client.force_login(acme.users["admin"])
    response = client.post(
        "/models/new/",
        {"name": "x", "path": str(tmp_path / "gone"), "capabilities": ["text-to-image"],
         "queue": "gpu", "sizes": "64", "default_size": 64, "default_steps": 10,
         "max_steps": 20, "default_guidance": 5, "max_guidance": 10, "max_images": 2},
    )  # fmt: skip
    assert response.status_code == 400
    assert "does not exist" in response.context["form"].errors["path"][0]


def test_creators_have_no_models_navigation_entry(client, acme):
    client.force_login(acme.users["creator"])
    assert 'href="/models/"' not in client.get("/").content.decode()


def test_a_single_file_checkpoint_needs_its_config_directory_and_then_generates(
    acme, tiny_model_path, tmp_path
):
    from generation.jobs import services, worker
    from tests.generation.engine.ldm_checkpoint import copy_configs, write_ldm_checkpoint

    checkpoint = write_ldm_checkpoint(tiny_model_path, tmp_path / "tiny.safetensors")
    config = copy_configs(tiny_model_path, tmp_path / "config")
    client = acme.client("admin")
    body = profile_body(checkpoint, name="tiny-file")
    response = client.post("/api/v1/models/", body, format="json")
    assert response.status_code == 400
    assert "nothing is downloaded" in response.json()["errors"]["single_file_config"][0]
    body["single_file_config"] = str(config)
    response = client.post("/api/v1/models/", body, format="json")
    assert response.status_code == 201, response.json()

    request = services.generation_request_submit(
        project=acme.project,
        user=acme.users["creator"],
        prompt="a red star",
        params={"model": "tiny-file", "steps": 2},
    )
    job = worker.generation_job_run(job_id=request.jobs.get().pk, worker="t:1:1")
    assert job.status == "succeeded", job.error
    assert job.assets.count() == 1
