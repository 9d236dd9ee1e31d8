"""A project's push destination in the API: ``GET``/``PUT /api/v1/projects/<slug>/
destination/`` (the organisation's admins; another organisation's project is a 404), and
its recent pushes."""

from django.core.exceptions import PermissionDenied
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from generation.jobs import destinations
from generation.jobs.models import AssetPush, PushDestination
from imprimatur.tenancy.permissions import Action, user_may
from imprimatur.tenancy.selectors import project_get


class PushSerializer(serializers.ModelSerializer):
    class Meta:
        model = AssetPush
        fields = [
            "id", "asset", "destination_url", "status", "attempts", "next_attempt_at",
            "last_error", "names", "created_at", "pushed_at",
        ]  # fmt: skip
        read_only_fields = fields


class DestinationSerializer(serializers.Serializer):
    url = serializers.CharField(
        max_length=500,
        allow_blank=True,
        help_text="A folder (/path or file:///path, under IMPRIMATUR_PUSH_FOLDER_ROOT) or "
        "s3://BUCKET[/prefix] for a bucket in IMPRIMATUR_PUSH_S3_BUCKETS; empty: none.",
    )
    enabled = serializers.BooleanField(default=True)


class DestinationStateSerializer(DestinationSerializer):
    pushes = PushSerializer(many=True, read_only=True, help_text="The latest 20 pushes.")


def _project(request, slug: str):
    project = project_get(user=request.user, slug=slug)
    if not user_may(request.user, Action.MANAGE, project):
        raise PermissionDenied("Only the organisation's admins set a project's destination.")
    return project


def _state(project) -> dict:
    destination = PushDestination.objects.filter(project=project).first()
    pushes = AssetPush.objects.filter(asset__request__project=project).order_by("-pk")[:20]
    return {
        "url": destination.url if destination else "",
        "enabled": destination.enabled if destination else False,
        "pushes": PushSerializer(pushes, many=True).data,
    }


class ProjectDestinationView(APIView):
    """Where the project's approved images are copied once published, and the last pushes."""

    @extend_schema(responses={200: DestinationStateSerializer})
    def get(self, request, slug: str):
        return Response(_state(_project(request, slug)))

    @extend_schema(request=DestinationSerializer, responses={200: DestinationStateSerializer})
    def put(self, request, slug: str):
        project = _project(request, slug)
        serializer = DestinationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        destinations.push_destination_set(
            project=project, actor=request.user, **serializer.validated_data
        )
        return Response(_state(project))
