"""The model catalog in the API: list the models of your organisations; admins add and change
them (``catalog.model_profile_save`` checks each checkpoint and limit)."""

from django.core.exceptions import PermissionDenied
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from generation.jobs import catalog, selectors
from generation.jobs.models import ModelProfile
from imprimatur.tenancy.models import BrandProject, Organization
from imprimatur.tenancy.permissions import Action


class ModelProfileSerializer(serializers.ModelSerializer):
    organization = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    projects = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)

    class Meta:
        model = ModelProfile
        fields = [
            "id",
            "name",
            "organization",
            *catalog.PROFILE_FIELDS,
            "pipeline_class",
            "model_capabilities",
            "family",
            "prompt_tokens",
            "projects",
        ]
        read_only_fields = ["pipeline_class", "model_capabilities", "family", "prompt_tokens"]

    def to_representation(self, profile):
        data = super().to_representation(profile)
        if profile.organization_id not in self.context.get("admin_organization_ids", ()):
            # Where checkpoints live on the workers is for admins of the model's organisation
            # only: an admin elsewhere who is a creator here sees the model, not its path.
            data.pop("path")
        return data


class ModelProfileWriteSerializer(serializers.Serializer):
    """Types only; `catalog.model_profile_save` checks the checkpoint and the limits."""

    name = serializers.SlugField(required=False)
    organization = serializers.SlugField(
        required=False, help_text="Needed only if you administer several organisations."
    )
    display_name = serializers.CharField(required=False, allow_blank=True)
    path = serializers.CharField(required=False)
    single_file_config = serializers.CharField(required=False, allow_blank=True)
    capabilities = serializers.ListField(child=serializers.CharField(), required=False)
    queue = serializers.CharField(required=False)
    scheduler = serializers.CharField(required=False, allow_blank=True)
    sizes = serializers.ListField(child=serializers.IntegerField(), required=False)
    default_size = serializers.IntegerField(required=False)
    default_steps = serializers.IntegerField(required=False)
    max_steps = serializers.IntegerField(required=False)
    default_guidance = serializers.FloatField(required=False)
    max_guidance = serializers.FloatField(required=False)
    max_images = serializers.IntegerField(required=False)
    licence_note = serializers.CharField(required=False, allow_blank=True)
    enabled = serializers.BooleanField(required=False)
    projects = serializers.ListField(child=serializers.SlugField(), required=False)


def _admin_organizations(user):
    return Organization.objects.restrict(user, Action.MANAGE)


def _admin_organization_ids(user) -> set[int]:
    """The organisations whose models' paths ``user`` may see (restrict() answers for
    superusers too)."""
    return set(_admin_organizations(user).values_list("pk", flat=True))


def _save_profile(request, data: dict, profile: ModelProfile | None) -> ModelProfile:
    if profile is not None:
        organization = profile.organization
    else:
        if "name" not in data:
            raise serializers.ValidationError({"name": "This field is required."})
        if "path" not in data:
            raise serializers.ValidationError({"path": "This field is required."})
        choices = _admin_organizations(request.user)
        if "organization" in data:
            choices = choices.filter(slug=data["organization"])
        choices = list(choices[:2])
        if not choices:
            raise PermissionDenied("Only admins of an organisation add models to it.")
        if len(choices) > 1:
            raise serializers.ValidationError(
                {"organization": "You administer several organisations: name one."}
            )
        organization = choices[0]
    projects = None
    if "projects" in data:
        found = {
            project.slug: project
            for project in BrandProject.objects.filter(
                organization=organization, slug__in=data["projects"]
            )
        }
        unknown = [slug for slug in data["projects"] if slug not in found]
        if unknown:
            raise serializers.ValidationError(
                {"projects": f"Unknown projects: {', '.join(unknown)}."}
            )
        projects = list(found.values())
    fields = {key: value for key, value in data.items() if key in catalog.PROFILE_FIELDS}
    return catalog.model_profile_save(
        organization=organization,
        actor=request.user,
        name=data.get("name", profile.name if profile else ""),
        fields=fields,
        projects=projects,
        profile=profile,
    )


class ModelProfileListView(generics.ListCreateAPIView):
    """The model catalog of your organisations; admins add models with POST."""

    filterset_fields = ["enabled", "queue"]

    def get_serializer_class(self):
        if self.request.method == "POST":
            return ModelProfileWriteSerializer
        return ModelProfileSerializer

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["admin_organization_ids"] = _admin_organization_ids(self.request.user)
        return context

    def get_queryset(self):
        return selectors.model_profile_list(user=self.request.user).prefetch_related("projects")

    @extend_schema(responses={201: ModelProfileSerializer})
    def post(self, request):
        if not _admin_organizations(request.user).exists():  # before judging the input
            raise PermissionDenied("Only admins of an organisation add models to it.")
        serializer = ModelProfileWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        profile = _save_profile(request, serializer.validated_data, None)
        context = {"admin_organization_ids": {profile.organization_id}}  # it saved it: an admin
        body = ModelProfileSerializer(profile, context=context).data
        return Response(body, status=status.HTTP_201_CREATED)


class ModelProfileDetailView(generics.RetrieveAPIView):
    """One model; admins change it with PATCH."""

    serializer_class = ModelProfileSerializer

    def get_object(self):
        return selectors.model_profile_get(user=self.request.user, pk=self.kwargs["pk"])

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["admin_organization_ids"] = _admin_organization_ids(self.request.user)
        return context

    @extend_schema(request=ModelProfileWriteSerializer, responses={200: ModelProfileSerializer})
    def patch(self, request, pk: int):
        profile = self.get_object()
        serializer = ModelProfileWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data.pop("name", None)
        data.pop("organization", None)
        profile = _save_profile(request, data, profile)
        context = {"admin_organization_ids": {profile.organization_id}}  # it saved it: an admin
        return Response(ModelProfileSerializer(profile, context=context).data)
