"""Sending generation's Celery tasks, by name: nothing imports ``tasks.py``, so the tasks may
import every module of the app and no import cycle forms. Call these inside the transaction
that wrote the rows: the message leaves once it commits (``transaction.on_commit``), and a
task only ever gets ids."""

from celery import current_app
from django.db import transaction

RUN_GENERATION_JOB = "generation.jobs.run_generation_job"
RECOVER_STALE_JOBS = "generation.recover_stale_jobs"
RERUN_ASSET_CHECKS = "generation.checks.rerun_asset_checks"
EMBED_REFERENCE_IMAGE = "generation.checks.embed_reference_image"
PUBLISH_APPROVED_ASSET = "generation.provenance.publish_approved_asset"
PUSH_ASSET = "generation.push_asset"

#: The queue of everything that is not generation (re-checks, signing approvals, upkeep).
DEFAULT_QUEUE = "default"


def send_now(name: str, *, args: list, queue: str, countdown: float = 0) -> None:
    """Send task ``name`` at once (outside a transaction: recovering jobs), or to run
    ``countdown`` seconds from now (a retry)."""
    current_app.send_task(name, args=args, queue=queue, countdown=countdown or None)


def send_on_commit(name: str, *, args: list, queue: str = DEFAULT_QUEUE) -> None:
    """Send task ``name`` once the current transaction commits; nothing if it rolls back."""
    transaction.on_commit(lambda: send_now(name, args=args, queue=queue))


def job_send(job_id: int, queue: str) -> None:
    """Send a generation job to ``queue`` (its model profile's: the workers that hold its
    model consume it)."""
    send_now(RUN_GENERATION_JOB, args=[job_id], queue=queue)


def job_enqueue(*, job_id: int, queue: str) -> None:
    """Queue a generation job once its row commits."""
    transaction.on_commit(lambda: job_send(job_id, queue))
