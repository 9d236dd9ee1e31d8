"""Projects in the API: list and read, scoped to the user's organisations."""

from rest_framework import generics, serializers

from imprimatur.tenancy import selectors
from imprimatur.tenancy.models import BrandProject


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
            "created_at",
        ]

    def get_reference_images(self, project) -> list[str]:
        return [image.caption or image.image.name for image in project.reference_images.all()]


class ProjectListView(generics.ListAPIView):
    serializer_class = BrandProjectSerializer
    filterset_fields = ["organization__slug"]

    def get_queryset(self):
        return selectors.project_list(user=self.request.user).prefetch_related("reference_images")


class ProjectDetailView(generics.RetrieveAPIView):
    serializer_class = BrandProjectSerializer

    def get_object(self):
        return selectors.project_get(user=self.request.user, slug=self.kwargs["slug"])
