"""Prompt policies: an editable draft per organisation or project, and immutable versions.

The organisation policy applies to every project; a project policy holds that project's
additions. Requests are judged by the latest published version of each (see services).
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils import timezone

from governance.policies.documents import document_clean, empty_document
from imprimatur.tenancy.models import BrandProject, Organization
from imprimatur.tenancy.permissions import OrganizationScoped, RestrictedQuerySet


class Policy(OrganizationScoped):
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="policies"
    )
    project = models.ForeignKey(
        BrandProject,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="policies",
        help_text="Empty: the organisation policy. Set: that project's additions to it.",
    )
    name = models.CharField(max_length=200, blank=True)
    draft = models.JSONField(default=empty_document, help_text="The document being edited.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization", "project", "id"]
        verbose_name_plural = "policies"
        constraints = [
            models.UniqueConstraint(
                fields=["organization"],
                condition=models.Q(project__isnull=True),
                name="policy_one_per_organization",
                violation_error_message="This organisation already has a policy.",
            ),
            models.UniqueConstraint(
                fields=["project"],
                name="policy_one_per_project",
                violation_error_message="This project already has a policy.",
            ),
        ]

    def __str__(self) -> str:
        if self.name:
            return self.name
        if self.project_id:
            return f"Policy of project {self.project}"
        return f"Policy of {self.organization}"

    def get_absolute_url(self) -> str:
        return reverse("policies:detail", args=[self.pk])

    def clean(self) -> None:
        if self.project_id and self.project.organization_id != self.organization_id:
            raise ValidationError({"project": "The project belongs to another organisation."})
        self.draft = document_clean(self.draft)


class PolicyVersionImmutable(Exception):
    """Published versions are the record of what requests were judged by: never changed."""


class PolicyVersionQuerySet(RestrictedQuerySet):
    def update(self, **kwargs):
        raise PolicyVersionImmutable("Policy versions cannot be changed.")

    def delete(self):
        raise PolicyVersionImmutable("Policy versions cannot be deleted.")

    delete.queryset_only = True


class PolicyVersion(OrganizationScoped):
    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    content = models.JSONField()
    content_sha256 = models.CharField(max_length=64)
    diff = models.JSONField(help_text="What changed since the previous version.")
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    published_at = models.DateTimeField(default=timezone.now)

    organization_path = "policy__organization"
    objects = PolicyVersionQuerySet.as_manager()

    class Meta:
        ordering = ["policy", "number"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "number"], name="policyversion_unique_number")
        ]

    def __str__(self) -> str:
        return f"{self.policy} v{self.number}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PolicyVersionImmutable("Policy versions cannot be changed.")
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("policies:version", args=[self.policy_id, self.number])

    def delete(self, *args, **kwargs):
        raise PolicyVersionImmutable("Policy versions cannot be deleted.")
