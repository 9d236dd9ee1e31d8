"""A request asks for images; its job runs on a GPU worker; each image becomes an asset.

Statuses change only through the transition functions in `transitions.py`.
"""

from django.conf import settings
from django.db import models
from django.urls import reverse

from imprimatur.tenancy.models import BrandProject
from imprimatur.tenancy.permissions import Action, OrganizationScoped, user_may


def request_upload_path(instance: "GenerationRequest", filename: str) -> str:
    return f"uploads/{instance.project.organization_id}/{instance.project_id}/{filename}"


class Mode(models.TextChoices):
    """What a request asks a model to do; the engine's mode names."""

    TEXT_TO_IMAGE = "text-to-image", "Text to image"
    IMAGE_TO_IMAGE = "image-to-image", "Image to image"
    INPAINTING = "inpainting", "Inpainting"


#: A request's mode beside the model's: an approved image enlarged by the upscaler, no diffusion.
UPSCALE = "upscale"
REQUEST_MODES = [*Mode.choices, (UPSCALE, "Upscale of an approved image")]
UPSCALE_FACTORS = [(1, "Original size"), (2, "2\u00d7"), (4, "4\u00d7")]


def default_capabilities() -> list[str]:
    return [Mode.TEXT_TO_IMAGE]


def default_sizes() -> list[int]:
    return [64]


class ModelProfile(OrganizationScoped):
    """A model of the catalog: a local checkpoint, what it can do and the limits of its use.

    Admins manage profiles per organisation and choose the projects that may use each one.
    Saving goes through `catalog.model_profile_save`, which reads the checkpoint's config
    (never its weights) and refuses a broken path with the reason.
    """

    class Scheduler(models.TextChoices):
        CHECKPOINT = "", "As shipped with the checkpoint"
        DDIM = "DDIMScheduler", "DDIM"
        EULER = "EulerDiscreteScheduler", "Euler"
        EULER_ANCESTRAL = "EulerAncestralDiscreteScheduler", "Euler ancestral"
        DPM_SOLVER = "DPMSolverMultistepScheduler", "DPM-Solver++ (multistep)"
        PNDM = "PNDMScheduler", "PNDM"
        LMS = "LMSDiscreteScheduler", "LMS"
        # The one choice for flow-matching families (SD3, Flux), and only for them.
        FLOW_MATCH_EULER = "FlowMatchEulerDiscreteScheduler", "Flow-matching Euler"

    organization = models.ForeignKey(
        "tenancy.Organization", on_delete=models.PROTECT, related_name="model_profiles"
    )
    name = models.SlugField(max_length=100, help_text="What requests name as their model.")
    display_name = models.CharField(max_length=200)
    path = models.CharField(
        max_length=500,
        help_text="Local path of a diffusers pipeline directory or a .safetensors checkpoint.",
    )
    single_file_config = models.CharField(
        max_length=500,
        blank=True,
        help_text="For a single .safetensors file: a local diffusers directory with its "
        "configs (no weights needed). Ignored for a diffusers directory.",
    )
    capabilities = models.JSONField(default=default_capabilities)
    queue = models.CharField(
        max_length=100, default="gpu", help_text="Celery queue of the workers that hold it."
    )
    scheduler = models.CharField(
        max_length=100, choices=Scheduler.choices, blank=True, default=Scheduler.CHECKPOINT
    )
    sizes = models.JSONField(
        default=default_sizes, help_text="Allowed widths and heights in pixels."
    )
    default_size = models.PositiveIntegerField(default=64)
    default_steps = models.PositiveIntegerField(default=20)
    max_steps = models.PositiveIntegerField(default=50)
    default_guidance = models.FloatField(default=7.5)
    max_guidance = models.FloatField(default=20.0)
    max_images = models.PositiveIntegerField(default=4)
    licence_note = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    # Read from the checkpoint when the profile is saved.
    pipeline_class = models.CharField(max_length=200, blank=True)
    model_capabilities = models.JSONField(default=list, blank=True)
    #: The model family (``generation.engine.families``), blank outside the known ones.
    family = models.CharField(max_length=50, blank=True)
    #: How many tokens of a prompt the model reads, and the tokenizer component that counts
    #: them (the longest-reading text encoder's); empty when not known.
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    prompt_tokenizer = models.CharField(max_length=50, blank=True)
    projects = models.ManyToManyField(
        "tenancy.BrandProject", related_name="model_profiles", blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="modelprofile_unique_name_per_org"
            )
        ]

    def __str__(self) -> str:
        return self.display_name or self.name

    def get_absolute_url(self) -> str:
        return reverse("jobs:model-edit", args=[self.pk])

    def page_visible_to(self, user) -> bool:
        """Whether ``user`` may open ``get_absolute_url`` (links elsewhere, such as the audit
        event's target, are shown only then): the catalog is for admins."""
        return user_may(user, Action.MANAGE, self)

    @property
    def family_label(self) -> str:
        """The family's name for people ("SDXL", "Flux"), else the pipeline class."""
        from generation.engine.families import FAMILIES

        family = FAMILIES.get(self.family)
        return family.label if family else (self.pipeline_class or "Unknown")

    @property
    def capability_labels(self) -> list[str]:
        """The modes this profile allows, in words, in the catalog's order."""
        return [label for value, label in Mode.choices if value in (self.capabilities or [])]


class PolicyOutcome(models.TextChoices):
    """The prompt policy's outcomes (``governance.policies.matching.Outcome``)."""

    ALLOW = "allow", "Allowed"
    REVIEW = "review", "Needs review"
    BLOCK = "block", "Blocked"


class GenerationRequest(OrganizationScoped):
    class Status(models.TextChoices):
        AWAITING_REVIEW = "awaiting_review", "Waiting for prompt review"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        REJECTED = "rejected", "Rejected in prompt review"
        CHANGES_REQUESTED = "changes_requested", "Changes requested in prompt review"

    FINISHED = frozenset(
        {
            Status.SUCCEEDED,
            Status.FAILED,
            Status.CANCELLED,
            Status.REJECTED,
            Status.CHANGES_REQUESTED,
        }
    )

    project = models.ForeignKey(BrandProject, on_delete=models.PROTECT, related_name="requests")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="generation_requests"
    )
    prompt = models.TextField()
    negative_prompt = models.TextField(
        blank=True, help_text="What the model gets: the creator's, plus the policy's additions."
    )
    negative_prompt_submitted = models.TextField(
        blank=True, help_text="The negative prompt as the creator wrote it."
    )
    # The prompt policy's judgement at submission (blank for requests made before policies).
    policy_outcome = models.CharField(max_length=10, choices=PolicyOutcome.choices, blank=True)
    policy_versions = models.JSONField(
        default=list, blank=True, help_text="Ids of the policy versions the prompt was judged by."
    )
    policy_matches = models.JSONField(
        default=list,
        blank=True,
        help_text="The rules that matched: category, action, term, start, end, explanation.",
    )
    policy_output_concepts = models.JSONField(
        default=list,
        blank=True,
        help_text="What the policy has the image checks look for: concept, action, threshold.",
    )
    policy_safety_classes = models.JSONField(
        default=dict,
        blank=True,
        help_text="How the policy has the checks treat NudeNet classes: threshold, action.",
    )
    model_profile = models.ForeignKey(
        ModelProfile, on_delete=models.PROTECT, related_name="requests", null=True
    )
    model_name = models.CharField(max_length=100)
    mode = models.CharField(max_length=20, choices=REQUEST_MODES, default=Mode.TEXT_TO_IMAGE)
    upscale = models.PositiveSmallIntegerField(
        default=1,
        choices=UPSCALE_FACTORS,
        help_text="How many times the images are enlarged by the upscaler after generation "
        "(mode upscale: how many times the parent image is).",
    )
    strength = models.FloatField(default=0.8, help_text="How far image-to-image may move.")
    init_image = models.FileField(upload_to=request_upload_path, blank=True, max_length=300)
    init_image_sha256 = models.CharField(max_length=64, blank=True)
    mask_image = models.FileField(upload_to=request_upload_path, blank=True, max_length=300)
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
    # Brand styles (generation/styles/): the preset version the request was made with, the
    # scheduler it chose, and the approved styles it uses (as submitted: id, name, version,
    # weight and the SHA-256 of the weights).
    preset_version = models.ForeignKey(
        "styles.StylePresetVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="requests",
    )
    scheduler = models.CharField(
        max_length=100, blank=True, help_text="Blank: the model profile's scheduler."
    )
    styles = models.JSONField(default=list, blank=True)
    parent_asset = models.ForeignKey(
        "Asset",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="derivatives",
        help_text="The approved image this one is made from (image-to-image or inpainting).",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    organization_path = "project__organization"

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Request {self.pk}: {self.prompt[:60]}"

    def get_absolute_url(self) -> str:
        return reverse("jobs:request", args=[self.pk])

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED


class GenerationJob(OrganizationScoped):
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
    # The worker process running it ("host:pid") and when it last showed it is alive: a
    # redelivered message leaves a job with a live lease to its holder.
    worker = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Set by a user; the worker sees it between two denoising steps and stops.
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    organization_path = "request__project__organization"

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Job {self.pk} of request {self.request_id}"

    def get_absolute_url(self) -> str:
        return reverse("jobs:request", args=[self.request_id])

    @property
    def progress_percent(self) -> int:
        if not self.total_steps:
            return 0
        return round(100 * self.current_step / self.total_steps)


def asset_upload_path(instance: "Asset", filename: str) -> str:
    request = instance.request
    return f"assets/{request.project.organization_id}/{request.project_id}/{request.pk}/{filename}"


class Asset(OrganizationScoped):
    class Status(models.TextChoices):
        GENERATED = "generated", "Generated"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        CHANGES_REQUESTED = "changes", "Changes requested"

    class Verdict(models.TextChoices):
        PENDING = "", "Not checked"
        PASS = "pass", "Passed the checks"
        FLAG = "flag", "Flagged by the checks"
        FAIL = "fail", "Failed the checks"

    request = models.ForeignKey(GenerationRequest, on_delete=models.CASCADE, related_name="assets")
    job = models.ForeignKey(GenerationJob, on_delete=models.CASCADE, related_name="assets")
    index = models.PositiveIntegerField()
    seed = models.BigIntegerField()
    image = models.FileField(upload_to=asset_upload_path, max_length=300)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.GENERATED)
    # The latest output checks (their history: AssetCheck). A failed image is quarantined:
    # only compliance officers and admins see it.
    check_verdict = models.CharField(
        max_length=10, choices=Verdict.choices, blank=True, default=Verdict.PENDING
    )
    quarantined = models.BooleanField(default=False)
    has_face = models.BooleanField(default=False)
    # Provenance: the stored image carries a signed C2PA manifest; these find it again once
    # its metadata is stripped. The published image is the approved one, signed again.
    watermark_id = models.CharField(max_length=32, blank=True, db_index=True)
    phash = models.CharField(max_length=32, blank=True)
    provenance = models.JSONField(default=dict, blank=True)
    published_image = models.FileField(upload_to=asset_upload_path, blank=True, max_length=300)
    # A small WebP made once (``thumbnails.py``) for galleries and the review queue.
    thumbnail = models.FileField(upload_to=asset_upload_path, blank=True, max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)

    organization_path = "request__project__organization"

    class Meta:
        ordering = ["request", "index"]
        indexes = [
            # Galleries page newest first by (created_at, id) (keyset, no OFFSET).
            models.Index(fields=["created_at", "id"], name="asset_created_id_idx"),
            # … and the same filtered by status (a rare status would scan every image).
            models.Index(fields=["status", "created_at", "id"], name="asset_status_created_idx"),
        ]
        constraints = [
            # A redelivered job can never store the same image twice.
            models.UniqueConstraint(fields=["job", "index"], name="asset_unique_job_index")
        ]

    def __str__(self) -> str:
        return f"Asset {self.pk} ({self.index + 1} of request {self.request_id})"

    def get_absolute_url(self) -> str:
        return reverse("jobs:request", args=[self.request_id])


class AssetCheck(OrganizationScoped):
    """One run of the output checks on an asset; the latest is the current one, earlier ones
    stay as history (after thresholds change, checks can be run again)."""

    class Trigger(models.TextChoices):
        GENERATION = "generation", "At generation"
        RERUN = "rerun", "Run again"

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="checks")
    verdict = models.CharField(max_length=10, choices=Asset.Verdict.choices)
    result = models.JSONField(help_text="Every score, threshold and box (checks.ImageChecks).")
    suite_version = models.CharField(max_length=20)
    clip_model = models.CharField(max_length=300)
    embedding = models.JSONField(null=True, editable=False)  # CLIP's, for set_measures.py
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    organization_path = "asset__request__project__organization"

    class Meta:
        ordering = ["asset", "-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Checks of {self.asset}: {self.verdict}"


class PushDestination(OrganizationScoped):
    """Where a project's approved images are copied once published (``destinations.py``):
    a folder under ``IMPRIMATUR_PUSH_FOLDER_ROOT`` or a bucket the operator allowed
    (``IMPRIMATUR_PUSH_S3_BUCKETS``), with an optional prefix."""

    project = models.OneToOneField(
        BrandProject, on_delete=models.CASCADE, related_name="push_destination"
    )
    url = models.CharField(max_length=500)
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    organization_path = "project__organization"

    def __str__(self) -> str:
        return f"Push destination of {self.project}: {self.url}"


class AssetPush(OrganizationScoped):
    """One copy of a published image (with its JSON sidecar) to a destination, retried on
    the webhooks' schedule (``IMPRIMATUR_WEBHOOK_RETRY_SCHEDULE``)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Copied"
        FAILED = "failed", "Failed"

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="pushes")
    destination_url = models.CharField(max_length=500)  # as it was when the push was queued
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_error = models.CharField(max_length=500, blank=True)
    names = models.JSONField(default=list, blank=True)  # what was written, once copied
    created_at = models.DateTimeField(auto_now_add=True)
    pushed_at = models.DateTimeField(null=True, blank=True)

    organization_path = "asset__request__project__organization"

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Push of {self.asset} to {self.destination_url}"


class SharingSettings(OrganizationScoped):
    """An organisation's switch for share links (off unless an admin turns it on). Turning
    it off stops every link of the organisation at once."""

    organization = models.OneToOneField(
        "tenancy.Organization", on_delete=models.CASCADE, related_name="sharing"
    )
    share_links = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Sharing of {self.organization}: {'on' if self.share_links else 'off'}"


class ShareLink(OrganizationScoped):
    """A link that gives an approved image's published file to anyone who has it, until it
    expires or is revoked. Only the SHA-256 of its random token is stored: the link itself
    is shown once, to whoever made it."""

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="share_links")
    token_sha256 = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    uses = models.PositiveIntegerField(default=0)
    last_used_at = models.DateTimeField(null=True, blank=True)

    organization_path = "asset__request__project__organization"

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Share link {self.pk} of {self.asset}"
