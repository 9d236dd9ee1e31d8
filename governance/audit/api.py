"""The audit API: a report as JSON (the same sections as the page and the PDF), the log's
export (the browser's, as a stream) and a verification of the whole chain."""

from django.core.exceptions import PermissionDenied
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.negotiation import BaseContentNegotiation, DefaultContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.audit.forms import ReportForm
from governance.audit.reports import report_build
from governance.audit.views import (
    EXPORT_FORMATS,
    _filters,
    _may_audit,
    chain_verify_audited,
    export_response,
)


class ReportView(APIView):
    @extend_schema(
        summary="An audit report for an organisation or project and a period",
        parameters=[
            OpenApiParameter("organization", str, description="Slug; your first by default."),
            OpenApiParameter("project", str, description="Slug; all projects by default."),
            OpenApiParameter("since", OpenApiTypes.DATE, description="Default: 29 days ago."),
            OpenApiParameter("until", OpenApiTypes.DATE, description="Inclusive; default today."),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        form = ReportForm(request.query_params.copy(), user=request.user)
        organizations = form.fields["organization"].queryset
        if not organizations.exists():
            raise PermissionDenied("Only auditors and admins read audit reports.")
        if not form.data.get("organization"):
            form.data["organization"] = organizations.first().slug
        if not form.is_valid():
            raise exceptions.ValidationError(
                {field: [str(error) for error in errors] for field, errors in form.errors.items()}
            )
        return Response(report_build(form.scope()).as_dict())


class WitnessUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "witness_unavailable"


class CheckpointsView(APIView):
    def perform_content_negotiation(self, request, force=False):
        # The answer is JSON Lines whatever the Accept header asks; errors are JSON.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        summary="The signed checkpoints held by the audit witness, as JSON Lines",
        description="Auditors and admins (of any organisation: the Merkle tree is global, so "
        "the checkpoints show every organisation's event count and hashes, no content). Keep "
        "the file; `manage.py audit_verify --checkpoints FILE` checks the platform against "
        "it later. Read from the witness, not the database.",
        responses={(200, "application/x-ndjson"): OpenApiTypes.STR},
    )
    def get(self, request):
        from governance.audit.views import checkpoints_jsonl
        from governance.audit.witness import WitnessError
        from imprimatur.tenancy.permissions import Action, user_may_anywhere

        if not user_may_anywhere(request.user, Action.AUDIT):
            raise PermissionDenied("Only auditors and admins read the audit log.")
        try:
            return checkpoints_jsonl(request.user, via="api")
        except WitnessError as error:
            raise WitnessUnavailable(f"The witness cannot be read: {error}") from None


class _AnswerInOneType(BaseContentNegotiation):
    """The file in its own type, errors as JSON, whatever the client accepts (and the
    ``format`` parameter is the file's, not DRF's renderer override)."""

    def select_parser(self, request, parsers):
        return DefaultContentNegotiation().select_parser(request, parsers)

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


_FILTERS = [
    OpenApiParameter("since", str, description="A date (YYYY-MM-DD) or date and time."),
    OpenApiParameter("until", str, description="A date (inclusive) or date and time."),
    OpenApiParameter("actor", str, description="Part of the actor's name."),
    OpenApiParameter("action", str, description="An action, or its prefix (generation.)."),
    OpenApiParameter("project", str, description="A project's slug."),
    OpenApiParameter("target", str, description="type:id of the event's object."),
    OpenApiParameter("q", str, description="Text in the event's description or data."),
    OpenApiParameter("request", str, description="The id of the HTTP request that caused it."),
]


class ExportView(APIView):
    """The audit log as the browser exports it: JSON Lines (the hashed fields and hashes, one
    event a line; unfiltered, the whole chain, which ``imprimatur audit verify FILE`` or
    ``tools/audit_verify.py`` checks) or CSV, streamed. Auditors and admins; audited."""

    content_negotiation_class = _AnswerInOneType

    @extend_schema(
        summary="Export the audit log",
        parameters=[
            OpenApiParameter("format", str, enum=list(EXPORT_FORMATS), default="jsonl"),
            *_FILTERS,
        ],
        responses={
            (200, "application/x-ndjson"): OpenApiResponse(
                response=OpenApiTypes.BINARY, description="One event a line."
            ),
            (200, "text/csv"): OpenApiResponse(response=OpenApiTypes.BINARY),
            400: OpenApiResponse(description="An unknown format or a date that is not one."),
            403: OpenApiResponse(description="Not an auditor or admin."),
        },
    )
    def get(self, request):
        _may_audit(request.user)
        fmt = request.query_params.get("format", "jsonl")
        filters, query, problems = _filters(request._request)
        errors = {"format": [f"Export as {' or '.join(EXPORT_FORMATS)}."]}
        if fmt not in EXPORT_FORMATS:
            raise exceptions.ValidationError(errors)
        if problems:
            raise exceptions.ValidationError({"non_field_errors": problems})
        return export_response(request.user, fmt, filters, query)


class AuditVerifyResultSerializer(serializers.Serializer):
    intact = serializers.BooleanField()
    last_sequence = serializers.IntegerField(help_text="The last event that verified.")
    checkpoints = serializers.IntegerField(help_text="Signed checkpoints checked.")
    broken_sequence = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField(allow_blank=True)
    summary = serializers.CharField(
        help_text="The result in your terms: how many of your organisations' events the "
        "chain holds (the chain is one for every organisation; its other events are not "
        "yours to count)."
    )


class VerifyView(APIView):
    """Walk the whole chain and its signed checkpoints now; the answer says whether it is
    intact and where it broke. Auditors and admins; audited."""

    @extend_schema(
        summary="Verify the audit log", request=None, responses={200: AuditVerifyResultSerializer}
    )
    def post(self, request):
        result, summary = chain_verify_audited(request.user)
        body = {
            "intact": result.intact,
            "last_sequence": result.last_sequence,
            "checkpoints": result.checkpoints,
            "broken_sequence": result.broken_sequence,
            "reason": result.reason,
            "summary": summary,
        }
        return Response(AuditVerifyResultSerializer(body).data)
