"""Exactly-once jobs: leases, takeover after a worker dies, and a real SIGKILL."""

from datetime import timedelta

import pytest
from django.utils import timezone

from generation.jobs import transitions, worker
from generation.jobs.models import Asset, GenerationJob
from governance.audit.models import AuditEvent
from tests.conftest import submit, wait_for
from tests.generation.jobs.factories import GenerationJobFactory


def held_job(acme, *, holder: str, heartbeat_age: float):
    job = GenerationJobFactory(request__project=acme.project, request__steps=2)
    transitions.generation_job_transition(job=job, to=GenerationJob.Status.RUNNING, worker=holder)
    GenerationJob.objects.filter(pk=job.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=heartbeat_age)
    )
    return job


@pytest.mark.django_db
def test_a_duplicate_message_leaves_a_live_job_to_its_holder(acme):
    job = held_job(acme, holder="w1@a:100:101", heartbeat_age=1)
    with pytest.raises(worker.JobBusy, match="w1@a:100:101"):
        worker.generation_job_run(job_id=job.pk, worker="w2@b:200:201")
    # The pool's other process of the same live worker does not take it either.
    with pytest.raises(worker.JobBusy):
        worker.generation_job_run(job_id=job.pk, worker="w1@a:100:102")
    job.refresh_from_db()
    assert (job.worker, job.attempts) == ("w1@a:100:101", 1)


@pytest.mark.django_db
def test_a_silent_job_is_taken_over(acme, settings, tiny_model_path):
    settings.IMPRIMATUR_JOB_LEASE_SECONDS = 30
    job = held_job(acme, holder="w1@a:100:101", heartbeat_age=31)
    finished = worker.generation_job_run(job_id=job.pk, worker="w2@b:200:201")
    assert (finished.status, finished.attempts, finished.worker) == (
        "succeeded",
        2,
        "w2@b:200:201",
    )


@pytest.mark.django_db
def test_the_same_worker_restarted_takes_its_job_back_at_once(acme, tiny_model_path):
    job = held_job(acme, holder="w1@a:100:101", heartbeat_age=1)
    finished = worker.generation_job_run(job_id=job.pk, worker="w1@a:300:301")
    assert (finished.status, finished.attempts) == ("succeeded", 2)


@pytest.mark.django_db
def test_recovery_sends_again_the_jobs_of_dead_workers_only(
    acme, settings, django_capture_on_commit_callbacks
):
    settings.IMPRIMATUR_JOB_LEASE_SECONDS = 30
    restarted = held_job(acme, holder="w1@a:100:101", heartbeat_age=1)
    silent = held_job(acme, holder="w9@z:900:901", heartbeat_age=60)
    held_job(acme, holder="w2@b:200:201", heartbeat_age=1)  # alive elsewhere
    from generation.jobs.models import ModelProfile

    # A queue nobody consumes, so the recovered messages are only counted here.
    ModelProfile.objects.filter(pk=acme.model.pk).update(queue="recovery-test")
    assert sorted(worker.generation_jobs_recover(worker_name="w1@a")) == sorted(
        [restarted.pk, silent.pk]
    )


def slow_job_under_way(tenant, *, steps: int, num_images: int) -> GenerationJob:
    """Submit a slow request through the API and wait until its job is a few steps in."""
    request_id = submit(
        tenant,
        {"prompt": "slow", "width": 128, "height": 128, "steps": steps, "num_images": num_images},
    )
    job = GenerationJob.objects.get(request_id=request_id)
    wait_for(
        lambda: GenerationJob.objects.filter(pk=job.pk, current_step__gte=2).exists(),
        timeout=120,
        what="generation to be under way",
    )
    return job


@pytest.mark.e2e
def test_a_job_whose_worker_is_sigkilled_completes_exactly_once(acme, start_worker):
    first = start_worker(hostname="gpu-one@test")
    job = slow_job_under_way(acme, steps=60, num_images=2)
    first.kill()
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("running", 1)

    second = start_worker(hostname="gpu-one@test")  # the same worker, started again
    wait_for(
        lambda: GenerationJob.objects.get(pk=job.pk).status == "succeeded",
        timeout=240,
        what="the job to complete after the restart",
    )
    job.refresh_from_db()
    assert job.attempts == 2, second.output()
    assert Asset.objects.filter(job=job).count() == 2
    stored = AuditEvent.objects.filter(action="generation.asset.create", target_id__in=[
        str(pk) for pk in Asset.objects.filter(job=job).values_list("pk", flat=True)
    ])  # fmt: skip
    assert stored.count() == 2
    assert "Sent again jobs left running by a dead worker" in second.output()


def test_a_worker_stopped_with_sigterm_finishes_its_job_first(acme, start_worker):
    """What an orchestrator does when it scales down or rolls out (SIGTERM, then SIGKILL after
    the grace period): Celery's warm shutdown lets the running job finish, once, and acks it;
    nothing is left for another worker to run again."""
    worker_process = start_worker(hostname="gpu-sigterm@test")
    job = slow_job_under_way(acme, steps=40, num_images=1)
    worker_process.process.terminate()  # SIGTERM to the worker's main process
    assert worker_process.process.wait(timeout=240) == 0, worker_process.output()
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("succeeded", 1), worker_process.output()
    assert Asset.objects.filter(job=job).count() == 1
    assert "Warm shutdown" in worker_process.output()


@pytest.mark.django_db(transaction=True)  # the heartbeat thread has its own connection
def test_the_heartbeat_keeps_the_lease_of_its_own_worker_only(acme):
    job = held_job(acme, holder="w1@a:100:101", heartbeat_age=500)
    with worker.JobHeartbeat(job_id=job.pk, worker="w1@a:100:101", every=0.05):
        wait_for(
            lambda: (
                GenerationJob.objects.get(pk=job.pk).heartbeat_at
                > timezone.now() - timedelta(seconds=5)
            ),
            timeout=5,
            what="a heartbeat",
        )
    other = held_job(acme, holder="w2@b:200:201", heartbeat_age=500)
    with worker.JobHeartbeat(job_id=other.pk, worker="w1@a:100:101", every=0.05):
        import time

        time.sleep(0.3)
    other.refresh_from_db()
    assert timezone.now() - other.heartbeat_at > timedelta(seconds=400)


@pytest.mark.django_db
def test_a_run_that_lost_its_job_drops_its_result(acme):
    job = held_job(acme, holder="w1@a:100:101", heartbeat_age=0)
    # Another worker took the job over while this one looked dead.
    GenerationJob.objects.filter(pk=job.pk).update(worker="w2@b:200:201")
    assert (
        worker._job_end(job=job, to=GenerationJob.Status.FAILED, reason="x", worker="w1@a:100:101")
        is None
    )
    job.refresh_from_db()
    assert (job.status, job.worker) == ("running", "w2@b:200:201")


@pytest.mark.django_db
def test_the_periodic_sweep_recovers_silent_jobs_only(acme, settings):
    from generation.jobs.models import ModelProfile

    settings.IMPRIMATUR_JOB_LEASE_SECONDS = 30
    ModelProfile.objects.filter(pk=acme.model.pk).update(queue="recovery-test")
    silent = held_job(acme, holder="w9@z:900:901", heartbeat_age=60)
    held_job(acme, holder="w1@a:100:101", heartbeat_age=1)
    assert worker.generation_jobs_recover() == [silent.pk]
