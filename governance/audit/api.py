"""The audit API: a report as JSON (the same sections as the page and the PDF)."""

from django.core.exceptions import PermissionDenied
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.audit.forms import ReportForm
from governance.audit.reports import report_build


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
