"""Brand styles: presets (a prompt template and default parameters, versioned) and style
models (LoRA adapters trained on a project's own images, reviewed before use).

A preset is edited by writing a new version; requests keep the version they were made with.
A style model's status changes only through ``transitions.style_transition``.
"""

from django.conf import settings
from django.db import models
from django.urls import reverse

from imprimatur.tenancy.models import BrandProject
from imprimatur.tenancy.permissions import OrganizationScoped


class StylePreset(OrganizationScoped):
    """A named preset of a project; its values are those of its latest version."""

    project = models.ForeignKey(
        BrandProject, on_delete=models.CASCADE, related_name="style_presets"
    )
    name = models.CharField(max_length=100)
    archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    organization_path = "project__organization"

    class Meta:
        ordering = ["project", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="stylepreset_unique_name")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def current(self) -> "StylePresetVersion | None":
        return self.versions.order_by("-number").first()


class StylePresetVersion(OrganizationScoped):
    """One version of a preset: never changed once written."""

    preset = models.ForeignKey(StylePreset, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    prompt_template = models.TextField(help_text="The creator's prompt goes where {prompt} is.")
    negative_prompt = models.TextField(blank=True)
    size = models.PositiveIntegerField(null=True, blank=True)
    steps = models.PositiveIntegerField(null=True, blank=True)
    guidance_scale = models.FloatField(null=True, blank=True)
    scheduler = models.CharField(max_length=100, blank=True)
    style_model = models.ForeignKey(
        "StyleModel", on_delete=models.PROTECT, null=True, blank=True, related_name="presets"
    )
    style_weight = models.FloatField(default=1.0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    organization_path = "preset__project__organization"

    class Meta:
        ordering = ["preset", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["preset", "number"], name="presetversion_unique")
        ]

    def __str__(self) -> str:
        return f"{self.preset.name} v{self.number}"


def training_image_path(instance: "StyleTrainingImage", filename: str) -> str:
    style = instance.style
    return f"styles/{style.project.organization_id}/{style.pk}/train/{filename}"


def style_file_path(instance, filename: str) -> str:
    style = getattr(instance, "style", instance)
    return f"styles/{style.project.organization_id}/{style.pk}/{filename}"


class StyleModel(OrganizationScoped):
    """A LoRA style adapter of a project's base model, trained on the brand's own images.

    Usable by requests only once approved in the project's review workflow (kind "style").
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "Training set ready"
        TRAINING = "training", "Training"
        CANCELLED = "cancelled", "Training stopped"
        FAILED = "failed", "Training failed"
        TRAINED = "trained", "Trained, waiting to be sent to review"
        IN_REVIEW = "in_review", "In review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    project = models.ForeignKey(BrandProject, on_delete=models.CASCADE, related_name="styles")
    name = models.SlugField(max_length=100)
    version = models.PositiveIntegerField(default=1)
    base_model = models.ForeignKey(
        "jobs.ModelProfile", on_delete=models.PROTECT, related_name="styles"
    )
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.DRAFT, db_index=True
    )
    # Training: LoraTrainConfig's values (rank, steps, learning_rate, budgets …).
    config = models.JSONField(default=dict, blank=True)
    steps_done = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    losses = models.JSONField(default=list, blank=True)
    training_seconds = models.FloatField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    # The result: the adapter's weights (safetensors) and their digest.
    weights = models.FileField(upload_to=style_file_path, blank=True, max_length=300)
    weights_sha256 = models.CharField(max_length=64, blank=True)
    weights_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    #: CMMD to the held-out and reference images, base model vs with the style.
    evaluation = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    trained_at = models.DateTimeField(null=True, blank=True)

    organization_path = "project__organization"

    class Meta:
        ordering = ["project", "name", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "name", "version"], name="stylemodel_unique_version"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    def get_absolute_url(self) -> str:
        return reverse("styles:style", args=[self.pk])


class StyleTrainingImage(OrganizationScoped):
    """One image of a training set, with its rights attestation."""

    style = models.ForeignKey(StyleModel, on_delete=models.CASCADE, related_name="images")
    image = models.ImageField(upload_to=training_image_path, max_length=300)
    sha256 = models.CharField(max_length=64)
    caption = models.CharField(max_length=300, blank=True)
    held_out = models.BooleanField(default=False, help_text="Kept for evaluation, not trained on.")
    rights_owner = models.CharField(max_length=200)
    licence = models.CharField(max_length=200)
    attested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    attested_at = models.DateTimeField()

    organization_path = "style__project__organization"

    class Meta:
        ordering = ["style", "pk"]


class StyleSample(OrganizationScoped):
    """An image made while evaluating a style: evidence for its review."""

    style = models.ForeignKey(StyleModel, on_delete=models.CASCADE, related_name="samples")
    image = models.ImageField(upload_to=style_file_path, max_length=300)
    prompt = models.CharField(max_length=300)
    with_style = models.BooleanField(default=True)

    organization_path = "style__project__organization"

    class Meta:
        ordering = ["style", "-with_style", "pk"]
