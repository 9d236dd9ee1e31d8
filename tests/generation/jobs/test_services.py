"""Request submission, job running and status transitions, in process (no worker)."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from generation.jobs import services, transitions, worker
from generation.jobs.models import Asset, GenerationJob, GenerationRequest
from generation.jobs.params import generation_params_clean
from governance.audit.models import AuditEvent
from tests.generation.jobs.factories import GenerationJobFactory

pytestmark = pytest.mark.django_db


def test_submit_enqueues_the_job_only_after_commit(acme, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        request = services.generation_request_submit(
            project=acme.project, user=acme.users["creator"], prompt="a star", params={}
        )
    assert len(callbacks) == 1
    assert request.jobs.get().status == GenerationJob.Status.QUEUED


def test_reviewer_cannot_submit(acme):
    with pytest.raises(PermissionDenied):
        services.generation_request_submit(
            project=acme.project, user=acme.users["reviewer"], prompt="a star", params={}
        )
    assert not GenerationRequest.objects.exists()


def test_params_clean_fills_defaults_from_the_model_profile(acme):
    values = generation_params_clean(project=acme.project, prompt=" a star ", params={"width": 128})
    assert values["prompt"] == "a star"
    assert (values["width"], values["height"], values["steps"]) == (128, 64, 20)
    assert values["profile"] == acme.model
    assert isinstance(values["seed"], int)


def test_params_clean_rejects_booleans_as_sizes(acme):
    with pytest.raises(ValidationError) as raised:
        generation_params_clean(project=acme.project, prompt="x", params={"width": True})
    assert "width" in raised.value.message_dict


def test_a_finished_job_cannot_start_again(acme):
    job = GenerationJobFactory(request__project=acme.project, status="succeeded")
    with pytest.raises(services.InvalidTransition, match="'succeeded' to 'running'"):
        transitions.generation_job_transition(job=job, to=GenerationJob.Status.RUNNING)
    job.refresh_from_db()
    assert job.status == "succeeded"


def test_a_queued_request_cannot_jump_to_succeeded(acme):
    job = GenerationJobFactory(request__project=acme.project)
    with pytest.raises(services.InvalidTransition):
        transitions.generation_request_transition(
            request=job.request, to=GenerationRequest.Status.SUCCEEDED
        )


def test_each_transition_writes_one_audit_event(acme):
    job = GenerationJobFactory(request__project=acme.project)
    before = AuditEvent.objects.count()
    transitions.generation_job_transition(job=job, to=GenerationJob.Status.RUNNING, worker="w1")
    event = AuditEvent.objects.order_by("-id").first()
    assert AuditEvent.objects.count() == before + 1
    assert event.action == "generation.job.transition"
    assert event.data == {
        "from": "queued",
        "to": "running",
        "attempt": 1,
        "project": acme.project.slug,  # what the audit browser filters projects by
    }
    assert event.organization == acme.organization


def test_running_a_job_in_process_stores_assets(acme, tiny_model_path):
    job = GenerationJobFactory(
        request__project=acme.project, request__num_images=2, request__steps=3, request__seed=9
    )
    finished = worker.generation_job_run(job_id=job.pk)
    assert finished.status == GenerationJob.Status.SUCCEEDED
    assert finished.current_step == 3
    job.request.refresh_from_db()
    assert job.request.status == GenerationRequest.Status.SUCCEEDED
    assert job.request.finished_at is not None
    assets = list(Asset.objects.filter(job=job).order_by("index"))
    assert [(asset.index, asset.seed) for asset in assets] == [(0, 9), (1, 10)]
    assert assets[0].sha256 != assets[1].sha256


def test_a_redelivered_message_for_a_finished_job_does_nothing(acme, tiny_model_path):
    job = GenerationJobFactory(request__project=acme.project, request__steps=2)
    worker.generation_job_run(job_id=job.pk)
    events = AuditEvent.objects.count()
    assert worker.generation_job_run(job_id=job.pk) is None
    assert Asset.objects.filter(job=job).count() == 1
    assert AuditEvent.objects.count() == events


def test_a_missing_model_fails_the_job_with_a_clear_reason(acme, tmp_path):
    # The checkpoint was removed from the worker after the profile was saved.
    acme.model.path = str(tmp_path / "no-such-model")
    acme.model.save()
    job = GenerationJobFactory(request__project=acme.project)
    failed = worker.generation_job_run(job_id=job.pk)
    assert failed.status == GenerationJob.Status.FAILED
    job.request.refresh_from_db()
    assert job.request.status == GenerationRequest.Status.FAILED
    assert "no-such-model" in job.request.error
    assert "ModelNotFoundError" in job.request.error
    assert not Asset.objects.filter(job=job).exists()


def test_storing_the_same_asset_twice_keeps_the_first(acme, tiny_model_path):
    from PIL import Image

    from generation.engine.pipelines import image_to_png_bytes

    job = GenerationJobFactory(request__project=acme.project)
    png = image_to_png_bytes(Image.new("RGB", (64, 64), "navy"))
    first = worker.asset_store(job=job, index=0, seed=1, png=png)
    second = worker.asset_store(job=job, index=0, seed=1, png=png)
    assert first.pk == second.pk
    assert Asset.objects.filter(job=job).count() == 1


def test_a_job_redelivered_after_its_worker_died_runs_again(acme, tiny_model_path):
    job = GenerationJobFactory(request__project=acme.project, request__steps=2)
    transitions.generation_job_transition(job=job, to=GenerationJob.Status.RUNNING)
    transitions.generation_request_transition(
        request=job.request, to=GenerationRequest.Status.RUNNING
    )
    # The worker died here; the broker redelivers the message.
    finished = worker.generation_job_run(job_id=job.pk)
    assert (finished.status, finished.attempts) == ("succeeded", 2)
    assert Asset.objects.filter(job=job).count() == 1


def test_a_job_whose_worker_keeps_dying_fails_after_the_attempt_limit(acme, settings):
    settings.IMPRIMATUR_MAX_JOB_ATTEMPTS = 3
    job = GenerationJobFactory(request__project=acme.project)
    transitions.generation_request_transition(
        request=job.request, to=GenerationRequest.Status.RUNNING
    )
    for _ in range(3):
        transitions.generation_job_transition(job=job, to=GenerationJob.Status.RUNNING)
    failed = worker.generation_job_run(job_id=job.pk)
    assert (failed.status, failed.attempts) == ("failed", 3)
    assert "started 3 times" in failed.error
    job.request.refresh_from_db()
    assert job.request.status == "failed"
