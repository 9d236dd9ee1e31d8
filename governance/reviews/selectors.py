"""Reads for reviews, scoped to the organisations and roles of the user (as
``imprimatur.tenancy.permissions`` reads them)."""

from django.db.models import Exists, OuterRef, Q
from django.http import Http404
from django.utils import timezone

from governance.reviews.models import REVIEW_ROLES, Review, ReviewTask
from imprimatur.tenancy.models import BrandProject
from imprimatur.tenancy.permissions import Role, user_roles, user_roles_by_organization
from imprimatur.tenancy.selectors import project_choose

NO_SUCH_TASK = "No such review task."


def task_list(*, user, status: str | None = ReviewTask.Status.OPEN):
    """Tasks in the user's organisations that their role acts on (open ones by default)."""
    by_role = Q(pk__in=[])
    for organization_id, roles in user_roles_by_organization(user).items():
        by_role |= Q(review__organization_id=organization_id, role__in=roles)
    tasks = ReviewTask.objects.filter(by_role).select_related(
        "review__project", "review__requested_by"
    )
    if status:
        tasks = tasks.filter(status=status)
    return tasks.order_by("due_at", "pk")


def task_waiting_count(*, user) -> int:
    """What waits for this user: open tasks of their roles, not of their own requests."""
    return task_list(user=user).exclude(review__requested_by=user).count()


def task_find(*, user, pk: int) -> ReviewTask | None:
    """Any task of the user's organisations that reviewers, compliance or admins may see, or
    None."""
    return (
        ReviewTask.objects.filter(pk=pk, review__organization_id__in=_review_organizations(user))
        .select_related("review__project__organization", "review__requested_by", "decided_by")
        .first()
    )


def task_get(*, user, pk: int) -> ReviewTask:
    """``task_find``, or a 404 (for the pages and the API)."""
    found = task_find(user=user, pk=pk)
    if found is None:
        raise Http404(NO_SUCH_TASK)
    return found


def reviews_of(*, target) -> list[Review]:
    """The reviews of one object, newest first (for the object's own page)."""
    from django.contrib.contenttypes.models import ContentType

    return list(
        Review.objects.filter(
            content_type=ContentType.objects.get_for_model(target), object_id=target.pk
        ).prefetch_related("tasks__decisions__user")
    )


def is_overdue(task: ReviewTask) -> bool:
    return (
        task.status == ReviewTask.Status.OPEN
        and task.due_at is not None
        and (task.due_at < timezone.now())
    )


def inbox_list(*, user):
    """The user's inbox, newest first: news (decisions on their requests) and, for each task
    still open, its latest message (a reminder replaces the assignment). Messages about a
    task that was decided or withdrawn, by whoever, have left it."""
    from governance.reviews.models import Notification

    newer = Notification.objects.filter(user=user, task=OuterRef("task"), pk__gt=OuterRef("pk"))
    return (
        Notification.objects.filter(user=user)
        .filter(Q(task__isnull=True) | Q(task__status=ReviewTask.Status.OPEN))
        .exclude(Q(task__isnull=False) & Exists(newer))
        .order_by("-created_at", "-pk")
    )


def unread_count(*, user) -> int:
    """The Inbox badge: what ``inbox_list`` shows unread."""
    return inbox_list(user=user).filter(read_at__isnull=True).count()


#: Who sees review tasks and workflows in an organisation.


def _review_organizations(user) -> list[int]:
    """The organisations where ``user`` holds one of ``REVIEW_ROLES``."""
    return [
        organization_id
        for organization_id, roles in user_roles_by_organization(user).items()
        if roles & REVIEW_ROLES
    ]


def is_admin(*, user, organization_id: int) -> bool:
    return Role.ADMIN in user_roles(user, organization_id)


def workflow_projects(*, user):
    """Projects whose workflow the user may read: reviewers, compliance officers and admins."""
    return (
        BrandProject.objects.filter(organization_id__in=_review_organizations(user))
        .select_related("organization")
        .order_by("name")
    )


def workflow_project_get(
    *, user, slug: str, organization: str | None = None
) -> tuple[BrandProject, bool]:
    """The project by slug (and organisation slug, when several of the user's organisations
    use it), if the user may read its workflow, and whether they may edit it (admins)."""
    project = project_choose(workflow_projects(user=user), slug=slug, organization=organization)
    return project, is_admin(user=user, organization_id=project.organization_id)


def review_decisions(review: Review) -> list:
    """Every decision of a review, in the order they were made (uses ``reviews_of``'s
    prefetch when the review came from there)."""
    decisions = [d for task in review.tasks.all() for d in task.decisions.all()]
    return sorted(decisions, key=lambda decision: decision.pk)


def review_last_decision(review: Review | None):
    """The decision that ended a decided review (approved, rejected, changes requested)."""
    if review is None or review.status in (Review.Status.OPEN, Review.Status.WITHDRAWN):
        return None
    decisions = review_decisions(review)
    return decisions[-1] if decisions else None
