"""Writes for reviews: workflows, opening a review, deciding its tasks, and the guarded
status changes (``REVIEW_MOVES``, ``TASK_MOVES``) every decision and withdrawal goes through.

Deciding locks the review and task rows, so when two reviewers act on the same task at once
exactly one decision counts and the other is told who decided (``AlreadyDecided``). When a
review ends, ``review_decided`` is sent inside the same transaction, so what the app that
owns the object does in reply (queue the job, end the request) commits or rolls back with
the decision.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from governance.reviews import events, notifications, selectors
from governance.reviews.models import Review, ReviewDecision, ReviewTask, Workflow
from governance.reviews.registry import reviewable_type
from governance.reviews.stages import DEFAULT_STAGES, stages_clean, stages_for
from imprimatur.errors import AlreadyDecided, InvalidTransition
from imprimatur.tenancy.models import BrandProject
from imprimatur.tenancy.permissions import Role, user_roles

#: Sent when a review ends: ``review`` (approved, rejected, changes requested or withdrawn)
#: and ``decision``
#: (the ReviewDecision that ended it; None when withdrawn).
review_decided = Signal()
#: Sent when a review stage opens and waits for its role's reviewers: ``task`` (the
#: ReviewTask), inside the transaction that creates it (webhooks: ``review.task.assigned``).
task_opened = Signal()


# --- Workflows ------------------------------------------------------------------------------


def workflow_current(*, project: BrandProject) -> Workflow:
    """The project's latest workflow version; the default one is made on first use."""
    workflow = Workflow.objects.filter(project=project).order_by("-version").first()
    if workflow is not None:
        return workflow
    with transaction.atomic():
        BrandProject.objects.select_for_update().filter(pk=project.pk).first()
        workflow = Workflow.objects.filter(project=project).order_by("-version").first()
        if workflow is None:
            workflow = Workflow.objects.create(project=project, version=1, stages=DEFAULT_STAGES)
    return workflow


@transaction.atomic
def workflow_update(
    *, project: BrandProject, user, stages, distinct_approvers: bool = False
) -> Workflow:
    """Save the stages as the project's next workflow version (admins only). Open reviews
    keep the version they were opened with."""
    if not selectors.is_admin(user=user, organization_id=project.organization_id):
        raise PermissionDenied("Only admins of the organisation change review workflows.")
    clean = stages_clean(stages)
    BrandProject.objects.select_for_update().filter(pk=project.pk).first()
    latest = Workflow.objects.filter(project=project).order_by("-version").first()
    workflow = Workflow.objects.create(
        project=project,
        version=(latest.version + 1) if latest else 1,
        stages=clean,
        distinct_approvers=bool(distinct_approvers),
        created_by=user,
    )
    events.workflow_updated(workflow=workflow, user=user)
    return workflow


# --- Opening --------------------------------------------------------------------------------


def _task_create(review: Review, index: int) -> ReviewTask:
    stage = review.stages[index]
    due = stage.get("due_hours")
    task = ReviewTask.objects.create(
        review=review,
        stage_index=index,
        name=stage["name"],
        role=stage["role"],
        approvals_needed=stage["approvals"],
        due_at=timezone.now() + timedelta(hours=due) if due else None,
    )
    notifications.on_task_created(task)
    task_opened.send(sender=ReviewTask, task=task)
    return task


def review_open(
    *,
    target,
    kind: str,
    project: BrandProject,
    requested_by,
    title: str,
    facts: set[str] = frozenset(),
    reasons: list | None = None,
    conditional_only: bool = False,
) -> Review | None:
    """Open the review of ``target`` by the project's current workflow, or return None when
    no stage applies to it. Call it inside the transaction that writes the target.

    ``conditional_only`` leaves out the stages that apply ``always``: for an object that
    only the stages of its conditions may see (a quarantined image)."""
    reviewable_type(kind)  # an unregistered kind is a programming error
    workflow = workflow_current(project=project)
    stages = stages_for(workflow.stages, kind=kind, facts=set(facts))
    if conditional_only:
        stages = [stage for stage in stages if stage["when"] != "always"]
    if not stages:
        return None
    review = Review.objects.create(
        kind=kind,
        content_type=ContentType.objects.get_for_model(target),
        object_id=target.pk,
        organization_id=project.organization_id,
        project=project,
        workflow=workflow,
        stages=stages,
        title=title[:300],
        reasons=reasons or [],
        requested_by=requested_by,
    )
    task = _task_create(review, 0)
    events.review_opened(review=review, first_task=task)
    return review


# --- Deciding -------------------------------------------------------------------------------


def task_may_decide(*, task: ReviewTask, user) -> tuple[bool, str]:
    """Whether ``user`` may decide the task without an override, and if not, why."""
    review = task.review
    roles = user_roles(user, review.organization_id)
    if user.pk == review.requested_by_id:
        return False, "Nobody reviews their own request."
    if task.role not in roles:
        return False, f"This stage is decided by the {Role(task.role).label.lower()}s."
    if task.decisions.filter(user=user).exists():
        return False, "You have already decided this stage."
    if (
        review.workflow.distinct_approvers
        and ReviewDecision.objects.filter(task__review=review, user=user)
        .exclude(task=task)
        .exists()
    ):
        return False, (
            "You decided an earlier stage of this review; the workflow asks for a different "
            "person at each stage."
        )
    return True, ""


@transaction.atomic
def task_decide(
    *, task: ReviewTask, user, decision: str, comment: str = "", override_reason: str = ""
) -> ReviewDecision:
    """Record one reviewer's decision on a task, and move the review on when the task is
    decided. An admin may decide outside the rules (own request, another role's stage) only
    with an ``override_reason``, recorded and audited as an override."""
    if decision not in ReviewDecision.Decision.values:
        raise ValidationError({"decision": "Decide approve, reject or request changes."})
    comment = (comment or "").strip()
    override_reason = (override_reason or "").strip()
    if decision == ReviewDecision.Decision.REJECT and not comment:
        raise ValidationError({"comment": "Say why you reject it: the creator reads this."})
    if decision == ReviewDecision.Decision.CHANGES and not comment:
        raise ValidationError({"comment": "Say what to change: the creator reads this."})
    # The review's row first, as review_withdraw and review_transition take it: one lock
    # order, and no next stage opens while the review is being withdrawn.
    Review.objects.select_for_update().filter(pk=task.review_id).first()
    task = (
        ReviewTask.objects.select_for_update(of=("self",))
        .select_related("review__project__organization", "decided_by")
        .get(pk=task.pk)
    )
    review = task.review
    if task.status != ReviewTask.Status.OPEN:
        who = task.decided_by.get_username() if task.decided_by else "the system"
        when = timezone.localtime(task.decided_at).strftime("%d %b %Y %H:%M")
        raise AlreadyDecided(
            f"Already decided: {task.get_status_display().lower()} by {who} at {when}."
        )
    allowed, why = task_may_decide(task=task, user=user)
    override = False
    if not allowed:
        is_admin = selectors.is_admin(user=user, organization_id=review.organization_id)
        already = task.decisions.filter(user=user).exists()
        if not is_admin or already:
            raise PermissionDenied(why)
        if not override_reason:
            raise PermissionDenied(f"{why} An admin may override this with a reason.")
        override = True
    elif override_reason:
        raise ValidationError({"override_reason": "No override is needed here."})
    recorded = ReviewDecision.objects.create(
        task=task,
        user=user,
        decision=decision,
        comment=comment,
        override_reason=override_reason if override else "",
    )
    if override:
        events.task_overridden(decision=recorded, why_needed=why)
    else:
        events.task_decided(decision=recorded)
    approvals = task.decisions.filter(decision=ReviewDecision.Decision.APPROVE).count()
    if decision == ReviewDecision.Decision.REJECT:
        task_transition(task=task, to=ReviewTask.Status.REJECTED, actor=user)
        review_transition(review=review, to=Review.Status.REJECTED, actor=user, decision=recorded)
    elif decision == ReviewDecision.Decision.CHANGES:
        # Ends this review: the creator revises and submits again (a new review).
        task_transition(task=task, to=ReviewTask.Status.CHANGES_REQUESTED, actor=user)
        review_transition(
            review=review, to=Review.Status.CHANGES_REQUESTED, actor=user, decision=recorded
        )
    elif approvals >= task.approvals_needed:
        task_transition(task=task, to=ReviewTask.Status.APPROVED, actor=user)
        if task.stage_index + 1 < len(review.stages):
            _task_create(review, task.stage_index + 1)
        else:
            review_transition(
                review=review, to=Review.Status.APPROVED, actor=user, decision=recorded
            )
    return recorded


@dataclass
class BulkApproval:
    """What ``tasks_bulk_approve`` did: the tasks approved, and why each other one was not."""

    approved: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)


def tasks_bulk_approve(*, user, task_ids, comment: str = "") -> BulkApproval:
    """Approve the tasks with one comment. Each is decided on its own, in its own
    transaction with its own locks and rules, so one refusal undoes no other approval."""
    result = BulkApproval()
    for pk in task_ids:
        task = selectors.task_find(user=user, pk=pk)
        if task is None:
            result.refused[pk] = selectors.NO_SUCH_TASK
            continue
        try:
            task_decide(
                task=task, user=user, decision=ReviewDecision.Decision.APPROVE, comment=comment
            )
        except ValidationError as error:
            result.refused[pk] = " ".join(error.messages)
        except (AlreadyDecided, InvalidTransition, PermissionDenied) as error:
            result.refused[pk] = str(error)
        else:
            result.approved.append(pk)
    return result


@transaction.atomic
def review_withdraw(*, review: Review, reason: str) -> Review:
    """End an open review without a decision (its object was cancelled), withdrawing its
    open tasks. A review that has ended already is returned as it is."""
    review = Review.objects.select_for_update().get(pk=review.pk)
    if review.status != Review.Status.OPEN:
        return review
    for task in review.tasks.filter(status=ReviewTask.Status.OPEN):
        task_transition(task=task, to=ReviewTask.Status.WITHDRAWN, reason=reason)
    review.reasons = [*review.reasons, {"withdrawn": reason}]
    review.save(update_fields=["reasons"])
    return review_transition(review=review, to=Review.Status.WITHDRAWN)


# --- Transitions ----------------------------------------------------------------------------

#: Every status change of a review: it is open until it ends, once.
REVIEW_MOVES: dict[str, frozenset[str]] = {
    Review.Status.OPEN: frozenset(
        {
            Review.Status.APPROVED,
            Review.Status.REJECTED,
            Review.Status.CHANGES_REQUESTED,
            Review.Status.WITHDRAWN,
        }
    ),
}

#: Every status change of a review task: decided (or withdrawn with its review) once.
TASK_MOVES: dict[str, frozenset[str]] = {
    ReviewTask.Status.OPEN: frozenset(
        {
            ReviewTask.Status.APPROVED,
            ReviewTask.Status.REJECTED,
            ReviewTask.Status.CHANGES_REQUESTED,
            ReviewTask.Status.WITHDRAWN,
        }
    ),
}


@transaction.atomic
def task_transition(*, task: ReviewTask, to: str, actor=None, reason: str = "") -> ReviewTask:
    """Move the task to ``to`` if ``TASK_MOVES`` allows it, else ``InvalidTransition``;
    ``actor`` decided it (None: withdrawn). A decided task's audit event is its decision's,
    written by ``task_decide``; a withdrawn one records ``reviews.task.withdraw``."""
    task = (
        ReviewTask.objects.select_for_update(of=("self",))
        .select_related("review__project__organization")
        .get(pk=task.pk)
    )
    if to not in TASK_MOVES.get(task.status, ()):
        raise InvalidTransition(task, task.status, to)
    task.status = to
    task.decided_at = timezone.now()
    task.decided_by = actor
    task.save(update_fields=["status", "decided_at", "decided_by"])
    if to == ReviewTask.Status.WITHDRAWN:
        events.task_withdrawn(task=task, reason=reason)
    return task


@transaction.atomic
def review_transition(
    *, review: Review, to: str, actor=None, decision: ReviewDecision | None = None
) -> Review:
    """End the review as ``to`` if ``REVIEW_MOVES`` allows it, else ``InvalidTransition``:
    audited as ``reviews.review.end``, then ``review_decided`` is sent (once, in this
    transaction) and the requester is notified. ``decision``: the one that ended it, given
    for every end but a withdrawal; ``actor``: who made it (by default its reviewer)."""
    review = (
        Review.objects.select_for_update(of=("self",))
        .select_related("project__organization")
        .get(pk=review.pk)
    )
    if to not in REVIEW_MOVES.get(review.status, ()):
        raise InvalidTransition(review, review.status, to)
    if (decision is None) != (to == Review.Status.WITHDRAWN):
        raise ValueError("A review ends by a decision, or is withdrawn without one.")
    if actor is None and decision is not None:
        actor = decision.user
    review.status = to
    review.decided_at = timezone.now()
    review.save(update_fields=["status", "decided_at"])
    events.review_ended(review=review, actor=actor)
    review_decided.send(sender=Review, review=review, decision=decision)
    notifications.on_review_ended(review, decision)
    return review
