"""Organisations own everything; members hold roles in them; brand projects hold brand kits."""

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse

from imprimatur.tenancy.permissions import OrganizationScoped, Role

HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


class Organization(OrganizationScoped):
    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    organization_path = "pk"

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(OrganizationScoped):
    """One role of one user in one organisation; a user may hold several roles."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization", "user", "role"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organization", "role"], name="membership_unique_role"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()} in {self.organization}"


def validate_palette(value) -> None:
    if not isinstance(value, list) or not all(
        isinstance(colour, str) and HEX_COLOUR.match(colour) for colour in value
    ):
        raise ValidationError("Give the palette as a list of colours like #1A2B3C.")


def validate_descriptors(value) -> None:
    if not isinstance(value, list) or not all(
        isinstance(text, str) and text.strip() for text in value
    ):
        raise ValidationError("Give descriptors as a list of non-empty texts.")


BRAND_THRESHOLD_KEYS = ("reference", "descriptors", "palette", "alignment", "score", "delta_e")

#: The brand checks' defaults, used where a project sets no threshold of its own. They mirror
#: `generation.checks.brand.BrandThresholds` (which imports torch, too heavy for web pages);
#: tests/imprimatur/test_brand_kit.py keeps the two equal.
BRAND_THRESHOLD_DEFAULTS: dict[str, float] = {
    "reference": 0.6,
    "descriptors": 0.5,
    "palette": 0.5,
    "alignment": 0.2,
    "score": 0.5,
    "delta_e": 10.0,
}


def validate_brand_thresholds(value) -> None:
    if not isinstance(value, dict):
        raise ValidationError('Give the thresholds as an object, e.g. {"score": 0.6}.')
    for key, threshold in value.items():
        if key not in BRAND_THRESHOLD_KEYS:
            raise ValidationError(
                f"Unknown threshold {key!r}; one of: {', '.join(BRAND_THRESHOLD_KEYS)}."
            )
        limit = 100.0 if key == "delta_e" else 1.0
        if (
            not isinstance(threshold, int | float)
            or isinstance(threshold, bool)
            or not 0 <= threshold <= limit
        ):
            raise ValidationError(f"The {key} threshold is a number from 0 to {limit:g}.")


class BrandProject(OrganizationScoped):
    """A brand project: where requests are made, with the brand kit they are checked against."""

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="projects"
    )
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100)
    description = models.TextField(blank=True)
    palette = models.JSONField(
        default=list, blank=True, validators=[validate_palette], help_text="Hex colours."
    )
    on_brand_descriptors = models.JSONField(
        default=list, blank=True, validators=[validate_descriptors]
    )
    off_brand_descriptors = models.JSONField(
        default=list, blank=True, validators=[validate_descriptors]
    )
    brand_thresholds = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_brand_thresholds],
        help_text='Brand check thresholds that differ from the defaults, e.g. {"score": 0.6}.',
    )
    queue_priority = models.IntegerField(
        default=0,
        help_text="Queued jobs of projects with a higher priority start first; projects of "
        "equal priority take turns (set by platform administrators).",
    )
    provenance_include_prompt = models.BooleanField(
        default=False,
        help_text="Put the prompt itself in the images' C2PA manifests (default: only its "
        "SHA-256 digest, since prompts can be confidential).",
    )
    provenance_training_mining = models.CharField(
        max_length=20,
        choices=[
            ("notAllowed", "Not allowed"),
            ("allowed", "Allowed"),
            ("constrained", "Constrained"),
        ],
        default="notAllowed",
        help_text="What the manifests say about using the images for AI training and mining.",
    )
    provenance_disclose_approver = models.BooleanField(
        default=False,
        help_text="Name the approver in the approval manifest (default: only the role).",
    )
    likeness_review = models.BooleanField(
        default=False,
        help_text="Send images with a detected face to review: generated people can resemble "
        "real ones.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "slug"], name="brandproject_unique_slug_per_org"
            )
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("jobs:project", args=[self.slug])


def reference_image_path(instance: "BrandReferenceImage", filename: str) -> str:
    return f"brand/{instance.project.organization_id}/{instance.project_id}/{filename}"


class BrandReferenceImage(OrganizationScoped):
    """An on-brand example image of a project's brand kit."""

    project = models.ForeignKey(
        BrandProject, on_delete=models.CASCADE, related_name="reference_images"
    )
    image = models.ImageField(upload_to=reference_image_path)
    caption = models.CharField(max_length=300, blank=True)
    # Its CLIP embedding, computed once after upload by a worker (brand checks compare with it).
    embedding = models.JSONField(null=True, blank=True)
    embedding_model = models.CharField(
        max_length=300, blank=True, help_text="The CLIP model and checkpoint that embedded it."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    organization_path = "project__organization"

    class Meta:
        ordering = ["project", "created_at"]

    def __str__(self) -> str:
        return self.caption or self.image.name

    def get_absolute_url(self) -> str:
        return reverse("web:brand-kit", args=[self.project.slug])


class GroupRole(OrganizationScoped):
    """One role that members of an identity provider's group hold in an organisation.

    Single sign-on (the groups claim at each sign-in) and SCIM provisioning (group
    memberships) both turn a user's groups into roles through these rows:
    ``imprimatur.tenancy.members.roles_for_groups``."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="group_roles"
    )
    group = models.CharField(max_length=200, help_text="The group's name at the provider.")
    role = models.CharField(max_length=20, choices=Role.choices)

    class Meta:
        ordering = ["organization", "group", "role"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "group", "role"], name="grouprole_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.group} → {self.get_role_display()} in {self.organization}"
