"""The API of one image: its details and file, signed exports, the upscale of an approved
image, and verifying any image's provenance."""

from django.http import FileResponse, HttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import Throttled
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.negotiation import BaseContentNegotiation, DefaultContentNegotiation
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from generation.jobs import exports, selectors
from generation.jobs.api import AssetSerializer, GenerationRequestSerializer
from generation.jobs.upscaling import asset_upscale_request, upscale_permission_check


class UpscaleInputSerializer(serializers.Serializer):
    factor = serializers.ChoiceField(choices=[2, 4], help_text="How many times to enlarge it.")


class AssetUpscaleView(APIView):
    """Enlarge an approved image with the upscaler: a new request (mode ``upscale``) whose one
    image is signed with this image as its C2PA parent ingredient and reviewed on its own."""

    @extend_schema(request=UpscaleInputSerializer, responses={201: GenerationRequestSerializer})
    def post(self, request, pk: int):
        asset = selectors.asset_get(user=request.user, pk=pk)
        upscale_permission_check(asset=asset, user=request.user)
        serializer = UpscaleInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        made = asset_upscale_request(
            asset=asset, user=request.user, factor=serializer.validated_data["factor"]
        )
        made = selectors.generation_request_get(user=request.user, pk=made.pk)
        body = GenerationRequestSerializer(made, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)


class AssetDetailView(generics.RetrieveAPIView):
    serializer_class = AssetSerializer

    def get_object(self):
        return selectors.asset_get(user=self.request.user, pk=self.kwargs["pk"])


class AssetFileView(APIView):
    """The PNG of an asset, for users who may see it."""

    @extend_schema(
        responses={
            (200, "image/png"): OpenApiResponse(
                response=OpenApiTypes.BINARY, description="PNG image"
            )
        }
    )
    def get(self, request, pk: int):
        asset = selectors.asset_file_get(user=request.user, pk=pk)
        return FileResponse(
            asset.image.open("rb"),
            content_type="image/png",
            filename=f"imprimatur-request{asset.request_id}-{asset.index + 1}.png",
        )


class AssetExportInputSerializer(serializers.Serializer):
    format = serializers.ChoiceField(
        choices=exports.REENCODED_FORMATS, help_text="The format of the signed file."
    )


class _AnswerInOneType(BaseContentNegotiation):
    """The file in its own type, errors as JSON, whatever the client accepts: a client asking
    for ``image/jpeg`` is answered, not refused with 406."""

    def select_parser(self, request, parsers):
        return DefaultContentNegotiation().select_parser(request, parsers)

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class AssetExportView(APIView):
    """The image (its approved version once approved) as a JPEG or WebP file, signed after the
    re-encoding with the stored image as parent ingredient. For users who may have the image's
    file (quarantined images: compliance officers and admins); each export is audited."""

    content_negotiation_class = _AnswerInOneType

    @extend_schema(
        request=AssetExportInputSerializer,
        responses={
            **{
                (200, exports.EXPORT_FORMATS[fmt]): OpenApiResponse(
                    response=OpenApiTypes.BINARY,
                    description="The signed file, named in Content-Disposition.",
                )
                for fmt in exports.REENCODED_FORMATS
            },
            400: OpenApiResponse(description="An unknown format, named under errors.format."),
            404: OpenApiResponse(description="No such image, or one you may not have."),
        },
    )
    def post(self, request, pk: int):
        asset = selectors.asset_file_get(user=request.user, pk=pk)
        serializer = AssetExportInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        exported = exports.asset_export(
            asset=asset, user=request.user, fmt=serializer.validated_data["format"]
        )
        response = HttpResponse(exported.content, content_type=exported.content_type)
        response["Content-Disposition"] = content_disposition_header(True, exported.filename)
        return response


# --- Provenance --------------------------------------------------------------------------------


class VerifyInputSerializer(serializers.Serializer):
    image = serializers.FileField(help_text="PNG, JPEG or WebP, at most 20 MB.")


class VerifyView(APIView):
    """Verify any image: its C2PA manifest (present, valid, trusted, intact, what it says) and
    which asset of this platform it is, by manifest, watermark or perceptual hash. Open to
    people without an account when IMPRIMATUR_PUBLIC_VERIFY is on; rate-limited."""

    def get_permissions(self):
        from django.conf import settings

        if settings.IMPRIMATUR_PUBLIC_VERIFY:
            return [AllowAny()]
        return [IsAuthenticated()]

    @extend_schema(
        request={"multipart/form-data": VerifyInputSerializer},
        responses={200: OpenApiResponse(description="report, asset, summary")},
    )
    def post(self, request):
        from generation.jobs.signing import image_verify, verify_rate_exceeded

        if verify_rate_exceeded(request):
            raise Throttled(wait=60)
        serializer = VerifyInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            result = image_verify(serializer.validated_data["image"].read(), user=request.user)
        except ValueError as error:
            raise DRFValidationError({"image": [str(error)]}) from None
        return Response(result)
