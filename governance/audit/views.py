"""The audit browser: filter, page, read one event, export what is shown, verify the chain."""

import csv
import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.dateparse import parse_date, parse_datetime
from django.views.decorators.http import require_POST

from governance.audit import selectors
from governance.audit.chain import canonical_json
from governance.audit.registry import ACTIONS
from governance.audit.services import audit_event_fields
from imprimatur.tenancy.models import Action, Organization


def _may_audit(user) -> None:
    if not Organization.objects.restrict(user, Action.AUDIT).exists():
        raise PermissionDenied("Only auditors and admins read the audit log.")


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
        "since", "until", "actor", "action", "project", "target", "q")}  # fmt: skip
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
    params = "&".join(f"{key}={value}" for key, value in query.items() if value)
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


@login_required
def event_detail(request, sequence: int):
    _may_audit(request.user)
    event = selectors.event_get(user=request.user, sequence=sequence)
    return render(
        request,
        "audit/detail.html",
        {
            "event": event,
            "data_json": json.dumps(event.data, indent=2, ensure_ascii=False, sort_keys=True),
            "described": ACTIONS.get(event.action, ""),
            "canonical": canonical_json(event.hashed_fields()),
        },
    )


class _Echo:
    def write(self, value):
        return value


CSV_COLUMNS = ("sequence", "created_at", "actor_name", "organization_id", "action",
               "target_type", "target_id", "target_repr", "data", "request_id", "prev_hash",
               "hash")  # fmt: skip


@login_required
def event_export(request, fmt: str):
    """What the filters show, streamed in sequence order (constant memory): CSV, or JSON Lines
    with the hashed fields and hashes (each event checks on its own; an unfiltered export is
    the whole chain, which ``tools/audit_verify.py`` verifies)."""
    _may_audit(request.user)
    filters, _query, problems = _filters(request)
    if problems or fmt not in ("csv", "jsonl"):
        return redirect("audit:list")
    events = selectors.event_list(user=request.user, filters=filters).order_by("sequence")

    def rows():
        if fmt == "csv":
            writer = csv.writer(_Echo())
            yield writer.writerow(CSV_COLUMNS)
            for event in events.iterator(chunk_size=2000):
                fields = audit_event_fields(event)
                fields["data"] = json.dumps(event.data, sort_keys=True, ensure_ascii=False)
                yield writer.writerow([fields.get(column, "") for column in CSV_COLUMNS])
        else:
            for event in events.iterator(chunk_size=2000):
                yield canonical_json(audit_event_fields(event)) + "\n"

    content_type = "text/csv" if fmt == "csv" else "application/x-ndjson"
    response = StreamingHttpResponse(rows(), content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="imprimatur-audit.{fmt}"'
    return response


@login_required
@require_POST
def chain_verify(request):
    """Walk the whole chain and its checkpoints now and say whether it is intact."""
    from governance.audit.verify import audit_verify

    _may_audit(request.user)
    result = audit_verify()
    if result.intact:
        messages.success(request, f"The audit log is {result}.")
    else:
        messages.error(request, f"The audit log is {result}.")
    return redirect("audit:list")
