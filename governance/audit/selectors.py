"""Reads of the audit log for auditors and admins, scoped to their organisations."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import TextField
from django.db.models.functions import Cast
from django.http import Http404

from governance.audit.models import AuditEvent
from imprimatur.tenancy.models import Organization
from imprimatur.tenancy.permissions import Action

PAGE_SIZE = 50


@dataclass(frozen=True)
class EventFilter:
    """What the audit browser filters by; every part optional."""

    since: datetime | None = None
    until: datetime | None = None
    actor: str = ""
    action: str = ""  # a full action or a prefix ending in "." ("reviews.")
    project: str = ""  # the project slug the event's data names
    target: str = ""  # "type" or "type:id"
    text: str = ""  # searched in the event's data
    request_id: str = ""  # the events of one user action


def event_list(*, user, filters: EventFilter = EventFilter()):
    # The organisations as a list of ids, not a subquery: with one organisation PostgreSQL
    # then walks the (organization, sequence) index backwards and stops after a page.
    organizations = list(
        Organization.objects.restrict(user, Action.AUDIT).values_list("pk", flat=True)
    )
    events = AuditEvent.objects.filter(organization_id__in=organizations).select_related(
        "organization"
    )
    if filters.since:
        events = events.filter(created_at__gte=filters.since)
    if filters.until:
        events = events.filter(created_at__lt=filters.until)
    if filters.actor:
        events = events.filter(actor_name=filters.actor)
    if filters.action:
        if filters.action.endswith("."):
            events = events.filter(action__startswith=filters.action)
        else:
            events = events.filter(action=filters.action)
    if filters.project:
        events = events.filter(data__project=filters.project)
    if filters.target:
        kind, _, pk = filters.target.partition(":")
        events = events.filter(target_type=kind)
        if pk:
            events = events.filter(target_id=pk)
    if filters.request_id:
        events = events.filter(request_id=filters.request_id)
    if filters.text:
        events = events.annotate(data_text=Cast("data", TextField())).filter(
            data_text__icontains=filters.text
        )
    return events


def event_page(*, user, filters: EventFilter, before: int | None = None):
    """One page, newest first, by keyset on the sequence (fast however deep): the events and
    the sequence to ask for the next page with (None on the last page)."""
    events = event_list(user=user, filters=filters)
    if before is not None:
        events = events.filter(sequence__lt=before)
    page = list(events.order_by("-sequence")[: PAGE_SIZE + 1])
    following = page[PAGE_SIZE - 1].sequence if len(page) > PAGE_SIZE else None
    return page[:PAGE_SIZE], following


def event_neighbours(*, user, sequence: int) -> tuple[int | None, int | None]:
    """The sequences of the user's events just before and after ``sequence`` (the events
    between may be other organisations'), None at either end."""
    events = event_list(user=user).values_list("sequence", flat=True)
    before = events.filter(sequence__lt=sequence).order_by("-sequence").first()
    after = events.filter(sequence__gt=sequence).order_by("sequence").first()
    return before, after


def event_get(*, user, sequence: int) -> AuditEvent:
    event = event_list(user=user).filter(sequence=sequence).first()
    if event is None:
        raise Http404("No such audit event.")
    return event
