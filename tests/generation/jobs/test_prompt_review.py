"""Prompt review: a prompt that matches a policy ``review`` rule waits for a person's
approval before anything is generated; approval queues it, rejection ends it with the
reason; nobody reviews their own request, admins override only with a reason, and when two
reviewers act at once exactly one decision counts."""

import threading

import pytest
from django.db import connection

from generation.jobs import dispatch
from generation.jobs.models import GenerationJob, GenerationRequest
from governance.audit.models import AuditEvent
from governance.policies.services import policy_create, policy_publish
from governance.reviews.models import Review, ReviewDecision, ReviewTask
from governance.reviews.services import task_decide, workflow_update
from imprimatur.errors import AlreadyDecided
from imprimatur.tenancy.models import Membership
from tests.governance.policies.factories import document, term_rule
from tests.imprimatur.tenancy.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def enqueued(monkeypatch):
    """A fake broker: the job ids that would have been sent to the workers."""
    sent = []
    monkeypatch.setattr(dispatch, "job_send", lambda job_id, queue: sent.append(job_id))
    return sent


@pytest.fixture
def review_policy(acme):
    policy = policy_create(
        organization=acme.organization,
        user=acme.users["admin"],
        draft=document(
            {
                **term_rule("gore", "blood", action="review", category="violence"),
                "explanation": "Blood needs a compliance officer's eye.",
            },
            term_rule("nudity", "nude", category="sexual"),
        ),
    )
    return policy_publish(policy=policy, user=acme.users["admin"])


def member(tenant, name, *roles):
    user = UserFactory(username=f"{tenant.organization.slug}-{name}")
    for role in roles:
        Membership.objects.create(user=user, organization=tenant.organization, role=role)
    tenant.users[name] = user
    return user


def submit(tenant, prompt="a blood red rose", role="creator"):
    return tenant.client(role).post(
        f"/api/v1/projects/{tenant.project.slug}/requests/", {"prompt": prompt}, format="json"
    )


def waiting_request(tenant):
    response = submit(tenant)
    assert response.status_code == 201, response.json()
    request = GenerationRequest.objects.get(pk=response.json()["id"])
    return request, ReviewTask.objects.get(review__object_id=request.pk)


def test_a_review_prompt_waits_for_review_with_no_job(acme, review_policy, enqueued, client):
    request, task = waiting_request(acme)
    assert request.status == "awaiting_review" and request.policy_outcome == "review"
    assert not GenerationJob.objects.exists() and enqueued == []
    review = task.review
    assert (review.kind, review.status, review.requested_by) == (
        "prompt",
        "open",
        request.created_by,
    )
    assert (task.name, task.role, task.status) == ("Prompt review", "compliance", "open")
    assert task.due_at is not None
    assert review.reasons == [
        {
            "rule": "gore",
            "category": "violence",
            "explanation": "Blood needs a compliance officer's eye.",
        }
    ]
    assert AuditEvent.objects.filter(
        action="reviews.review.open", target_id=str(review.pk)
    ).exists()
    client.force_login(acme.users["creator"])
    page = client.get(f"/requests/{request.pk}/").content.decode()
    assert "Waiting for <strong>Prompt review</strong> by a compliance officer" in page
    assert "Withdraw the request" in page


def test_approval_queues_the_job(
    acme, review_policy, enqueued, client, django_capture_on_commit_callbacks
):
    request, task = waiting_request(acme)
    client.force_login(acme.users["compliance"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/reviews/tasks/{task.pk}/", {"decision": "approve"})
    assert response.status_code == 302 and response["Location"] == "/reviews/"
    request.refresh_from_db()
    job = GenerationJob.objects.get(request=request)
    assert request.status == "queued" and enqueued == [job.pk]
    task.refresh_from_db()
    assert (task.status, task.decided_by) == ("approved", acme.users["compliance"])
    assert Review.objects.get().status == "approved"
    transition = AuditEvent.objects.get(action="generation.request.transition")
    assert transition.data == {
        "from": "awaiting_review",
        "to": "queued",
        "project": acme.project.slug,
    }
    assert transition.actor_name == "acme-compliance"


def test_rejection_needs_a_reason_and_ends_the_request_with_it(acme, review_policy, client):
    request, task = waiting_request(acme)
    client.force_login(acme.users["compliance"])
    refused = client.post(f"/reviews/tasks/{task.pk}/", {"decision": "reject"})
    assert refused.status_code == 400
    assert "Say why you reject it" in refused.content.decode()
    response = client.post(
        f"/reviews/tasks/{task.pk}/", {"decision": "reject", "comment": "Too graphic for us."}
    )
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == "rejected"
    assert request.error == "Rejected in prompt review by acme-compliance: Too graphic for us."
    decided = AuditEvent.objects.get(action="reviews.task.decide")
    assert decided.data["comment"] == "Too graphic for us." and decided.data["decision"] == "reject"
    assert not GenerationJob.objects.exists()
    client.force_login(acme.users["creator"])
    page = client.get(f"/requests/{request.pk}/").content.decode()
    assert "Too graphic for us." in page and "Rejected in prompt review" in page


def test_nobody_reviews_their_own_request_and_an_admin_override_needs_a_reason(
    acme, review_policy, enqueued
):
    both = member(acme, "both", "creator", "compliance")
    boss = member(acme, "boss", "creator", "admin")
    response = submit(acme, role="both")
    request = GenerationRequest.objects.get(pk=response.json()["id"])
    task = ReviewTask.objects.get(review__object_id=request.pk)
    with pytest.raises(Exception, match="Nobody reviews their own request"):
        task_decide(task=task, user=both, decision="approve")
    # The reviewer role does not decide a compliance stage.
    with pytest.raises(Exception, match="decided by the compliance officers"):
        task_decide(task=task, user=acme.users["reviewer"], decision="approve")
    with pytest.raises(Exception, match="An admin may override this with a reason"):
        task_decide(task=task, user=boss, decision="approve")
    decision = task_decide(
        task=task, user=boss, decision="approve", override_reason="Compliance is away today."
    )
    assert decision.override_reason == "Compliance is away today."
    event = AuditEvent.objects.get(action="reviews.override")
    assert event.data["override_reason"] == "Compliance is away today."
    assert "compliance officers" in event.data["why_needed"]
    request.refresh_from_db()
    assert request.status == "queued"


def test_the_second_decision_is_told_who_decided_first(acme, review_policy, enqueued):
    member(acme, "compliance-2", "compliance")
    _request, task = waiting_request(acme)
    first = acme.client("compliance").post(
        f"/api/v1/reviews/tasks/{task.pk}/decide/", {"decision": "approve"}, format="json"
    )
    assert first.status_code == 200, first.json()
    assert first.json()["status"] == "approved"
    second = acme.client("compliance-2").post(
        f"/api/v1/reviews/tasks/{task.pk}/decide/",
        {"decision": "reject", "comment": "no"},
        format="json",
    )
    assert second.status_code == 409
    assert second.json()["detail"].startswith("Already decided: approved by acme-compliance at ")
    assert ReviewDecision.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_reviewers_at_once_exactly_one_decision_counts(acme, review_policy, enqueued):
    if connection.vendor != "postgresql":
        pytest.skip("row locks are what is tested; SQLite has none")
    member(acme, "compliance-2", "compliance")
    _request, task = waiting_request(acme)
    barrier = threading.Barrier(2)
    outcomes = {}

    def decide(name, decision):
        try:
            barrier.wait()
            task_decide(task=task, user=acme.users[name], decision=decision, comment="checked")
            outcomes[name] = "decided"
        except AlreadyDecided as error:
            outcomes[name] = str(error)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=decide, args=("compliance", "approve")),
        threading.Thread(target=decide, args=("compliance-2", "reject")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes.values()).count("decided") == 1, outcomes
    [loser] = [text for text in outcomes.values() if text != "decided"]
    assert loser.startswith("Already decided: ")
    assert ReviewDecision.objects.count() == 1
    request = GenerationRequest.objects.get()
    assert request.status in ("queued", "rejected")
    assert GenerationJob.objects.count() == (1 if request.status == "queued" else 0)


def test_the_queue_and_the_navigation_count_show_what_waits_for_me(
    client, acme, globex, review_policy
):
    _request, task = waiting_request(acme)
    client.force_login(acme.users["compliance"])
    page = client.get("/reviews/").content.decode()
    assert f'href="/reviews/tasks/{task.pk}/"' in page and "Prompt review: a blood red rose" in page
    assert '<span class="nav-count" aria-label="1 waiting">1</span>' in page
    task_page = client.get(f"/reviews/tasks/{task.pk}/").content.decode()
    assert '<mark class="match match-review" title="review: violence">blood</mark>' in task_page
    assert "Blood needs a compliance officer" in task_page
    # Reviewers see the queue but not this compliance stage; creators have no queue.
    client.force_login(acme.users["reviewer"])
    assert f"/reviews/tasks/{task.pk}/" not in client.get("/reviews/").content.decode()
    client.force_login(acme.users["creator"])
    assert 'href="/reviews/"' not in client.get("/").content.decode()
    # Another organisation's members cannot open it.
    client.force_login(globex.users["compliance"])
    assert client.get(f"/reviews/tasks/{task.pk}/").status_code == 404
    assert globex.client("compliance").get(f"/api/v1/reviews/tasks/{task.pk}/").status_code == 404


def test_withdrawing_a_waiting_request_takes_it_out_of_the_queue(acme, review_policy):
    request, task = waiting_request(acme)
    response = acme.client("creator").post(f"/api/v1/requests/{request.pk}/cancel/")
    assert response.status_code in (200, 202), response.json()
    request.refresh_from_db()
    task.refresh_from_db()
    assert request.status == "cancelled" and task.status == "withdrawn"
    assert Review.objects.get().status == "withdrawn"
    assert acme.client("compliance").get("/api/v1/reviews/tasks/").json()["count"] == 0


def test_a_new_workflow_version_leaves_open_reviews_as_they_were(acme, review_policy, enqueued):
    _request, old_task = waiting_request(acme)
    workflow_update(
        project=acme.project,
        user=acme.users["admin"],
        stages=[
            {"name": "Two officers", "role": "compliance", "approvals": 2, "kinds": ["prompt"],
             "when": "prompt_review"},
        ],
    )  # fmt: skip
    member(acme, "compliance-2", "compliance")
    # The open review keeps its one-approval stage of version 1.
    task_decide(task=old_task, user=acme.users["compliance"], decision="approve")
    assert Review.objects.get(pk=old_task.review_id).status == "approved"
    # A new request gets version 2: one approval is not enough.
    request, task = waiting_request(acme)
    assert task.review.workflow.version == 2 and task.approvals_needed == 2
    task_decide(task=task, user=acme.users["compliance"], decision="approve")
    task.refresh_from_db()
    assert task.status == "open"
    with pytest.raises(Exception, match="already decided this stage"):
        task_decide(task=task, user=acme.users["compliance"], decision="approve")
    task_decide(task=task, user=acme.users["compliance-2"], decision="approve")
    request.refresh_from_db()
    assert request.status == "queued"


def test_without_a_prompt_stage_a_review_prompt_is_refused(acme, review_policy):
    workflow_update(
        project=acme.project,
        user=acme.users["admin"],
        stages=[{"name": "Brand", "role": "reviewer", "kinds": ["asset"]}],
    )
    response = submit(acme)
    assert response.status_code == 400
    assert "has no prompt review stage" in response.json()["errors"]["prompt"][0]
    assert not GenerationRequest.objects.exists()


def test_a_different_person_at_each_stage_when_the_workflow_asks(acme, review_policy, enqueued):
    workflow_update(
        project=acme.project,
        user=acme.users["admin"],
        distinct_approvers=True,
        stages=[
            {"name": "First", "role": "compliance", "kinds": ["prompt"], "when": "prompt_review"},
            {"name": "Second", "role": "compliance", "kinds": ["prompt"], "when": "prompt_review"},
        ],
    )
    member(acme, "compliance-2", "compliance")
    request, first = waiting_request(acme)
    task_decide(task=first, user=acme.users["compliance"], decision="approve")
    second = ReviewTask.objects.get(review=first.review, stage_index=1)
    with pytest.raises(Exception, match="different person at each stage"):
        task_decide(task=second, user=acme.users["compliance"], decision="approve")
    task_decide(task=second, user=acme.users["compliance-2"], decision="approve")
    request.refresh_from_db()
    assert request.status == "queued"
