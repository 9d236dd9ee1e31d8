"""Approval workflows over any reviewable object (issue 8).

A project's ``Workflow`` is an ordered list of stages; editing it makes a new version, and a
``Review`` keeps the version it was opened with. A review walks its stages one
``ReviewTask`` at a time; each reviewer's ``ReviewDecision`` is recorded, and a task is
decided once its stage has the approvals it needs (or at the first rejection).

What is reviewed is generic (a content type and id): ``generation.jobs`` registers its
requests for prompt review (see ``registry``); governance never imports generation.
"""

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.urls import reverse

from imprimatur.tenancy.models import BrandProject, Organization
from imprimatur.tenancy.permissions import OrganizationScoped, Role, user_roles


class Workflow(OrganizationScoped):
    """One version of a project's review stages (see ``stages.py`` for their format)."""

    project = models.ForeignKey(BrandProject, on_delete=models.PROTECT, related_name="workflows")
    version = models.PositiveIntegerField()
    stages = models.JSONField()
    distinct_approvers = models.BooleanField(
        default=False,
        help_text="One person may not approve two stages of the same review.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty: the default workflow the platform gave the project.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    organization_path = "project__organization"

    class Meta:
        ordering = ["project", "version"]
        constraints = [
            models.UniqueConstraint(fields=["project", "version"], name="workflow_unique_version")
        ]

    def __str__(self) -> str:
        return f"Workflow v{self.version} of {self.project}"

    def get_absolute_url(self) -> str:
        return reverse("reviews:workflow", args=[self.project.slug])


class Review(OrganizationScoped):
    """The review of one object: open until a stage rejects it or the last stage approves."""

    class Status(models.TextChoices):
        OPEN = "open", "Waiting for review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        CHANGES_REQUESTED = "changes", "Changes requested"
        WITHDRAWN = "withdrawn", "Withdrawn"

    kind = models.CharField(max_length=30, help_text="The registered reviewable type.")
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT)
    object_id = models.PositiveBigIntegerField()
    target = GenericForeignKey("content_type", "object_id")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    project = models.ForeignKey(BrandProject, on_delete=models.PROTECT, related_name="reviews")
    workflow = models.ForeignKey(Workflow, on_delete=models.PROTECT, related_name="reviews")
    stages = models.JSONField(help_text="The workflow's stages that apply to this review.")
    title = models.CharField(max_length=300)
    reasons = models.JSONField(default=list, blank=True, help_text="Why it needs review.")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["content_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.title}"

    def get_absolute_url(self) -> str:
        """The page of the object under review (where its review is shown)."""
        from governance.reviews.registry import reviewable_type

        return reviewable_type(self.kind).url(self.target)

    def get_kind_display(self) -> str:
        from governance.reviews.registry import reviewable_label

        return reviewable_label(self.kind)


#: The roles that see an organisation's review tasks (the queue, a task's page).
REVIEW_ROLES = frozenset({Role.REVIEWER, Role.COMPLIANCE, Role.ADMIN})


class ReviewTask(OrganizationScoped):
    """One stage of a review, acted on by members of one role."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        CHANGES_REQUESTED = "changes", "Changes requested"
        WITHDRAWN = "withdrawn", "Withdrawn"

    review = models.ForeignKey(Review, on_delete=models.PROTECT, related_name="tasks")
    stage_index = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=100)
    role = models.CharField(max_length=20, choices=Role.choices)
    approvals_needed = models.PositiveSmallIntegerField(default=1)
    due_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Whose decision closed the task.",
    )
    # Overdue handling (Celery beat): reminded once, then escalated to the project's admins.
    reminded_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)

    organization_path = "review__organization"

    class Meta:
        ordering = ["due_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["review", "stage_index"], name="reviewtask_one_per_stage"
            )
        ]
        indexes = [
            models.Index(fields=["status", "role"]),
            # The queue: open tasks, soonest due first (a partial index stays small).
            models.Index(
                fields=["due_at", "id"],
                condition=models.Q(status="open"),
                name="reviewtask_open_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name}: {self.review}"

    def get_absolute_url(self) -> str:
        return reverse("reviews:task", args=[self.pk])

    def page_visible_to(self, user) -> bool:
        """Whether ``user`` may open ``get_absolute_url``: a task is for its organisation's
        reviewers, compliance officers and admins (``selectors.task_find``)."""
        return bool(user_roles(user, self.review.organization_id) & REVIEW_ROLES)


class ReviewDecision(OrganizationScoped):
    class Decision(models.TextChoices):
        APPROVE = "approve", "Approve"
        REJECT = "reject", "Reject"
        CHANGES = "changes", "Request changes"

    task = models.ForeignKey(ReviewTask, on_delete=models.PROTECT, related_name="decisions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=10, choices=Decision.choices)
    comment = models.TextField(blank=True)
    override_reason = models.TextField(
        blank=True, help_text="Set when an admin decided outside the rules, and why."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    organization_path = "task__review__organization"

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["task", "user"], name="reviewdecision_once_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.decision}d {self.task}"


class Notification(models.Model):
    """One message in a user's inbox (also sent by email): a task assigned to their role,
    their request decided, a task overdue or escalated to them."""

    class Kind(models.TextChoices):
        ASSIGNED = "assigned", "Waiting for you"
        DECIDED = "decided", "Decided"
        OVERDUE = "overdue", "Overdue"
        ESCALATED = "escalated", "Escalated to you"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="notifications")
    task = models.ForeignKey(
        ReviewTask, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    message = models.CharField(max_length=500)
    url = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["user", "read_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.message}"
