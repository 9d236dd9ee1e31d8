"""Fair-share dispatch: the rule alone (no database), the pick and lease on the database
(SQLite or PostgreSQL, whichever DATABASE_URL names), concurrent pickers, the queue cap."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from generation.jobs import worker
from generation.jobs.fairness import Candidate, fair_order, queue_cap
from generation.jobs.models import GenerationJob
from imprimatur.tenancy.models import Membership
from tests.generation.jobs.factories import GenerationJobFactory
from tests.imprimatur.tenancy.factories import BrandProjectFactory, UserFactory

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# -- The rule, as a plain function -------------------------------------------------------------


def test_a_second_users_job_goes_right_after_the_job_that_runs():
    flood = [Candidate(i, 1, "a", 0, at(i)) for i in range(1, 20)]  # A's 19 still queued
    late = Candidate(100, 1, "b", 0, at(30))
    # A's first job started at 20 s: A was served, B never was.
    order = fair_order([*flood, late], {1: at(20)}, {(1, "a"): at(20)})
    assert order[0].job_id == 100
    assert [c.job_id for c in order[1:]] == list(range(1, 20))


def test_users_and_projects_take_turns_least_recently_served_first():
    candidates = [
        Candidate(1, 1, "a", 0, at(1)),
        Candidate(2, 1, "a", 0, at(2)),
        Candidate(3, 1, "b", 0, at(3)),
        Candidate(4, 2, "c", 0, at(4)),
        Candidate(5, 2, "c", 0, at(5)),
    ]
    # Project 2 was served just now, project 1 long ago; within 1, b before a.
    order = fair_order(
        candidates, {1: at(-100), 2: at(10)}, {(1, "a"): at(-100), (1, "b"): at(-200)}
    )
    assert [c.job_id for c in order] == [3, 4, 1, 5, 2]


def test_a_higher_priority_project_goes_first():
    candidates = [Candidate(1, 1, "a", 0, at(1)), Candidate(2, 2, "b", 5, at(2))]
    assert [c.job_id for c in fair_order(candidates, {2: at(50)}, {})] == [2, 1]


def test_without_history_the_oldest_job_goes_first():
    candidates = [Candidate(2, 1, "a", 0, at(2)), Candidate(1, 2, "b", 0, at(1))]
    assert [c.job_id for c in fair_order(candidates, {}, {})] == [1, 2]


# -- On the database ---------------------------------------------------------------------------


def queue_jobs(project, user, count: int) -> list[GenerationJob]:
    return [
        GenerationJobFactory(request__project=project, request__created_by=user)
        for _ in range(count)
    ]


def lease_and_finish(name: str = "w@h:1:1") -> GenerationJob | None:
    """One worker's turn without generating (the pick is what is tested): lease, succeed."""
    job = worker.job_lease_next(queue="gpu", worker=name)
    if job is not None:
        GenerationJob.objects.filter(pk=job.pk).update(status=GenerationJob.Status.SUCCEEDED)
    return job


@pytest.mark.django_db
def test_b_starts_within_the_next_two_jobs_after_a_queued_twenty(acme):
    a, b = acme.users["creator"], acme.users["admin"]
    queue_jobs(acme.project, a, 20)
    first = lease_and_finish()
    assert first.request.created_by == a
    (b_job,) = queue_jobs(acme.project, b, 1)
    following = [lease_and_finish() for _ in range(2)]
    assert b_job.pk in [job.pk for job in following]
    # Nothing lost, nothing twice: the rest are A's, each once.
    rest = []
    while (job := lease_and_finish()) is not None:
        rest.append(job.pk)
    started = [first.pk] + [job.pk for job in following] + rest
    assert len(started) == len(set(started)) == 21


@pytest.mark.django_db
def test_projects_take_turns_and_priority_goes_first(acme):
    other = BrandProjectFactory(organization=acme.organization, slug="other")
    acme.model.projects.add(other)
    user = acme.users["creator"]
    queue_jobs(acme.project, user, 3)
    queue_jobs(other, user, 3)
    projects = [lease_and_finish().request.project_id for _ in range(4)]
    assert projects in (
        [acme.project.pk, other.pk] * 2,
        [other.pk, acme.project.pk] * 2,
    )
    other.queue_priority = 1
    other.save()
    queue_jobs(acme.project, user, 1)
    assert lease_and_finish().request.project_id == other.pk


@pytest.mark.django_db
def test_a_job_of_another_queue_is_not_taken(acme):
    job = GenerationJobFactory(request__project=acme.project)
    job.request.model_profile.queue = "gpu-large"
    job.request.model_profile.save()
    assert worker.job_lease_next(queue="gpu", worker="w@h:1:1") is None
    assert worker.job_lease_next(queue="gpu-large", worker="w@h:1:1").pk == job.pk


@pytest.mark.django_db(transaction=True)
def test_concurrent_pickers_take_every_job_exactly_once(acme):
    jobs = queue_jobs(acme.project, acme.users["creator"], 12)
    taken: list[int] = []
    errors: list[BaseException] = []

    def pick(name: str) -> None:
        try:
            while (job := worker.job_lease_next(queue="gpu", worker=name)) is not None:
                taken.append(job.pk)
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=pick, args=(f"w{i}@h:1:{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(taken) == sorted(job.pk for job in jobs)
    assert set(GenerationJob.objects.values_list("attempts", flat=True)) == {1}


# -- The cap on queued jobs --------------------------------------------------------------------


@pytest.mark.django_db
def test_the_cap_is_the_largest_of_the_users_roles(acme, settings):
    settings.IMPRIMATUR_QUEUE_CAPS = {"creator": 2, "admin": 5, "reviewer": 0}
    assert queue_cap(user=acme.users["creator"], organization_id=acme.organization.pk) == 2
    user = UserFactory()
    Membership.objects.create(user=user, organization=acme.organization, role="creator")
    Membership.objects.create(user=user, organization=acme.organization, role="admin")
    assert queue_cap(user=user, organization_id=acme.organization.pk) == 5
    Membership.objects.create(user=user, organization=acme.organization, role="reviewer")
    assert queue_cap(user=user, organization_id=acme.organization.pk) is None


@pytest.mark.django_db
def test_submitting_past_the_cap_is_refused_saying_the_cap(acme, settings):
    settings.IMPRIMATUR_QUEUE_CAPS = {"creator": 2}
    queue_jobs(acme.project, acme.users["creator"], 2)
    response = acme.client("creator").post(
        f"/api/v1/projects/{acme.project.slug}/requests/",
        {"prompt": "a red star", "model": acme.model.name, "steps": 2},
        format="json",
    )
    assert response.status_code == 400, response.json()
    assert "the most your role may have queued (2)" in str(response.json())
    assert GenerationJob.objects.count() == 2


# -- Through real workers ----------------------------------------------------------------------


@pytest.mark.e2e
def test_through_a_real_worker_b_starts_within_the_next_two_jobs(acme, start_worker):
    from tests.conftest import submit, wait_for

    body = {"prompt": "a red star", "model": acme.model.name, "steps": 4, "width": 64}
    a_requests = [submit(acme, body, role="creator") for _ in range(6)]
    start_worker(hostname="gpu-fair@test")
    wait_for(
        lambda: GenerationJob.objects.filter(status="running").exists(),
        timeout=120,
        what="the first job to start",
    )
    b_user = UserFactory(username="acme-second-creator")
    Membership.objects.create(user=b_user, organization=acme.organization, role="creator")
    acme.users["second"] = b_user
    b_request = submit(acme, body, role="second")
    wait_for(
        lambda: GenerationJob.objects.filter(status="succeeded").count() == 7,
        timeout=300,
        what="every job to succeed",
    )
    order = list(GenerationJob.objects.order_by("started_at").values_list("request_id", flat=True))
    assert sorted(order) == sorted([*a_requests, b_request])  # each once
    running_when_b_came = 1  # at least one of A's had started
    assert order.index(b_request) <= running_when_b_came + 1, order
    assert set(GenerationJob.objects.values_list("attempts", flat=True)) == {1}


@pytest.mark.django_db
def test_the_request_page_shows_the_place_and_whose_turn(acme, client):
    from generation.jobs.fairness import queue_place

    a, b = acme.users["creator"], acme.users["admin"]
    a_jobs = queue_jobs(acme.project, a, 3)
    lease_and_finish()
    (b_job,) = queue_jobs(acme.project, b, 1)
    place = queue_place(b_job)
    assert place.place == 1
    assert place.reason == (
        "This job starts next: its creator has waited longest for a turn in the project."
    )
    assert place.estimate_seconds is None  # no finished job with times to go by
    assert queue_place(a_jobs[2]).place == 3
    client.force_login(a)
    response = client.get(f"/requests/{a_jobs[2].request_id}/")
    assert response.status_code == 200
    text = response.content.decode()
    assert "Place 3 in the queue." in text
    assert "Next to start is a job of this project" in text


@pytest.mark.django_db
def test_a_token_takes_over_only_a_job_whose_worker_died(acme, settings):
    settings.IMPRIMATUR_JOB_LEASE_SECONDS = 30
    job = GenerationJobFactory(request__project=acme.project)
    leased = worker.job_lease_next(queue="gpu", worker="w1@a:100:101")
    assert leased.pk == job.pk
    # Live holder: another process's token runs the next fair job rather than wait.
    assert not worker.job_abandoned(leased, "w2@b:200:201")
    assert not worker.job_abandoned(leased, "w1@a:100:102")  # same live worker, other process
    assert worker.job_abandoned(leased, "w1@a:300:301")  # the same worker, restarted
    GenerationJob.objects.filter(pk=job.pk).update(
        heartbeat_at=leased.heartbeat_at - timedelta(seconds=31)
    )
    leased.refresh_from_db()
    assert worker.job_abandoned(leased, "w2@b:200:201")
