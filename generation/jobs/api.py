"""Generation in the API: submit requests, follow them, fetch their images."""

import django_filters
from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from generation.jobs import selectors, services
from generation.jobs.models import Asset, GenerationRequest
from imprimatur.tenancy.models import Action, BrandProject
from imprimatur.tenancy.selectors import project_get


class GenerationRequestInputSerializer(serializers.Serializer):
    """Types only: the limits live in `services.generation_params_clean`, shared with the UI."""

    prompt = serializers.CharField(allow_blank=True, trim_whitespace=True)
    negative_prompt = serializers.CharField(required=False, allow_blank=True)
    model = serializers.CharField(required=False)
    width = serializers.IntegerField(required=False)
    height = serializers.IntegerField(required=False)
    steps = serializers.IntegerField(required=False)
    guidance_scale = serializers.FloatField(required=False)
    seed = serializers.IntegerField(required=False, allow_null=True)
    num_images = serializers.IntegerField(required=False)


class GenerationRequestCreateSerializer(GenerationRequestInputSerializer):
    project = serializers.SlugField(help_text="Slug of the brand project.")


class AssetSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = Asset
        fields = ["id", "request", "index", "seed", "width", "height", "sha256", "status", "url"]

    def get_url(self, asset) -> str:
        return self.context["request"].build_absolute_uri(
            reverse("api:asset-file", args=[asset.pk])
        )


class GenerationRequestSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    model = serializers.CharField(source="model_name")
    progress = serializers.SerializerMethodField()
    assets = AssetSerializer(many=True, read_only=True)

    class Meta:
        model = GenerationRequest
        fields = [
            "id",
            "project",
            "status",
            "prompt",
            "negative_prompt",
            "model",
            "width",
            "height",
            "steps",
            "guidance_scale",
            "seed",
            "num_images",
            "created_by",
            "created_at",
            "finished_at",
            "error",
            "rerun_of",
            "progress",
            "assets",
        ]

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


class GenerationRequestFilter(django_filters.FilterSet):
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = GenerationRequest
        fields = ["status", "created_after", "created_before"]


def _submit(http_request, project: BrandProject, data: dict) -> Response:
    values = dict(data)
    prompt = values.pop("prompt")
    values.pop("project", None)
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
        project = project_get(user=self.request.user, slug=self.kwargs["slug"])
        return selectors.generation_request_list(user=self.request.user, project=project)

    @extend_schema(responses={201: GenerationRequestSerializer})
    def post(self, request, slug: str):
        project = project_get(user=request.user, slug=slug)
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
            "assets", "jobs"
        )

    @extend_schema(responses={201: GenerationRequestSerializer})
    def post(self, request):
        serializer = GenerationRequestCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        slug = serializer.validated_data["project"]
        project = BrandProject.objects.restrict(request.user, Action.VIEW).filter(slug=slug).first()
        if project is None:
            # Same answer for "does not exist" and "belongs to another organisation".
            raise serializers.ValidationError({"project": f"Unknown project {slug!r}."})
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


class AssetDetailView(generics.RetrieveAPIView):
    serializer_class = AssetSerializer

    def get_object(self):
        return selectors.asset_get(user=self.request.user, pk=self.kwargs["pk"])


class AssetFileView(APIView):
    """The PNG of an asset, for users who may see it."""

    @extend_schema(responses={(200, "image/png"): OpenApiResponse(description="PNG image")})
    def get(self, request, pk: int):
        asset = selectors.asset_get(user=request.user, pk=pk)
        return FileResponse(
            asset.image.open("rb"),
            content_type="image/png",
            filename=f"imprimatur-request{asset.request_id}-{asset.index + 1}.png",
        )
