"""The audit events this app records: their names and meanings (``ACTIONS``, registered from
``AppConfig.ready``; see ``governance.audit.registry``), and one function per event, the only
place in the app that calls ``audit_record``. Call them inside the transaction of the change.
"""

from datetime import timedelta

from governance.audit.services import audit_record

ACTIONS: dict[str, str] = {
    "reviews.workflow.update": "An admin saved a new version of a project's review workflow.",
    "reviews.review.open": "An object was sent to review.",
    "reviews.task.decide": "A reviewer approved or rejected a review stage.",
    "reviews.override": "An admin decided a review stage outside the rules, with a reason.",
    "reviews.task.remind": "A review stage was overdue: its reviewers were reminded.",
    "reviews.task.escalate": "A review stage stayed overdue: it was escalated to the admins.",
    "reviews.task.withdraw": "An open review stage ended undecided: its review was withdrawn.",
    "reviews.review.end": "A review ended: approved, rejected or withdrawn.",
}


def workflow_updated(*, workflow, user) -> None:
    project = workflow.project
    audit_record(
        action="reviews.workflow.update",
        actor=user,
        organization=project.organization,
        target=workflow,
        data={
            "project": project.slug,
            "version": workflow.version,
            "stages": [stage["name"] for stage in workflow.stages],
            "distinct_approvers": workflow.distinct_approvers,
        },
    )


def review_opened(*, review, first_task) -> None:
    content_type = review.content_type
    audit_record(
        action="reviews.review.open",
        actor=review.requested_by,
        organization=review.project.organization,
        target=review,
        project=review.project,
        data={
            "kind": review.kind,
            "object": f"{content_type.app_label}.{content_type.model}:{review.object_id}",
            "workflow_version": review.workflow.version,
            "stages": [stage["name"] for stage in review.stages],
            "first_task": first_task.pk,
        },
    )


def _decision_data(decision) -> dict:
    task = decision.task
    return {
        "review": task.review.pk,
        "kind": task.review.kind,
        "stage": task.name,
        "decision": decision.decision,
        **({"comment": decision.comment} if decision.comment else {}),
    }


def task_decided(*, decision) -> None:
    """A reviewer's decision by the rules (``reviews.task.decide``)."""
    review = decision.task.review
    audit_record(
        action="reviews.task.decide",
        actor=decision.user,
        organization=review.project.organization,
        target=decision.task,
        project=review.project,
        data=_decision_data(decision),
    )


def task_overridden(*, decision, why_needed: str) -> None:
    """An admin's decision outside the rules (``reviews.override``): the reason given and the
    rule it overrode."""
    review = decision.task.review
    audit_record(
        action="reviews.override",
        actor=decision.user,
        organization=review.project.organization,
        target=decision.task,
        project=review.project,
        data={
            **_decision_data(decision),
            "override_reason": decision.override_reason,
            "why_needed": why_needed,
        },
    )


def task_withdrawn(*, task, reason: str) -> None:
    """An open task ended undecided because its review was withdrawn (``reason``: why)."""
    review = task.review
    audit_record(
        action="reviews.task.withdraw",
        organization=review.project.organization,
        target=task,
        project=review.project,
        data={"review": review.pk, "kind": review.kind, "stage": task.name, "reason": reason},
    )


def review_ended(*, review, actor) -> None:
    audit_record(
        action="reviews.review.end",
        actor=actor,
        organization=review.project.organization,
        target=review,
        project=review.project,
        data={"kind": review.kind, "status": review.status},
    )


def _overdue_data(task, late: timedelta) -> dict:
    return {
        "review": task.review.pk,
        "kind": task.review.kind,
        "stage": task.name,
        "role": task.role,
        "due_at": task.due_at.isoformat(),
        "late_minutes": round(late.total_seconds() / 60),
    }


def task_reminded(*, task, late: timedelta) -> None:
    review = task.review
    audit_record(
        action="reviews.task.remind",
        organization=review.organization,
        target=task,
        project=review.project,
        data=_overdue_data(task, late),
    )


def task_escalated(*, task, late: timedelta) -> None:
    review = task.review
    audit_record(
        action="reviews.task.escalate",
        organization=review.organization,
        target=task,
        project=review.project,
        data=_overdue_data(task, late),
    )
