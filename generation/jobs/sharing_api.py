"""Share links in the API: an organisation's switch, making, listing and revoking links."""

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from generation.jobs import selectors, sharing
from generation.jobs.models import ShareLink, SharingSettings
from imprimatur.tenancy.models import Organization
from imprimatur.tenancy.permissions import Action


class ShareLinkSerializer(serializers.ModelSerializer):
    asset = serializers.IntegerField(source="asset_id", read_only=True)
    url = serializers.SerializerMethodField(
        help_text="The link: in the answer that made it only (its token is not stored)."
    )
    created_by = serializers.CharField(source="created_by.get_username", read_only=True)
    revoked_by = serializers.CharField(
        source="revoked_by.get_username", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = ShareLink
        fields = ["id", "asset", "url", "expires_at", "revoked_at", "revoked_by", "created_by",
                  "created_at", "uses", "last_used_at"]  # fmt: skip

    def get_url(self, link) -> str | None:
        token = self.context.get("token")
        if not token:
            return None
        return self.context["request"].build_absolute_uri(reverse("jobs:share", args=[token]))


class ShareLinkInputSerializer(serializers.Serializer):
    expires_in_hours = serializers.IntegerField(
        min_value=1, help_text="At most IMPRIMATUR_SHARE_LINK_MAX_HOURS (168 by default)."
    )


class AssetShareLinkListView(APIView):
    """An approved image's share links (compliance officers and admins); POST makes one,
    when the organisation has turned share links on."""

    @extend_schema(
        responses={
            200: ShareLinkSerializer(many=True),
            404: OpenApiResponse(description="No such image, or another organisation's."),
        }
    )
    def get(self, request, pk: int):
        asset = selectors.asset_get(user=request.user, pk=pk)
        links = sharing.share_links_of(user=request.user, asset=asset)
        return Response(ShareLinkSerializer(links, many=True).data)

    @extend_schema(
        request=ShareLinkInputSerializer,
        responses={
            201: ShareLinkSerializer,
            400: OpenApiResponse(description="A validity outside 1 … the maximum hours."),
            403: OpenApiResponse(description="Not compliance or admin, or sharing is off."),
            409: OpenApiResponse(description="The image is not approved and published."),
        },
    )
    def post(self, request, pk: int):
        asset = selectors.asset_get(user=request.user, pk=pk)
        sharing.share_link_check(asset=asset, user=request.user)  # 403 before judging the input
        serializer = ShareLinkInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        link, token = sharing.share_link_create(
            asset=asset, user=request.user, hours=serializer.validated_data["expires_in_hours"]
        )
        context = {"request": request, "token": token}
        return Response(ShareLinkSerializer(link, context=context).data, status=201)


class ShareLinkRevokeView(APIView):
    """Revoke a share link: it stops working at once. 409 when it already was."""

    @extend_schema(
        request=None,
        responses={
            200: ShareLinkSerializer,
            404: OpenApiResponse(description="No such link, or not yours to revoke."),
            409: OpenApiResponse(description="Already revoked."),
        },
    )
    def post(self, request, pk: int):
        link = sharing.share_link_get(user=request.user, pk=pk)
        link = sharing.share_link_revoke(link=link, user=request.user)
        return Response(ShareLinkSerializer(link).data)


class SharingSerializer(serializers.Serializer):
    share_links = serializers.BooleanField(help_text="Whether share links are on (default off).")


class SharingView(APIView):
    """An organisation's share-link switch: everyone of it reads it, its admins set it.
    Turning it off stops every link of the organisation."""

    def _organization(self, request, slug: str) -> Organization:
        found = Organization.objects.restrict(request.user, Action.VIEW).filter(slug=slug).first()
        if found is None:
            from django.http import Http404

            raise Http404("No such organisation.")
        return found

    @extend_schema(responses={200: SharingSerializer})
    def get(self, request, slug: str):
        organization = self._organization(request, slug)
        return Response({"share_links": sharing.sharing_enabled(organization)})

    @extend_schema(
        request=SharingSerializer,
        responses={
            200: SharingSerializer,
            403: OpenApiResponse(description="Not an admin of the organisation."),
            404: OpenApiResponse(description="No such organisation, or not yours."),
        },
    )
    def put(self, request, slug: str):
        organization = self._organization(request, slug)
        sharing.sharing_configure_check(organization=organization, user=request.user)
        serializer = SharingSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        current: SharingSettings = sharing.sharing_configure(
            organization=organization,
            user=request.user,
            share_links=serializer.validated_data["share_links"],
        )
        return Response({"share_links": current.share_links}, status=status.HTTP_200_OK)
