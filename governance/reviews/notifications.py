"""Review notifications: an in-app inbox and email, when a task waits for someone, when a
review is decided, and when a task is overdue (a reminder, then an escalation to admins).

Emails go once the transaction that caused them commits (Django's email backend: the console
in development, SMTP from ``EMAIL_URL`` in production); the inbox rows are written in it.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mass_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from governance.reviews import events
from governance.reviews.models import Notification, Review, ReviewTask
from governance.reviews.registry import reviewable_type
from imprimatur.tenancy.models import Membership
from imprimatur.tenancy.permissions import Role

logger = logging.getLogger(__name__)


def _members(organization_id: int, role: str, *, exclude=()):
    users = (
        Membership.objects.filter(organization_id=organization_id, role=role)
        .select_related("user")
        .order_by("user_id")
    )
    excluded = {getattr(user, "pk", user) for user in exclude}
    return [m.user for m in users if m.user.is_active and m.user.pk not in excluded]


def notify(users, *, kind: str, review: Review, task: ReviewTask | None, message: str, url: str):
    """Put the message in each user's inbox and email those with an address."""
    created = Notification.objects.bulk_create(
        [
            Notification(
                user=user, kind=kind, review=review, task=task, message=message[:500], url=url
            )
            for user in users
        ]
    )
    mails = [
        (
            f"[Imprimatur] {message[:120]}",
            f"{message}\n\n{settings.IMPRIMATUR_BASE_URL}{url}\n",
            settings.DEFAULT_FROM_EMAIL,
            [user.email],
        )
        for user in users
        if user.email
    ]
    if mails:

        def send() -> None:
            try:
                send_mass_mail(mails, fail_silently=False)
            except Exception:  # the inbox has it; a mail server hiccup must not undo a decision
                logger.exception("Review notification emails could not be sent")

        transaction.on_commit(send)
    return created


def task_url(task: ReviewTask) -> str:
    return reverse("reviews:task", args=[task.pk])


def on_task_created(task: ReviewTask) -> None:
    review = task.review
    notify(
        _members(review.organization_id, task.role, exclude=[review.requested_by_id]),
        kind=Notification.Kind.ASSIGNED,
        review=review,
        task=task,
        message=f"{review.get_kind_display()} waits for you ({task.name}): {review.title}",
        url=task_url(task),
    )


def on_review_ended(review: Review, decision) -> None:
    if review.status == Review.Status.WITHDRAWN:
        return
    words = {
        Review.Status.APPROVED: "approved",
        Review.Status.REJECTED: "rejected",
        Review.Status.CHANGES_REQUESTED: "needs changes, asked",
    }[review.status]
    who = f" by {decision.user.get_username()}" if decision else ""
    comment = f": “{decision.comment}”" if decision and decision.comment else ""
    notify(
        [review.requested_by],
        kind=Notification.Kind.DECIDED,
        review=review,
        task=None,
        message=f"{review.get_kind_display()} {words}{who}{comment} ({review.title})",
        url=reviewable_type(review.kind).url(review.target),
    )


def remind_overdue(*, now=None) -> dict:
    """Remind the role of each open task past its due time (once); escalate to the project's
    admins a task still open when it is overdue by its whole allowed time again (once).
    Returns how many tasks were reminded and escalated."""
    now = now or timezone.now()
    counts = {"reminded": 0, "escalated": 0}
    overdue = ReviewTask.objects.filter(
        status=ReviewTask.Status.OPEN, due_at__lt=now
    ).select_related("review")
    for task in overdue:
        with transaction.atomic():
            task = (
                ReviewTask.objects.select_for_update(of=("self",))
                .select_related("review")
                .get(pk=task.pk)
            )
            if task.status != ReviewTask.Status.OPEN:
                continue
            review = task.review
            late = now - task.due_at
            if task.reminded_at is None:
                notify(
                    _members(review.organization_id, task.role, exclude=[review.requested_by_id]),
                    kind=Notification.Kind.OVERDUE,
                    review=review,
                    task=task,
                    message=f"Overdue since {timezone.localtime(task.due_at):%d %b %H:%M}: "
                    f"{task.name} of {review.title}",
                    url=task_url(task),
                )
                task.reminded_at = now
                task.save(update_fields=["reminded_at"])
                events.task_reminded(task=task, late=late)
                counts["reminded"] += 1
            allowed = task.due_at - task.created_at
            if task.escalated_at is None and late >= max(allowed, timedelta(minutes=1)):
                notify(
                    _members(review.organization_id, Role.ADMIN, exclude=[review.requested_by_id]),
                    kind=Notification.Kind.ESCALATED,
                    review=review,
                    task=task,
                    message=f"Escalated: {task.name} of {review.title} is overdue by "
                    f"{_hours(late)}",
                    url=task_url(task),
                )
                task.escalated_at = now
                task.save(update_fields=["escalated_at"])
                events.task_escalated(task=task, late=late)
                counts["escalated"] += 1
    return counts


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.0f} hours" if hours >= 2 else f"{delta.total_seconds() / 60:.0f} minutes"
