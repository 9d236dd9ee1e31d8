"""Webhooks in the API (``/api/v1/webhooks/…``): organisation admins list, add and change
endpoints, rotate their secrets, read the delivery log and send a delivery again. Another
organisation's endpoint or delivery is a 404; a non-admin may add none (403)."""

from django.core.exceptions import PermissionDenied
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from imprimatur.webhooks import selectors, services
from imprimatur.webhooks.catalog import EVENT_TYPES
from imprimatur.webhooks.models import Attempt, Delivery, Endpoint

EVENT_TYPE_CHOICES = sorted(EVENT_TYPES)


class EndpointSerializer(serializers.ModelSerializer):
    organization = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    event_types = serializers.ListField(child=serializers.ChoiceField(EVENT_TYPE_CHOICES))
    previous_secret_valid_until = serializers.DateTimeField(
        source="previous_secret_expires_at", read_only=True, allow_null=True
    )

    class Meta:
        model = Endpoint
        fields = [
            "id", "organization", "url", "description", "event_types", "enabled",
            "disabled_reason", "failing_since", "previous_secret_valid_until", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class EndpointCreatedSerializer(EndpointSerializer):
    secret = serializers.CharField(help_text="The signing secret (whsec_…): shown only now.")

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class EndpointCreateSerializer(serializers.Serializer):
    organization = serializers.SlugField(
        required=False, help_text="Needed only if you manage several organisations."
    )
    url = serializers.URLField(max_length=2000)
    description = serializers.CharField(required=False, allow_blank=True, max_length=200)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(EVENT_TYPE_CHOICES),
        required=False,
        max_length=len(EVENT_TYPE_CHOICES),
        help_text="Event types to receive; empty or absent: all.",
    )


class EndpointUpdateSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=2000, required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=200)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(EVENT_TYPE_CHOICES),
        required=False,
        max_length=len(EVENT_TYPE_CHOICES),
    )
    enabled = serializers.BooleanField(required=False)


class SecretSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="The new signing secret: shown only now.")
    previous_secret_valid_until = serializers.DateTimeField(allow_null=True)


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = Attempt
        fields = [
            "number", "started_at", "duration_ms", "status_code", "succeeded", "error",
            "response_snippet",
        ]  # fmt: skip
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    endpoint = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id", "endpoint", "message_id", "event_type", "status", "attempts",
            "next_attempt_at", "created_at", "delivered_at",
        ]  # fmt: skip
        read_only_fields = fields


class DeliveryDetailSerializer(DeliverySerializer):
    payload = serializers.JSONField(read_only=True)
    attempt_set = AttemptSerializer(many=True, read_only=True)

    class Meta(DeliverySerializer.Meta):
        fields = [*DeliverySerializer.Meta.fields, "payload", "attempt_set"]
        read_only_fields = fields


def _organization_for_create(user, slug: str | None):
    organizations = selectors.organizations_managed(user=user)
    if slug is not None:
        organizations = organizations.filter(slug=slug)
    choices = list(organizations[:2])
    if not choices:
        if slug is not None and selectors.organizations_managed(user=user).exists():
            raise serializers.ValidationError({"organization": f"Unknown organisation {slug!r}."})
        raise PermissionDenied("Only an organisation's admins add webhook endpoints.")
    if len(choices) > 1:
        raise serializers.ValidationError(
            {"organization": "You manage several organisations: name one."}
        )
    return choices[0]


class EndpointListView(generics.ListCreateAPIView):
    """The webhook endpoints of the organisations you administer; add one (its secret is in
    the answer, and only there)."""

    serializer_class = EndpointSerializer

    def get_queryset(self):
        return selectors.endpoint_list(user=self.request.user)

    @extend_schema(request=EndpointCreateSerializer, responses={201: EndpointCreatedSerializer})
    def post(self, request):
        if not selectors.organizations_managed(user=request.user).exists():  # before the input
            raise PermissionDenied("Only an organisation's admins add webhook endpoints.")
        serializer = EndpointCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        organization = _organization_for_create(request.user, data.get("organization"))
        endpoint, secret = services.endpoint_create(
            organization=organization,
            url=data["url"],
            actor=request.user,
            description=data.get("description", ""),
            event_types=data.get("event_types", []),
        )
        endpoint.secret = secret
        return Response(EndpointCreatedSerializer(endpoint).data, status=status.HTTP_201_CREATED)


class EndpointDetailView(APIView):
    """One endpoint; change its address, description, event types, or enable and disable it."""

    @extend_schema(responses={200: EndpointSerializer})
    def get(self, request, pk: int):
        endpoint = selectors.endpoint_get(user=request.user, pk=pk)
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(request=EndpointUpdateSerializer, responses={200: EndpointSerializer})
    def patch(self, request, pk: int):
        endpoint = selectors.endpoint_get(user=request.user, pk=pk)
        serializer = EndpointUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = services.endpoint_update(
            endpoint=endpoint, actor=request.user, **serializer.validated_data
        )
        return Response(EndpointSerializer(endpoint).data)


class EndpointRotateView(APIView):
    """A new signing secret; the previous one keeps signing during the overlap."""

    @extend_schema(request=None, responses={200: SecretSerializer})
    def post(self, request, pk: int):
        endpoint = selectors.endpoint_get(user=request.user, pk=pk)
        endpoint, secret = services.endpoint_rotate_secret(endpoint=endpoint, actor=request.user)
        body = {
            "secret": secret,
            "previous_secret_valid_until": endpoint.previous_secret_expires_at,
        }
        return Response(SecretSerializer(body).data)


class EndpointDeliveryListView(generics.ListAPIView):
    """An endpoint's deliveries, newest first."""

    serializer_class = DeliverySerializer
    queryset = Delivery.objects.none()  # for the schema; get_queryset scopes it

    def get_queryset(self):
        endpoint = selectors.endpoint_get(user=self.request.user, pk=self.kwargs["pk"])
        return selectors.delivery_list(user=self.request.user, endpoint=endpoint)


class DeliveryDetailView(APIView):
    """One delivery: its payload and every attempt (status, duration, error, answer)."""

    @extend_schema(responses={200: DeliveryDetailSerializer})
    def get(self, request, pk: int):
        delivery = selectors.delivery_get(user=request.user, pk=pk)
        return Response(DeliveryDetailSerializer(delivery).data)


class DeliveryResendView(APIView):
    """Send a delivery again now (same message id and payload, a fresh retry schedule)."""

    @extend_schema(request=None, responses={202: DeliverySerializer})
    def post(self, request, pk: int):
        delivery = selectors.delivery_get(user=request.user, pk=pk)
        delivery = services.delivery_resend(delivery=delivery, actor=request.user)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
