"""The state machines of requests, jobs and assets: every move outside the tables is refused
and leaves the row and the audit log as they were; every allowed move writes its event."""

import pytest

from generation.jobs.models import Asset, GenerationJob, GenerationRequest
from generation.jobs.transitions import (
    ASSET_MOVES,
    JOB_MOVES,
    REQUEST_MOVES,
    asset_transition,
    generation_job_transition,
    generation_request_transition,
)
from governance.audit.models import AuditEvent
from imprimatur.errors import InvalidTransition
from tests.generation.jobs.factories import GenerationJobFactory

pytestmark = pytest.mark.django_db


def _illegal(moves: dict, statuses) -> list[tuple[str, str]]:
    allowed = {(current, to) for current, targets in moves.items() for to in targets}
    return [(a, b) for a in statuses for b in statuses if (a, b) not in allowed]


def _asset(acme, status: str) -> Asset:
    job = GenerationJobFactory(request__project=acme.project)
    return Asset.objects.create(
        request=job.request,
        job=job,
        index=0,
        seed=1,
        image="assets/none.png",
        width=64,
        height=64,
        sha256="0" * 64,
        status=status,
    )


@pytest.mark.parametrize(("current", "to"), _illegal(REQUEST_MOVES, GenerationRequest.Status))
def test_every_illegal_request_move_is_refused(acme, current, to):
    request = GenerationJobFactory(request__project=acme.project, request__status=current).request
    events = AuditEvent.objects.count()
    with pytest.raises(InvalidTransition):
        generation_request_transition(request=request, to=to)
    request.refresh_from_db()
    assert request.status == current
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize(("current", "to"), _illegal(JOB_MOVES, GenerationJob.Status))
def test_every_illegal_job_move_is_refused(acme, current, to):
    job = GenerationJobFactory(request__project=acme.project, status=current)
    events = AuditEvent.objects.count()
    with pytest.raises(InvalidTransition):
        generation_job_transition(job=job, to=to)
    job.refresh_from_db()
    assert job.status == current
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize(("current", "to"), _illegal(ASSET_MOVES, Asset.Status))
def test_every_illegal_asset_move_is_refused(acme, current, to):
    asset = _asset(acme, current)
    events = AuditEvent.objects.count()
    with pytest.raises(InvalidTransition):
        asset_transition(asset=asset, to=to)
    asset.refresh_from_db()
    assert asset.status == current
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize(
    ("to", "action"),
    [
        (Asset.Status.APPROVED, "generation.asset.approve"),
        (Asset.Status.REJECTED, "generation.asset.reject"),
        (Asset.Status.CHANGES_REQUESTED, "generation.asset.request_changes"),
    ],
)
def test_deciding_an_asset_writes_its_own_event(acme, to, action):
    asset = _asset(acme, Asset.Status.GENERATED)
    reviewer = acme.users["reviewer"]
    asset_transition(asset=asset, to=to, actor=reviewer)
    asset.refresh_from_db()
    assert asset.status == to
    event = AuditEvent.objects.order_by("-sequence").first()
    assert event.action == action
    assert event.actor_name == reviewer.get_username()
    assert event.target_id == str(asset.pk)
    assert event.data["from"] == "generated" and event.data["to"] == to
    assert event.data["project"] == acme.project.slug


def test_a_request_sent_back_for_changes_is_finished_and_not_rejected(acme):
    request = GenerationJobFactory(
        request__project=acme.project, request__status="awaiting_review"
    ).request
    generation_request_transition(
        request=request, to=GenerationRequest.Status.CHANGES_REQUESTED, error="Changes requested"
    )
    request.refresh_from_db()
    assert request.status == "changes_requested"
    assert request.is_finished and request.finished_at is not None


def test_the_migration_gives_requests_sent_back_their_own_status(acme):
    """Before 0014 a request sent back for changes was stored as rejected with an error text
    starting "Changes requested"; the data migration moves exactly those."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("generation.jobs.migrations.0014_request_changes_requested")
    sent_back, rejected = (
        GenerationJobFactory(
            request__project=acme.project, request__status="rejected", request__error=error
        ).request
        for error in (
            "Changes requested in prompt review by reviewer: say 'spring'",
            "Rejected in prompt review by reviewer: off brand",
        )
    )
    migration.forwards(apps, None)
    sent_back.refresh_from_db()
    rejected.refresh_from_db()
    assert (sent_back.status, rejected.status) == ("changes_requested", "rejected")
    migration.backwards(apps, None)
    sent_back.refresh_from_db()
    assert sent_back.status == "rejected"
