"""Projects in the API: list and read, scoped to the user's organisations; admins change a
project's brand kit with PATCH."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response

from imprimatur.tenancy import selectors, services
from imprimatur.tenancy.models import BRAND_THRESHOLD_KEYS, BrandProject


class BrandProjectSerializer(serializers.ModelSerializer):
    organization = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    reference_images = serializers.SerializerMethodField()

    class Meta:
        model = BrandProject
        fields = [
            "slug",
            "name",
            "organization",
            "description",
            "palette",
            "on_brand_descriptors",
            "off_brand_descriptors",
            "reference_images",
            "brand_thresholds",
            "likeness_review",
            "created_at",
        ]

    def get_reference_images(self, project) -> list[str]:
        return [image.caption or image.image.name for image in project.reference_images.all()]


class ProjectListView(generics.ListAPIView):
    serializer_class = BrandProjectSerializer
    filterset_fields = ["organization__slug"]

    def get_queryset(self):
        return selectors.project_list(user=self.request.user).prefetch_related("reference_images")


class BrandKitUpdateSerializer(serializers.Serializer):
    """The brand kit fields an admin may change; a field left out stays as it is. Values are
    checked by the model's validators (in the service), so the API and the page agree."""

    description = serializers.CharField(required=False, allow_blank=True)
    palette = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Colours as #RRGGBB."
    )
    on_brand_descriptors = serializers.ListField(child=serializers.CharField(), required=False)
    off_brand_descriptors = serializers.ListField(child=serializers.CharField(), required=False)
    brand_thresholds = serializers.JSONField(
        required=False,
        help_text="The whole set of thresholds that differ from the defaults (it replaces the "
        f"current one), with keys from: {', '.join(BRAND_THRESHOLD_KEYS)}.",
    )
    likeness_review = serializers.BooleanField(required=False)


class ProjectDetailView(generics.RetrieveAPIView):
    serializer_class = BrandProjectSerializer

    def get_object(self):
        return selectors.project_get(
            user=self.request.user,
            slug=self.kwargs["slug"],
            organization=self.request.query_params.get("organization"),
        )

    @extend_schema(request=BrandKitUpdateSerializer, responses=BrandProjectSerializer)
    def patch(self, request, *args, **kwargs):
        """Change the project's brand kit (admins of its organisation only)."""
        project = self.get_object()
        serializer = BrandKitUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project = services.project_brand_update(
            project=project, user=request.user, **serializer.validated_data
        )
        project = selectors.project_get(
            user=request.user, slug=project.slug, organization=project.organization.slug
        )
        return Response(BrandProjectSerializer(project, context={"request": request}).data)
