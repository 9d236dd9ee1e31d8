"""Fair-share dispatch: which queued job a free GPU worker takes next, and why.

Jobs wait in the database. Every Celery message on a GPU queue is a token, "run the next
fair job of this queue": the worker that receives it picks the job here, under a row lock,
and leases it in the same transaction (``worker.job_lease_next``). The rule:

1. the project with the highest ``queue_priority`` first;
2. among equals, the project served least recently (never served counts as longest ago);
3. within the project, the user served least recently;
4. that user's oldest queued job.

"Served" is a job's start (``started_at``). So one user queuing twenty jobs cannot hold back
a second user's single job by more than the job already running, and a busy project cannot
starve a quiet one. ``fair_order`` is the rule as a plain function (unit-tested without a
database); ``fair_candidates`` reads what it needs in two queries.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Max
from django.utils import timezone

from generation.jobs.models import GenerationJob
from imprimatur.tenancy.permissions import user_roles

#: How far back a start counts as "served recently"; older starts count as never.
SERVED_WINDOW = timedelta(days=1)
#: The queued jobs one pick looks at (oldest first); enough for any fair choice in practice.
CANDIDATE_LIMIT = 1000


@dataclass(frozen=True)
class Candidate:
    """A queued job as the fair rule sees it."""

    job_id: int
    project_id: int
    user_id: int | None
    priority: int
    created_at: datetime


def _never() -> datetime:
    return datetime.min.replace(tzinfo=UTC)


_FUTURE = datetime(9000, 1, 1, tzinfo=UTC)


def fair_order(
    candidates: list[Candidate],
    project_served: dict[int, datetime],
    user_served: dict[tuple[int, int | None], datetime],
    *,
    until: int | None = None,
) -> list[Candidate]:
    """The queued jobs in the order workers should take them, one at a time.

    ``project_served`` / ``user_served``: when a project / a (project, user) last had a job
    start. The order simulates successive picks: after each pick, its project and user count
    as served now, so the list is the round-robin the workers will follow if nothing new
    arrives (what the queue page shows); with ``until`` (a job id), it stops after that job."""
    project_served = dict(project_served)
    user_served = dict(user_served)
    remaining = sorted(candidates, key=lambda c: (c.created_at, c.job_id))
    never = _never()
    order: list[Candidate] = []
    tick = 0
    while remaining:
        best = min(
            remaining,
            key=lambda c: (
                -c.priority,
                project_served.get(c.project_id, never),
                user_served.get((c.project_id, c.user_id), never),
                c.created_at,
                c.job_id,
            ),
        )
        order.append(best)
        remaining.remove(best)
        if best.job_id == until:
            break
        # Counts as served after everything real (the simulated future).
        tick += 1
        served = _FUTURE + timedelta(microseconds=tick)
        project_served[best.project_id] = served
        user_served[(best.project_id, best.user_id)] = served
    return order


def fair_next(candidates, project_served, user_served) -> list[Candidate]:
    """The order of the next picks without simulating the whole queue: the candidates sorted
    by the rule as it stands now (what one worker's pick uses; the first is the fair one, the
    rest are the fallbacks when another worker holds it)."""
    never = _never()
    return sorted(
        candidates,
        key=lambda c: (
            -c.priority,
            project_served.get(c.project_id, never),
            user_served.get((c.project_id, c.user_id), never),
            c.created_at,
            c.job_id,
        ),
    )


def fair_candidates(*, queue: str | None = None, organization_id: int | None = None):
    """The queued jobs of ``queue`` (all queues when None) and when their projects and users
    were last served: the inputs of ``fair_order``."""
    queued = GenerationJob.objects.filter(status=GenerationJob.Status.QUEUED)
    if queue is not None:
        queued = queued.filter(request__model_profile__queue=queue)
    if organization_id is not None:
        queued = queued.filter(request__project__organization_id=organization_id)
    rows = queued.order_by("created_at", "id").values_list(
        "id",
        "request__project_id",
        "request__created_by_id",
        "request__project__queue_priority",
        "created_at",
    )[:CANDIDATE_LIMIT]
    candidates = [Candidate(*row) for row in rows]
    project_served: dict[int, datetime] = {}
    user_served: dict[tuple[int, int | None], datetime] = {}
    projects = {c.project_id for c in candidates}
    if projects:
        started = GenerationJob.objects.filter(
            request__project_id__in=projects,
            started_at__gte=timezone.now() - SERVED_WINDOW,
        )
        for project_id, user_id, last in started.values_list(
            "request__project_id", "request__created_by_id"
        ).annotate(last=Max("started_at")):
            user_served[(project_id, user_id)] = last
            if last > project_served.get(project_id, _never()):
                project_served[project_id] = last
    return candidates, project_served, user_served


# -- A queued job's place, for the request page ----------------------------------------------


@dataclass(frozen=True)
class QueuePlace:
    """Where a queued job stands: ``place`` 1 starts next; ``reason`` says whose turn it is
    (in words; another organisation's jobs are never named); ``estimate_seconds`` when it may
    start (None without finished jobs to go by)."""

    place: int
    reason: str
    estimate_seconds: float | None


def _why(head: Candidate, others: list[Candidate]) -> str:
    if any(head.priority > other.priority for other in others):
        return "its project has a higher priority"
    if any(head.project_id != other.project_id for other in others):
        return "its project has waited longest for a turn"
    if any(head.user_id != other.user_id for other in others):
        return "its creator has waited longest for a turn in the project"
    return "it is the oldest"


def queue_place(job: GenerationJob, *, limit: int = 200) -> QueuePlace | None:
    """The place of queued ``job`` in its queue's fair order and why the next job is next;
    None for a job that is not queued or is beyond the first ``limit`` places."""
    if job.status != GenerationJob.Status.QUEUED:
        return None
    queue = job.request.model_profile.queue
    candidates, project_served, user_served = fair_candidates(queue=queue)
    order = fair_order(candidates, project_served, user_served, until=job.pk)
    places = [c.job_id for c in order[:limit]]
    if job.pk not in places:
        return None
    place = places.index(job.pk) + 1
    head = order[0]
    why = _why(head, [c for c in candidates if c.job_id != head.job_id])
    if head.job_id == job.pk:
        reason = f"This job starts next: {why}."
    elif head.project_id == job.request.project_id:
        reason = f"Next to start is a job of this project: {why}."
    else:
        reason = f"Next to start is a job of another project: {why}."
    return QueuePlace(place=place, reason=reason, estimate_seconds=_estimate(queue, place))


def _estimate(queue: str, place: int) -> float | None:
    """Seconds until a job at ``place`` starts: the median run of the queue's last twenty
    finished jobs, times the jobs before it, shared by the workers running now."""
    recent = (
        GenerationJob.objects.filter(
            request__model_profile__queue=queue,
            status=GenerationJob.Status.SUCCEEDED,
            started_at__isnull=False,
            finished_at__isnull=False,
        )
        .order_by("-finished_at")
        .values_list("started_at", "finished_at")[:20]
    )
    durations = sorted((end - start).total_seconds() for start, end in recent)
    if not durations:
        return None
    median = durations[len(durations) // 2]
    workers = (
        GenerationJob.objects.filter(
            request__model_profile__queue=queue, status=GenerationJob.Status.RUNNING
        )
        .values("worker")
        .distinct()
        .count()
    )
    return median * place / max(workers, 1)


# -- The cap on queued jobs ----------------------------------------------------------------


class QueueFull(ValidationError):
    """A user who already has as many queued jobs as their role may have (HTTP 400)."""


def queue_cap(*, user, organization_id: int) -> int | None:
    """The most queued jobs ``user`` may have in the organisation: the largest cap of their
    roles (``IMPRIMATUR_QUEUE_CAPS``, role → cap, 0 or absent: no cap); None when one of
    their roles has no cap."""
    caps = settings.IMPRIMATUR_QUEUE_CAPS
    found = [caps.get(role) or None for role in user_roles(user, organization_id)]
    if not found or None in found:
        return None
    return max(found)


def queue_cap_check(*, user, organization_id: int) -> None:
    """Refuse a new job from a user whose queued jobs already reach their cap."""
    cap = queue_cap(user=user, organization_id=organization_id)
    if cap is None:
        return
    queued = GenerationJob.objects.filter(
        status=GenerationJob.Status.QUEUED,
        request__created_by=user,
        request__project__organization_id=organization_id,
    ).count()
    if queued >= cap:
        noun = "request" if cap == 1 else "requests"
        raise QueueFull(
            {
                "queue": f"You already have {queued} {noun} waiting to start, the most your "
                f"role may have queued ({cap}). Submit again once one of them has started."
            }
        )
