"""The state machines of requests, jobs and assets: one moves table and one transition
function per model. Nothing else writes a status.

A transition locks the row, refuses a move its table does not allow (``InvalidTransition``),
saves, and records the audit event, in one transaction. The tables are the documentation
too: ARCHITECTURE.md shows them.
"""

from django.db import transaction
from django.utils import timezone

from generation.jobs import events
from generation.jobs.models import Asset, GenerationJob, GenerationRequest
from imprimatur.errors import InvalidTransition
from imprimatur.metrics import job_transitioned

RequestStatus = GenerationRequest.Status
JobStatus = GenerationJob.Status
AssetStatus = Asset.Status

REQUEST_MOVES: dict[str, set[str]] = {
    RequestStatus.AWAITING_REVIEW: {
        RequestStatus.QUEUED,  # the prompt review approved it
        RequestStatus.REJECTED,
        RequestStatus.CHANGES_REQUESTED,  # the creator revises it as a new request
        RequestStatus.CANCELLED,
    },
    RequestStatus.QUEUED: {RequestStatus.RUNNING, RequestStatus.FAILED, RequestStatus.CANCELLED},
    RequestStatus.RUNNING: {
        RequestStatus.SUCCEEDED,
        RequestStatus.FAILED,
        RequestStatus.CANCELLED,
    },
}

JOB_MOVES: dict[str, set[str]] = {
    JobStatus.QUEUED: {JobStatus.RUNNING, JobStatus.FAILED, JobStatus.CANCELLED},
    # running → running: a redelivered job starts again after its worker died.
    JobStatus.RUNNING: {
        JobStatus.RUNNING,
        JobStatus.SUCCEEDED,
        JobStatus.FAILED,
        JobStatus.CANCELLED,
    },
}

#: An image's review decides it once; each move has its own audit event.
ASSET_MOVES: dict[str, dict[str, str]] = {
    AssetStatus.GENERATED: {
        AssetStatus.APPROVED: "generation.asset.approve",
        AssetStatus.REJECTED: "generation.asset.reject",
        AssetStatus.CHANGES_REQUESTED: "generation.asset.request_changes",
    },
}


@transaction.atomic
def generation_request_transition(
    *, request: GenerationRequest, to: str, error: str = "", actor=None
) -> GenerationRequest:
    request = (
        GenerationRequest.objects.select_for_update()
        .select_related("project__organization")
        .get(pk=request.pk)
    )
    if to not in REQUEST_MOVES.get(request.status, set()):
        raise InvalidTransition(request, request.status, to)
    previous = request.status
    request.status = to
    request.error = error
    if to in GenerationRequest.FINISHED:
        request.finished_at = timezone.now()
    request.save(update_fields=["status", "error", "finished_at", "updated_at"])
    events.request_transitioned(request=request, previous=previous, to=to, error=error, actor=actor)
    return request


@transaction.atomic
def generation_job_transition(
    *, job: GenerationJob, to: str, error: str = "", worker: str = "", actor=None
) -> GenerationJob:
    job = (
        GenerationJob.objects.select_for_update()
        .select_related("request__project__organization")
        .get(pk=job.pk)
    )
    if to not in JOB_MOVES.get(job.status, set()):
        raise InvalidTransition(job, job.status, to)
    previous = job.status
    now = timezone.now()
    job.status = to
    job.error = error
    if to == JobStatus.RUNNING:
        job.attempts += 1
        job.started_at = now
        job.current_step = 0
        job.worker = worker
        job.heartbeat_at = now
    else:
        job.finished_at = now
    job.save()
    events.job_transitioned(job=job, previous=previous, to=to, error=error, actor=actor)
    job_transitioned(job, previous, to)
    return job


@transaction.atomic
def asset_transition(*, asset: Asset, to: str, actor=None, review=None) -> Asset:
    """Decide an image: approved, rejected or sent back for changes (by its review)."""
    asset = (
        Asset.objects.select_for_update()
        .select_related("request__project__organization")
        .get(pk=asset.pk)
    )
    action = ASSET_MOVES.get(asset.status, {}).get(to)
    if action is None:
        raise InvalidTransition(asset, asset.status, to)
    previous = asset.status
    asset.status = to
    asset.save(update_fields=["status"])
    events.asset_transitioned(
        asset=asset, action=action, previous=previous, actor=actor, review=review
    )
    return asset


def generation_job_end(*, job: GenerationJob, to: str, reason: str) -> GenerationJob:
    """End a job and its request together (failed or cancelled), with the reason."""
    with transaction.atomic():
        job = generation_job_transition(job=job, to=to, error=reason)
        generation_request_transition(request=job.request, to=to, error=reason)
    return job
