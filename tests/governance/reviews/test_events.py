"""The audit events of reviews, recorded through ``governance.reviews.events``: the same
actions, actors, targets and data as the services always wrote, and nothing else in the app
calling ``audit_record``."""

import pytest

from governance.audit.models import AuditEvent
from governance.audit.registry import OWNERS
from governance.reviews.events import ACTIONS
from governance.reviews.models import ReviewTask
from governance.reviews.services import task_decide, workflow_update
from tests.governance.reviews.conftest import open_prompt_review, stage

pytestmark = pytest.mark.django_db


def event(action: str) -> AuditEvent:
    return AuditEvent.objects.get(action=action)


def test_every_action_is_registered_by_reviews():
    assert ACTIONS and all(OWNERS[name] == "reviews" for name in ACTIONS)
    assert all(name.startswith("reviews.") and text.strip() for name, text in ACTIONS.items())


def test_workflow_update_is_recorded(acme):
    workflow = workflow_update(
        project=acme.project,
        user=acme.users["admin"],
        stages=[stage("Legal", "compliance"), stage("Brand", "reviewer")],
        distinct_approvers=True,
    )
    recorded = event("reviews.workflow.update")
    assert (recorded.actor_name, recorded.organization_id) == ("acme-admin", acme.organization.pk)
    assert (recorded.target_type, recorded.target_id) == ("reviews.workflow", str(workflow.pk))
    assert recorded.data == {
        "project": acme.project.slug,
        "version": workflow.version,
        "stages": ["Legal", "Brand"],
        "distinct_approvers": True,
    }


def test_opening_deciding_and_ending_are_recorded(acme, review):
    task = review.tasks.get()
    opened = event("reviews.review.open")
    assert (opened.actor_name, opened.target_type, opened.target_id) == (
        "acme-creator",
        "reviews.review",
        str(review.pk),
    )
    assert opened.data == {
        "kind": "prompt",
        "object": f"jobs.generationrequest:{review.object_id}",
        "workflow_version": review.workflow.version,
        "stages": ["Prompt review"],
        "first_task": task.pk,
        "project": acme.project.slug,
    }
    task_decide(task=task, user=acme.users["compliance"], decision="reject", comment="No.")
    decided = event("reviews.task.decide")
    assert (decided.actor_name, decided.target_type, decided.target_id) == (
        "acme-compliance",
        "reviews.reviewtask",
        str(task.pk),
    )
    assert decided.data == {
        "review": review.pk,
        "kind": "prompt",
        "stage": "Prompt review",
        "decision": "reject",
        "comment": "No.",
        "project": acme.project.slug,
    }
    ended = event("reviews.review.end")
    assert (ended.actor_name, ended.target_id, ended.organization_id) == (
        "acme-compliance",
        str(review.pk),
        acme.organization.pk,
    )
    assert ended.data == {"kind": "prompt", "status": "rejected", "project": acme.project.slug}


def test_an_admin_override_is_recorded_with_its_reason(acme, review):
    task = review.tasks.get()
    task_decide(
        task=task, user=acme.users["admin"], decision="approve", override_reason="On holiday."
    )
    override = event("reviews.override")
    assert override.actor_name == "acme-admin" and override.target_id == str(task.pk)
    assert override.data == {
        "review": review.pk,
        "kind": "prompt",
        "stage": "Prompt review",
        "decision": "approve",
        "override_reason": "On holiday.",
        "why_needed": "This stage is decided by the compliance officers.",
        "project": acme.project.slug,
    }
    assert not AuditEvent.objects.filter(action="reviews.task.decide").exists()


def test_an_approval_that_moves_to_the_next_stage_ends_nothing(acme):
    review = open_prompt_review(
        acme, [stage("Legal", "compliance"), stage("Brand", "reviewer", approvals=2)]
    )
    first = review.tasks.get()
    task_decide(task=first, user=acme.users["compliance"], decision="approve")
    assert ReviewTask.objects.filter(review=review).count() == 2
    assert AuditEvent.objects.filter(action="reviews.task.decide").count() == 1
    assert not AuditEvent.objects.filter(action="reviews.review.end").exists()
