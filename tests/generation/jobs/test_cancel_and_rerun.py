"""Cancelling requests (queued: at once; running: at the next step) and re-running them."""

import pytest
from django.utils import timezone

from generation.jobs import worker
from generation.jobs.models import Asset, GenerationJob, GenerationRequest
from governance.audit.models import AuditEvent
from tests.conftest import wait_for
from tests.generation.jobs.factories import GenerationJobFactory


@pytest.fixture
def queued_job(acme):
    return GenerationJobFactory(
        request__project=acme.project, request__created_by=acme.users["creator"]
    )


@pytest.mark.django_db
def test_cancelling_a_queued_request_ends_it_at_once(acme, queued_job):
    response = acme.client("creator").post(f"/api/v1/requests/{queued_job.request_id}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    queued_job.refresh_from_db()
    assert queued_job.status == "cancelled"
    assert "Cancelled by acme-creator" in queued_job.error
    # The message still in the broker finds nothing to run.
    assert worker.generation_job_run(job_id=queued_job.pk) is None
    assert AuditEvent.objects.filter(action="generation.request.cancel").count() == 1


@pytest.mark.django_db
def test_a_cancel_flag_stops_the_engine_at_the_next_step(acme, queued_job, tiny_model_path):
    GenerationJob.objects.filter(pk=queued_job.pk).update(cancel_requested_at=timezone.now())
    job = worker.generation_job_run(job_id=queued_job.pk)
    assert job.status == "cancelled"
    assert job.error == "Cancelled by a user after step 1 of 2."
    assert not Asset.objects.filter(job=job).exists()
    assert GenerationRequest.objects.get(pk=queued_job.request_id).status == "cancelled"


@pytest.mark.django_db
def test_cancelling_a_finished_request_is_409(acme, queued_job):
    GenerationRequest.objects.filter(pk=queued_job.request_id).update(status="succeeded")
    response = acme.client("creator").post(f"/api/v1/requests/{queued_job.request_id}/cancel/")
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"


@pytest.mark.django_db
def test_only_the_creator_or_an_admin_may_cancel(acme, globex, queued_job):
    url = f"/api/v1/requests/{queued_job.request_id}/cancel/"
    assert acme.client("reviewer").post(url).status_code == 403
    assert globex.client("admin").post(url).status_code == 404
    assert acme.client("admin").post(url).status_code == 200


@pytest.mark.django_db
def test_rerun_repeats_the_seed_and_variants_choose_new_seeds(acme, queued_job):
    client = acme.client("creator")
    url = f"/api/v1/requests/{queued_job.request_id}/rerun/"
    same = client.post(url, {}, format="json").json()
    assert (same["seed"], same["rerun_of"], same["prompt"]) == (
        42,
        queued_job.request_id,
        queued_job.request.prompt,
    )
    variant = client.post(url, {"new_seeds": True}, format="json").json()
    assert variant["rerun_of"] == queued_job.request_id
    assert variant["seed"] != 42  # a random seed: equal only by a 1-in-2**32 chance
    assert acme.client("reviewer").post(url).status_code == 403


@pytest.mark.django_db
def test_ui_cancel_and_rerun_buttons(client, acme, queued_job):
    client.force_login(acme.users["creator"])
    page = client.get(f"/requests/{queued_job.request_id}/").content.decode()
    assert ">Cancel</button>" in page
    response = client.post(f"/requests/{queued_job.request_id}/cancel/", follow=True)
    page = response.content.decode()
    assert "Cancelled. A running job stops" in page
    assert "Variants (new seeds)" in page
    response = client.post(f"/requests/{queued_job.request_id}/rerun/", {"new_seeds": "0"})
    rerun = GenerationRequest.objects.get(rerun_of=queued_job.request)
    assert response["Location"] == f"/requests/{rerun.pk}/"
    assert rerun.seed == queued_job.request.seed


@pytest.mark.e2e
def test_a_running_job_stops_within_a_step_after_cancel(acme, celery_worker):
    client = acme.client("creator")
    created = client.post(
        f"/api/v1/projects/{acme.project.slug}/requests/",
        {"prompt": "a long one", "width": 256, "height": 256, "steps": 100, "num_images": 4},
        format="json",
    ).json()
    job = GenerationJob.objects.get(request_id=created["id"])
    wait_for(
        lambda: GenerationJob.objects.filter(pk=job.pk, current_step__gte=1).exists(),
        timeout=120,
        what="the job to make progress",
    )
    assert client.post(f"/api/v1/requests/{created['id']}/cancel/").status_code == 200
    wait_for(
        lambda: GenerationRequest.objects.get(pk=created["id"]).is_finished,
        timeout=60,
        what="the cancel to take effect",
    )
    job.refresh_from_db()
    assert job.status == "cancelled", (job.error, celery_worker.output())
    assert job.current_step < 100
    assert "Cancelled by a user after step" in job.error
    assert not Asset.objects.filter(job=job).exists()
