"""The audit browser: filter, page, read one event, export what is shown, verify the chain."""

import csv
import json
from collections.abc import Callable
from urllib.parse import urlencode

from django.apps import apps
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from governance.audit import selectors
from governance.audit.chain import canonical_json
from governance.audit.events import (
    audit_checkpoints_downloaded,
    audit_exported,
    audit_proof_downloaded,
    audit_report_downloaded,
    audit_verified,
)
from governance.audit.forms import ReportForm
from governance.audit.head import chain_head
from governance.audit.registry import ACTIONS
from governance.audit.reports import Chart, report_build
from imprimatur.downloads import file_download
from imprimatur.tenancy.models import Organization
from imprimatur.tenancy.permissions import Action, OrganizationScoped, user_may, user_may_anywhere


def _may_audit(user) -> None:
    if not user_may_anywhere(user, Action.AUDIT):
        raise PermissionDenied("Only auditors and admins read the audit log.")


def _record_for_audited(user, record: Callable[[Organization], object]) -> None:
    """``record(organization)``: an event about reading the log, in each organisation whose
    log the user reads (so each organisation's auditors see it)."""
    from django.db import transaction

    with transaction.atomic():
        for organization in Organization.objects.restrict(user, Action.AUDIT).order_by("pk"):
            record(organization)


def _moment(value: str, *, end: bool = False):
    if not value:
        return None
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            return None
        from datetime import datetime, time, timedelta

        moment = datetime.combine(day, time.min) + (timedelta(days=1) if end else timedelta())
    from django.utils import timezone

    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


def _filters(request) -> tuple[selectors.EventFilter, dict, list[str]]:
    query = {key: request.GET.get(key, "").strip() for key in (
        "since", "until", "actor", "action", "project", "target", "q", "request")}  # fmt: skip
    problems = []
    since, until = _moment(query["since"]), _moment(query["until"], end=True)
    if query["since"] and since is None:
        problems.append(f"“{query['since']}” is not a date (YYYY-MM-DD) or date and time.")
    if query["until"] and until is None:
        problems.append(f"“{query['until']}” is not a date (YYYY-MM-DD) or date and time.")
    filters = selectors.EventFilter(
        since=since,
        until=until,
        actor=query["actor"],
        action=query["action"],
        project=query["project"],
        target=query["target"],
        text=query["q"],
        request_id=query["request"],
    )
    return filters, query, problems


@login_required
def event_list(request):
    _may_audit(request.user)
    filters, query, problems = _filters(request)
    before = request.GET.get("before", "")
    events, following = selectors.event_page(
        user=request.user, filters=filters, before=int(before) if before.isdigit() else None
    )
    params = urlencode({key: value for key, value in query.items() if value})
    return render(
        request,
        "audit/list.html",
        {
            "events": events,
            "following": following,
            "query": query,
            "params": params,
            "problems": problems,
            "actions": sorted(ACTIONS),
            "prefixes": sorted({action.split(".")[0] + "." for action in ACTIONS}),
        },
        status=400 if problems else 200,
    )


def _target_link(event, user) -> tuple[str, bool]:
    """The page of the event's target, if its model has one that ``user`` may open (the
    model's ``page_visible_to(user)``, else anyone who sees the object), and whether the
    target still exists (a deleted object, or a model no longer in the code, does not)."""
    if not event.target_type or not event.target_id:
        return "", True
    try:
        model = apps.get_model(event.target_type)
        target = model._default_manager.filter(pk=event.target_id).first()
    except (LookupError, ValueError, ValidationError):
        return "", False
    if target is None:
        return "", False
    if not hasattr(target, "get_absolute_url"):
        return "", True
    if hasattr(target, "page_visible_to"):
        visible = target.page_visible_to(user)
    elif isinstance(target, OrganizationScoped):
        visible = user_may(user, Action.VIEW, target)
    else:
        visible = True  # not an organisation's object: a page for everyone signed in
    return (target.get_absolute_url() if visible else ""), True


@login_required
def event_detail(request, sequence: int):
    _may_audit(request.user)
    event = selectors.event_get(user=request.user, sequence=sequence)
    target_url, target_exists = _target_link(event, request.user)
    previous, following = selectors.event_neighbours(user=request.user, sequence=sequence)
    return render(
        request,
        "audit/detail.html",
        {
            "event": event,
            "target_url": target_url,
            "target_exists": target_exists,
            "previous": previous,
            "following": following,
            "data_json": json.dumps(event.data, indent=2, ensure_ascii=False, sort_keys=True),
            "described": ACTIONS.get(event.action, ""),
            "canonical": canonical_json(event.hashed_fields()),
        },
    )


@file_download
def event_proof(request, sequence: int):
    """The event's inclusion proof (proofs.py) as a JSON download: it proves the event is in
    the signed log without showing any other. Signs a checkpoint first when none covers the
    event yet."""
    from governance.audit.proofs import inclusion_proof

    _may_audit(request.user)
    event = selectors.event_get(user=request.user, sequence=sequence)
    proof = inclusion_proof(sequence, sign=True)
    audit_proof_downloaded(
        actor=request.user,
        organization=event.organization,
        sequence=sequence,
        tree_size=proof["tree_size"],
    )
    response = HttpResponse(
        json.dumps(proof, indent=2, ensure_ascii=False) + "\n",
        content_type="application/json; charset=utf-8",
    )
    response["Content-Disposition"] = (
        f'attachment; filename="imprimatur-audit-proof-{sequence}.json"'
    )
    return response


class _Echo:
    def write(self, value):
        return value


CSV_COLUMNS = ("sequence", "created_at", "actor_name", "organization_id", "action",
               "target_type", "target_id", "target_repr", "data", "request_id", "prev_hash",
               "hash")  # fmt: skip


@file_download
def event_export(request, fmt: str):
    """What the filters show, streamed in sequence order (constant memory): CSV, or JSON Lines
    with the hashed fields and hashes (each event checks on its own; an unfiltered export is
    the whole chain, which ``tools/audit_verify.py`` verifies)."""
    _may_audit(request.user)
    filters, query, problems = _filters(request)
    if problems or fmt not in EXPORT_FORMATS:
        return redirect("audit:list")
    return export_response(request.user, fmt, filters, query)


EXPORT_FORMATS = ("csv", "jsonl")


def export_response(user, fmt: str, filters, query: dict) -> StreamingHttpResponse:
    """The export as a streamed download, audited (the page's link and the API's)."""
    # What was in the log when asked: not the export's own event, nor later ones.
    head = chain_head()[0]
    events = (
        selectors.event_list(user=user, filters=filters)
        .filter(sequence__lte=head)
        .order_by("sequence")
    )
    used = {k: v for k, v in query.items() if v}
    _record_for_audited(
        user,
        lambda organization: audit_exported(
            actor=user, organization=organization, file_format=fmt, filters=used
        ),
    )

    def rows():
        if fmt == "csv":
            writer = csv.writer(_Echo())
            yield writer.writerow(CSV_COLUMNS)
            for event in events.iterator(chunk_size=2000):
                fields = event.exported_fields()
                fields["data"] = json.dumps(event.data, sort_keys=True, ensure_ascii=False)
                yield writer.writerow([fields.get(column, "") for column in CSV_COLUMNS])
        else:
            for event in events.iterator(chunk_size=2000):
                yield canonical_json(event.exported_fields()) + "\n"

    content_type = "text/csv" if fmt == "csv" else "application/x-ndjson"
    response = StreamingHttpResponse(rows(), content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="imprimatur-audit.{fmt}"'
    return response


@login_required
@require_POST
def chain_verify(request):
    """Walk the whole chain and its checkpoints now and say whether it is intact."""
    result, summary = chain_verify_audited(request.user)
    if result.intact:
        messages.success(request, f"The audit log is {summary}.")
    else:
        messages.error(request, f"The audit log is {summary}.")
    return redirect("audit:list")


def checkpoints_jsonl(user, via: str) -> HttpResponse:
    """The witness's signed checkpoints as JSON Lines, for an auditor to keep (and check the
    platform against later: ``manage.py audit_verify --checkpoints FILE``). Read from the
    witness, not the database. The tree is global, so they are every organisation's: they
    show the platform's event count over time and hashes, no event's content. Raises
    WitnessError when the witness cannot be read."""
    from governance.audit.witness import configured_witness, entry_line

    entries = configured_witness().entries()
    _record_for_audited(
        user,
        lambda organization: audit_checkpoints_downloaded(
            actor=user, organization=organization, count=len(entries), via=via
        ),
    )
    response = HttpResponse(
        "".join(entry_line(entry) for entry in entries),
        content_type="application/x-ndjson; charset=utf-8",
    )
    response["Content-Disposition"] = 'attachment; filename="imprimatur-audit-checkpoints.jsonl"'
    return response


@login_required
def checkpoints_download(request):
    from governance.audit.witness import WitnessError

    _may_audit(request.user)
    try:
        return checkpoints_jsonl(request.user, via="web")
    except WitnessError as error:
        messages.error(request, f"The witness cannot be read: {error}")
        return redirect("audit:list")


def _verify_summary(user, result) -> str:
    """The verification's result in the user's terms: the chain is one for all organisations,
    but how many events it holds, and what the break's detail says, is not theirs to read."""
    if not result.intact:
        return f"broken at sequence {result.broken_sequence}: {result.reason}"
    ours = selectors.event_list(user=user).filter(sequence__lte=result.last_sequence).count()
    events = ngettext("the %d event", "the %d events", ours) % ours
    return f"intact: the chain verified, with {events} of your organisations in it"


def chain_verify_audited(user):
    """Verify the whole chain now, recorded in each organisation the user audits (the page's
    button and the API's): the result and its summary in the user's terms."""
    from governance.audit.verify import audit_verify

    _may_audit(user)
    result = audit_verify()
    summary = _verify_summary(user, result)
    _record_for_audited(
        user,
        lambda organization: audit_verified(
            actor=user, organization=organization, intact=result.intact, result=summary
        ),
    )
    return result, summary


def _report_form(request) -> ReportForm:
    """The report form bound to the query string; the first organisation and the last 30
    days when nothing is asked for."""
    data = request.GET.copy()
    form = ReportForm(user=request.user)
    first = form.fields["organization"].queryset.first()
    if first is None:
        raise PermissionDenied("Only auditors and admins read audit reports.")
    if not data.get("organization"):
        data["organization"] = first.slug
    return ReportForm(data, user=request.user)


def _report_form_context(form: ReportForm) -> dict:
    """The form with its dates as typed, or as defaulted (call after ``is_valid``)."""
    form.is_valid()
    values = {}
    for name in ("since", "until"):
        value = form.cleaned_data.get(name) or form.data.get(name, "")
        values[f"{name}_value"] = value.isoformat() if hasattr(value, "isoformat") else value
    return {"form": form, "report": None, **values}


def chart_view(chart: Chart) -> dict:
    """Geometry for the template: horizontal bars as percentages of the longest, or a
    day-by-day SVG column chart (viewBox units: 10 per day, 100 high)."""
    peak = chart.peak or 1
    if chart.kind != "days":
        return {
            "chart": chart,
            "bars": [
                {"label": label, "value": value, "percent": round(100 * value / peak, 1)}
                for label, value in chart.points
            ],
        }
    columns = []
    for index, (label, value) in enumerate(chart.points):
        height = round(96 * value / peak, 2)
        columns.append(
            {"label": label, "value": value, "x": index * 10 + 1, "y": 100 - height, "h": height}
        )
    return {"chart": chart, "columns": columns, "width": 10 * len(columns)}


@login_required
def report(request):
    """A report for an organisation or project and a period: tables and charts."""
    _may_audit(request.user)
    form = _report_form(request)
    context = _report_form_context(form)
    if form.is_valid():
        built = report_build(form.scope())
        context["report"] = built
        context["sections"] = [
            {"section": section, "charts": [chart_view(chart) for chart in section.charts]}
            for section in built.sections
        ]
        context["query"] = request.GET.urlencode()
    return render(request, "audit/report.html", context, status=200 if form.is_valid() else 400)


@file_download
def report_pdf(request):
    """The same report as a PDF; making one is itself an audit event."""
    from governance.audit.report_pdf import report_pdf as draw

    _may_audit(request.user)
    form = _report_form(request)
    if not form.is_valid():
        return render(request, "audit/report.html", _report_form_context(form), status=400)
    scope = form.scope()
    audit_report_downloaded(actor=request.user, scope=scope)
    built = report_build(scope)
    response = HttpResponse(draw(built), content_type="application/pdf")
    name = scope.organization.slug + (f"-{scope.project.slug}" if scope.project else "")
    period = f"{form.cleaned_data['since']}-to-{form.cleaned_data['until']}"
    response["Content-Disposition"] = f'attachment; filename="audit-report-{name}-{period}.pdf"'
    return response
