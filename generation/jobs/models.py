"""A request asks for images; its job runs on a GPU worker; each image becomes an asset.

Statuses change only through the transition functions in `services.py`.
"""

from django.conf import settings
from django.db import models

from imprimatur.tenancy.models import BrandProject, RestrictedQuerySet


class GenerationRequest(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINISHED = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELLED})

    project = models.ForeignKey(BrandProject, on_delete=models.PROTECT, related_name="requests")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="generation_requests"
    )
    prompt = models.TextField()
    negative_prompt = models.TextField(blank=True)
    model_name = models.CharField(max_length=100)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    steps = models.PositiveIntegerField()
    guidance_scale = models.FloatField()
    seed = models.BigIntegerField()
    num_images = models.PositiveIntegerField()
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    error = models.TextField(blank=True)
    rerun_of = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reruns",
        help_text="The request this one repeats (same seed) or varies (new seeds).",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    organization_path = "project__organization"
    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Request {self.pk}: {self.prompt[:60]}"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED


class GenerationJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    request = models.ForeignKey(GenerationRequest, on_delete=models.CASCADE, related_name="jobs")
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    # Progress is not a status: the worker writes it a few times per second.
    current_step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=200, blank=True)
    # Set by a user; the worker sees it between two denoising steps and stops.
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    organization_path = "request__project__organization"
    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Job {self.pk} of request {self.request_id}"

    @property
    def progress_percent(self) -> int:
        if not self.total_steps:
            return 0
        return round(100 * self.current_step / self.total_steps)


def asset_upload_path(instance: "Asset", filename: str) -> str:
    request = instance.request
    return f"assets/{request.project.organization_id}/{request.project_id}/{request.pk}/{filename}"


class Asset(models.Model):
    class Status(models.TextChoices):
        GENERATED = "generated", "Generated"

    request = models.ForeignKey(GenerationRequest, on_delete=models.CASCADE, related_name="assets")
    job = models.ForeignKey(GenerationJob, on_delete=models.CASCADE, related_name="assets")
    index = models.PositiveIntegerField()
    seed = models.BigIntegerField()
    image = models.FileField(upload_to=asset_upload_path, max_length=300)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.GENERATED)
    created_at = models.DateTimeField(auto_now_add=True)

    organization_path = "request__project__organization"
    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["request", "index"]
        constraints = [
            # A redelivered job can never store the same image twice.
            models.UniqueConstraint(fields=["job", "index"], name="asset_unique_job_index")
        ]

    def __str__(self) -> str:
        return f"Asset {self.pk} ({self.index + 1} of request {self.request_id})"
