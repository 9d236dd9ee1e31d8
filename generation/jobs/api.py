"""Generation in the API: submit requests, follow them, fetch their images."""

import datetime

import django_filters
from django import forms
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import reverse
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from generation.jobs import selectors, services
from generation.jobs.events import request_styles_data
from generation.jobs.models import Asset, GenerationRequest
from generation.jobs.outcome import CODES, TONES, request_outcome
from imprimatur.tenancy.models import BrandProject
from imprimatur.tenancy.permissions import Action, user_may
from imprimatur.tenancy.selectors import project_get


class StyleChoiceSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    version = serializers.IntegerField(
        required=False, min_value=1, help_text="Default: the latest approved version."
    )
    weight = serializers.FloatField(required=False, help_text="Above 0 and at most 2; default 1.")


class GenerationRequestInputSerializer(serializers.Serializer):
    """Types only: the limits live in `params.generation_params_clean`, shared with the UI.

    Send JSON, or multipart form data when uploading an init image or mask.
    """

    prompt = serializers.CharField(allow_blank=True, trim_whitespace=True)
    negative_prompt = serializers.CharField(required=False, allow_blank=True)
    model = serializers.CharField(
        required=False, help_text="A model profile name; default: the project's first model."
    )
    mode = serializers.CharField(
        required=False, help_text="text-to-image (default), image-to-image or inpainting."
    )
    strength = serializers.FloatField(required=False)
    init_image = serializers.FileField(
        required=False, help_text="PNG, JPEG or WebP; for image-to-image and inpainting."
    )
    mask_image = serializers.FileField(
        required=False, help_text="PNG, JPEG or WebP; white = repaint. For inpainting."
    )
    width = serializers.IntegerField(required=False)
    height = serializers.IntegerField(required=False)
    steps = serializers.IntegerField(required=False)
    guidance_scale = serializers.FloatField(required=False)
    seed = serializers.IntegerField(required=False, allow_null=True)
    num_images = serializers.IntegerField(required=False)
    upscale = serializers.IntegerField(
        required=False,
        help_text="Enlarge each image 2 or 4 times with the platform's upscaler after "
        "generation; 1 (default) keeps the model's size.",
    )
    preset = serializers.CharField(
        required=False,
        help_text="A style preset of the project, by name: its prompt template is applied to "
        "the prompt, and its values are the defaults of the parameters not given.",
    )
    styles = StyleChoiceSerializer(
        many=True,
        required=False,
        help_text="Approved styles of the project to apply (JSON bodies only).",
    )


class GenerationRequestCreateSerializer(GenerationRequestInputSerializer):
    project = serializers.SlugField(help_text="Slug of the brand project.")
    organization = serializers.SlugField(
        required=False,
        help_text="Slug of the project's organisation: needed only when several of your "
        "organisations have a project with this slug.",
    )


class AssetSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(
        help_text="The PNG; null for a quarantined image unless you are compliance or admin."
    )
    checks = serializers.SerializerMethodField(
        help_text="The latest output checks: verdict, reasons, every score, threshold and box."
    )
    published_url = serializers.SerializerMethodField()

    class Meta:
        model = Asset
        fields = [
            "id",
            "request",
            "index",
            "seed",
            "width",
            "height",
            "sha256",
            "status",
            "check_verdict",
            "quarantined",
            "has_face",
            "url",
            "published_url",
            "provenance",
            "checks",
        ]

    def get_url(self, asset) -> str | None:
        request = self.context["request"]
        if asset.quarantined and not selectors.may_see_quarantined(
            user=request.user, organization_id=asset.request.project.organization_id
        ):
            return None
        return request.build_absolute_uri(reverse("api:asset-file", args=[asset.pk]))

    def get_published_url(self, asset) -> str | None:
        """The approved image, signed with the approval in its manifest (once approved)."""
        if not asset.published_image:
            return None
        return self.context["request"].build_absolute_uri(
            reverse("jobs:asset-published", args=[asset.pk])
        )

    def get_checks(self, asset) -> dict | None:
        latest = max(asset.checks.all(), key=lambda check: check.pk, default=None)
        return latest.result if latest else None


class OutcomeSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=sorted(CODES), help_text="Stable, for programs.")
    label = serializers.CharField(help_text='For people, e.g. "2 of 4 approved".')
    tone = serializers.ChoiceField(choices=list(TONES), help_text="How the UI colours it.")


class GenerationRequestSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    outcome = serializers.SerializerMethodField(
        help_text="The request's status as people read it: the job's end and its images' "
        "reviews (approved, 2 of 4 approved, changes requested, rejected …). `status` stays "
        "the job's progress."
    )
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    model = serializers.CharField(source="model_name")
    progress = serializers.SerializerMethodField()
    assets = AssetSerializer(many=True, read_only=True)
    preset = serializers.SerializerMethodField()
    styles = serializers.SerializerMethodField()

    class Meta:
        model = GenerationRequest
        fields = [
            "id",
            "project",
            "status",
            "outcome",
            "prompt",
            "negative_prompt",
            "negative_prompt_submitted",
            "policy_outcome",
            "policy_versions",
            "policy_matches",
            "model",
            "mode",
            "strength",
            "init_image_sha256",
            "width",
            "height",
            "steps",
            "guidance_scale",
            "seed",
            "num_images",
            "upscale",
            "parent_asset",
            "created_by",
            "created_at",
            "finished_at",
            "error",
            "rerun_of",
            "progress",
            "assets",
            "preset",
            "styles",
        ]

    @extend_schema_field(OutcomeSerializer)
    def get_outcome(self, request) -> dict:
        return request_outcome(request).as_dict()

    @extend_schema_field(
        {
            "type": "object",
            "nullable": True,
            "properties": {"name": {"type": "string"}, "version": {"type": "integer"}},
        }
    )
    def get_preset(self, request) -> dict | None:
        version = request.preset_version
        return {"name": version.preset.name, "version": version.number} if version else None

    @extend_schema_field(
        {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "version": {"type": "integer"},
                    "weight": {"type": "number"},
                    "sha256": {"type": "string"},
                },
            },
        }
    )
    def get_styles(self, request) -> list[dict]:
        return request_styles_data(request)

    def get_progress(self, request) -> dict:
        job = selectors.latest_job(request)
        if job is None:
            return {
                "status": None,
                "cancel_requested": False,
                "step": 0,
                "total": request.steps,
                "attempts": 0,
            }
        return {
            "status": job.status,
            "cancel_requested": job.cancel_requested_at is not None,
            "step": job.current_step,
            "total": job.total_steps,
            "attempts": job.attempts,
        }


class UtcIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 date and time, in UTC before any query sees it: PostgreSQL refuses offsets
    past ±15:59 that Python accepts (a 500), and a time before year 1 in UTC is a 400."""

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(datetime.UTC)
        except OverflowError:
            raise forms.ValidationError(
                "This date and time is out of range.", code="invalid"
            ) from None


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class GenerationRequestFilter(django_filters.FilterSet):
    created_after = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = GenerationRequest
        fields = ["status", "created_after", "created_before"]


def _submit(http_request, project: BrandProject, data: dict) -> Response:
    values = dict(data)
    prompt = values.pop("prompt")
    values.pop("project", None)
    values.pop("organization", None)
    generation_request = services.generation_request_submit(
        project=project, user=http_request.user, prompt=prompt, params=values
    )
    generation_request = selectors.generation_request_get(
        user=http_request.user, pk=generation_request.pk
    )
    body = GenerationRequestSerializer(generation_request, context={"request": http_request}).data
    return Response(body, status=status.HTTP_201_CREATED)


class ProjectRequestListView(generics.ListCreateAPIView):
    """Requests of one project; POST submits a new one."""

    filterset_class = GenerationRequestFilter

    def get_serializer_class(self):
        if self.request.method == "POST":
            return GenerationRequestInputSerializer
        return GenerationRequestSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no URL kwargs
            return GenerationRequest.objects.none()
        project = project_get(
            user=self.request.user,
            slug=self.kwargs["slug"],
            organization=self.request.query_params.get("organization"),
        )
        return selectors.generation_request_list(
            user=self.request.user, project=project
        ).prefetch_related("assets__checks", "jobs")

    @extend_schema(responses={201: GenerationRequestSerializer})
    def post(self, request, slug: str):
        project = project_get(
            user=request.user, slug=slug, organization=request.query_params.get("organization")
        )
        if not user_may(request.user, Action.GENERATE, project):  # before judging the input
            raise PermissionDenied("Only creators of this project's organisation make requests.")
        serializer = GenerationRequestInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return _submit(request, project, serializer.validated_data)


class RequestListView(generics.ListCreateAPIView):
    """All requests the user may see; POST submits one to the project named in the body."""

    filterset_class = GenerationRequestFilter

    def get_serializer_class(self):
        if self.request.method == "POST":
            return GenerationRequestCreateSerializer
        return GenerationRequestSerializer

    def get_queryset(self):
        return selectors.generation_request_list(user=self.request.user).prefetch_related(
            "assets__checks", "jobs"
        )

    @extend_schema(responses={201: GenerationRequestSerializer})
    def post(self, request):
        serializer = GenerationRequestCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        slug = serializer.validated_data["project"]
        try:
            project = project_get(
                user=request.user,
                slug=slug,
                organization=serializer.validated_data.get("organization"),
            )
        except Http404:
            # Same answer for "does not exist" and "belongs to another organisation".
            raise serializers.ValidationError({"project": f"Unknown project {slug!r}."}) from None
        return _submit(request, project, serializer.validated_data)


class RequestDetailView(generics.RetrieveAPIView):
    serializer_class = GenerationRequestSerializer

    def get_object(self):
        return selectors.generation_request_get(user=self.request.user, pk=self.kwargs["pk"])


class RerunInputSerializer(serializers.Serializer):
    new_seeds = serializers.BooleanField(
        default=False,
        help_text="false: the same seed again (identical images); true: variants with new seeds.",
    )


class RequestCancelView(APIView):
    """Cancel a request: a queued one ends at once, a running one at its next step."""

    @extend_schema(request=None, responses={200: GenerationRequestSerializer})
    def post(self, request, pk: int):
        generation_request = selectors.generation_request_get(user=request.user, pk=pk)
        services.generation_request_cancel(request=generation_request, user=request.user)
        generation_request = selectors.generation_request_get(user=request.user, pk=pk)
        body = GenerationRequestSerializer(generation_request, context={"request": request}).data
        return Response(body)


class RequestRerunView(APIView):
    """Submit a finished or running request again, with its seed or with new seeds."""

    @extend_schema(request=RerunInputSerializer, responses={201: GenerationRequestSerializer})
    def post(self, request, pk: int):
        source = selectors.generation_request_get(user=request.user, pk=pk)
        serializer = RerunInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rerun = services.generation_request_rerun(
            request=source, user=request.user, new_seeds=serializer.validated_data["new_seeds"]
        )
        rerun = selectors.generation_request_get(user=request.user, pk=rerun.pk)
        body = GenerationRequestSerializer(rerun, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)
