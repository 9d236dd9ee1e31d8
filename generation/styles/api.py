"""Brand styles in the API: presets (admins write new versions; members read them) and
style models (admins upload a training set with its attestations, start, stop and resume
training; members see them and their evaluation)."""

from django.core.exceptions import PermissionDenied
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from generation.styles import presets, selectors, services
from generation.styles.models import StyleModel, StylePreset, StylePresetVersion
from imprimatur.tenancy.permissions import Action, user_may
from imprimatur.tenancy.selectors import project_get


class PresetVersionSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    style_model = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = StylePresetVersion
        fields = ["number", *presets.PRESET_FIELDS, "created_by", "created_at"]


class PresetSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    current = PresetVersionSerializer(read_only=True)
    versions = PresetVersionSerializer(many=True, read_only=True)

    class Meta:
        model = StylePreset
        fields = ["id", "project", "name", "current", "versions", "created_at"]


class PresetWriteSerializer(serializers.Serializer):
    """Types only; ``presets.preset_values_clean`` checks the values."""

    name = serializers.CharField(required=False, max_length=100)
    prompt_template = serializers.CharField(required=False)
    negative_prompt = serializers.CharField(required=False, allow_blank=True)
    size = serializers.IntegerField(required=False, allow_null=True)
    steps = serializers.IntegerField(required=False, allow_null=True)
    guidance_scale = serializers.FloatField(required=False, allow_null=True)
    scheduler = serializers.CharField(required=False, allow_blank=True)
    style_model = serializers.IntegerField(required=False, allow_null=True)
    style_weight = serializers.FloatField(required=False)


def _project(request, slug: str):
    return project_get(
        user=request.user, slug=slug, organization=request.query_params.get("organization")
    )


class ProjectPresetListView(APIView):
    """A project's style presets; POST (admins) creates one."""

    @extend_schema(responses=PresetSerializer(many=True))
    def get(self, request, slug: str):
        project = _project(request, slug)
        found = selectors.preset_list(user=request.user, project=project)
        return Response(PresetSerializer(found.filter(archived=False), many=True).data)

    @extend_schema(request=PresetWriteSerializer, responses={201: PresetSerializer})
    def post(self, request, slug: str):
        project = _project(request, slug)
        if not user_may(request.user, Action.MANAGE, project):
            raise PermissionDenied("Only admins of this project's organisation manage presets.")
        serializer = PresetWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        name = data.pop("name", "")
        if not name:
            raise serializers.ValidationError({"name": "This field is required."})
        version = presets.preset_save(project=project, user=request.user, name=name, data=data)
        return Response(PresetSerializer(version.preset).data, status=status.HTTP_201_CREATED)


class PresetDetailView(APIView):
    """One preset with its versions; PATCH (admins) writes a new version from the current
    one's values and the fields given."""

    @extend_schema(responses=PresetSerializer)
    def get(self, request, pk: int):
        return Response(PresetSerializer(selectors.preset_get(user=request.user, pk=pk)).data)

    @extend_schema(request=PresetWriteSerializer, responses=PresetSerializer)
    def patch(self, request, pk: int):
        preset = selectors.preset_get(user=request.user, pk=pk)
        serializer = PresetWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data.pop("name", None)
        current = preset.current
        base = {field: getattr(current, field) for field in presets.PRESET_FIELDS}
        base["style_model"] = current.style_model_id
        version = presets.preset_save(
            project=preset.project,
            user=request.user,
            name=preset.name,
            data={**base, **data},
            preset=preset,
        )
        return Response(PresetSerializer(version.preset).data)


class StyleSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    base_model = serializers.SlugRelatedField(slug_field="name", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    images = serializers.SerializerMethodField()
    samples = serializers.SerializerMethodField()

    class Meta:
        model = StyleModel
        fields = [
            "id",
            "project",
            "name",
            "version",
            "base_model",
            "status",
            "config",
            "steps_done",
            "total_steps",
            "training_seconds",
            "error",
            "weights_sha256",
            "weights_bytes",
            "evaluation",
            "images",
            "samples",
            "created_by",
            "created_at",
            "trained_at",
        ]

    def get_images(self, style) -> list[dict]:
        return [
            {
                "sha256": image.sha256,
                "caption": image.caption,
                "held_out": image.held_out,
                "owner": image.rights_owner,
                "licence": image.licence,
                "attested_by": image.attested_by.get_username(),
                "attested_at": image.attested_at.isoformat(),
            }
            for image in style.images.select_related("attested_by")
        ]

    def get_samples(self, style) -> list[dict]:
        return [
            {
                "prompt": sample.prompt,
                "with_style": sample.with_style,
                "url": reverse("styles:sample", args=[sample.pk]),
            }
            for sample in style.samples.all()
        ]


class StyleCreateSerializer(serializers.Serializer):
    """Multipart: the images, and per image its rights owner and licence (one value applies
    to every image); ``attest`` must be true."""

    name = serializers.CharField(max_length=100)
    base_model = serializers.CharField(required=False, allow_blank=True)
    images = serializers.ListField(child=serializers.FileField(), allow_empty=True)
    captions = serializers.ListField(child=serializers.CharField(allow_blank=True), required=False)
    owners = serializers.ListField(child=serializers.CharField(allow_blank=True), required=False)
    licences = serializers.ListField(child=serializers.CharField(allow_blank=True), required=False)
    attest = serializers.BooleanField(
        default=False,
        help_text="True: you attest the organisation holds the rights to train on the images.",
    )
    steps = serializers.IntegerField(required=False)
    rank = serializers.IntegerField(required=False)
    learning_rate = serializers.FloatField(required=False)
    batch_size = serializers.IntegerField(required=False)
    time_budget_s = serializers.IntegerField(required=False, help_text="Seconds of training.")
    max_bytes = serializers.IntegerField(required=False, help_text="Largest weights file.")
    seed = serializers.IntegerField(required=False)
    train_text_encoder = serializers.BooleanField(required=False)
    flip = serializers.BooleanField(required=False, help_text="Train on mirrored views too.")
    convolutions = serializers.BooleanField(
        required=False, help_text="Adapt the UNet's convolutions too, not only its attention."
    )
    caption_dropout = serializers.FloatField(
        required=False, help_text="Share of captions left empty in training (0 to 0.9)."
    )
    members = serializers.IntegerField(
        required=False,
        help_text="Runs (seeds seed, seed + 1, ...) averaged into one adapter (1 to 8).",
    )
    lr_schedule = serializers.ChoiceField(
        choices=services.CONFIG_CHOICES["lr_schedule"][1],
        required=False,
        help_text="The learning rate: constant, or falling to 0 along a half cosine (default).",
    )


def _per_image(values: list[str] | None, count: int) -> list[str]:
    values = list(values or [])
    if len(values) == 1:
        return values * count
    return values + [""] * (count - len(values))


class ProjectStyleListView(APIView):
    """A project's style models; POST (admins, multipart) uploads a training set."""

    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(responses=StyleSerializer(many=True))
    def get(self, request, slug: str):
        project = _project(request, slug)
        found = selectors.style_list(user=request.user, project=project)
        return Response(StyleSerializer(found, many=True).data)

    @extend_schema(request=StyleCreateSerializer, responses={201: StyleSerializer})
    def post(self, request, slug: str):
        project = _project(request, slug)
        if not user_may(request.user, Action.MANAGE, project):
            raise PermissionDenied("Only admins of this project's organisation manage styles.")
        serializer = StyleCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        files = data["images"]
        owners = _per_image(data.get("owners"), len(files))
        licences = _per_image(data.get("licences"), len(files))
        captions = _per_image(data.get("captions"), len(files))
        style = services.style_create(
            project=project,
            user=request.user,
            name=data["name"],
            base_model=data.get("base_model", ""),
            images=[
                {"file": file, "owner": owner, "licence": licence, "caption": caption}
                for file, owner, licence, caption in zip(
                    files, owners, licences, captions, strict=False
                )
            ],
            attest=data["attest"],
            config={
                key: data[key]
                for key in (
                    *services.CONFIG_BOUNDS,
                    *services.CONFIG_SWITCHES,
                    *services.CONFIG_CHOICES,
                )
                if key in data
            },
        )
        return Response(StyleSerializer(style).data, status=status.HTTP_201_CREATED)


class StyleDetailView(APIView):
    @extend_schema(responses=StyleSerializer)
    def get(self, request, pk: int):
        return Response(StyleSerializer(selectors.style_get(user=request.user, pk=pk)).data)


class _StyleActionView(APIView):
    verb = ""

    @extend_schema(request=None, responses=StyleSerializer)
    def post(self, request, pk: int):
        style = selectors.style_get(user=request.user, pk=pk)
        act = {
            "train": services.style_train,
            "cancel": services.style_cancel,
            "review": services.style_review_send,
        }[self.verb]
        style = act(style=style, user=request.user)
        return Response(StyleSerializer(style).data)


class StyleTrainView(_StyleActionView):
    """Start training (admins), or resume a stopped or failed training from its checkpoint."""

    verb = "train"


class StyleCancelView(_StyleActionView):
    """Stop a training at its next step (admins); it can resume later."""

    verb = "cancel"


class StyleReviewView(_StyleActionView):
    """Send a trained style to the project's review workflow (admins): needed only when the
    workflow had no stage for styles when training ended."""

    verb = "review"
