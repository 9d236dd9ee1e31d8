"""Audit reports: what an organisation or project did in a period, as figures, tables and
charts, shown in the UI (``/audit/reports/``), given as JSON by the API and drawn as a PDF.

Each app contributes its own sections (``register_report_section``), so the audit app
imports nothing from the apps it reports on: generation reports requests, prompt policy
outcomes, images, checks and models; reviews reports approvals, time to approve and
overrides; the audit app reports activity per user from the log itself, in the columns the
apps register for their own actions (``register_activity_column``).

Sections compute with database aggregation (``COUNT``/``SUM`` grouped in SQL, percentiles
by ``ORDER BY … OFFSET`` in the database, JSON arrays unnested by the database): no section
loads the rows it counts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta

from django.db import connections, router
from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

# Periods longer than this are refused: the charts have a bar per day.
MAX_PERIOD_DAYS = 366
DEFAULT_PERIOD_DAYS = 30


@dataclass(frozen=True)
class ReportScope:
    """Whose report, for when: an organisation, optionally one of its projects, and the
    half-open period [since, until)."""

    organization: object  # tenancy.Organization
    since: datetime
    until: datetime
    project: object | None = None  # tenancy.BrandProject of that organisation

    @property
    def label(self) -> str:
        where = f"{self.organization.name}"
        if self.project is not None:
            where += f" / {self.project.name}"
        last_day = (timezone.localtime(self.until) - timedelta(microseconds=1)).date()
        return f"{where}, {timezone.localtime(self.since).date()} to {last_day}"

    def days(self) -> list[date]:
        first = timezone.localtime(self.since).date()
        last = (timezone.localtime(self.until) - timedelta(microseconds=1)).date()
        return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


def period_for_days(first: date, last: date) -> tuple[datetime, datetime]:
    """[first 00:00, the day after last 00:00) in the current time zone."""
    since = timezone.make_aware(datetime.combine(first, time.min))
    until = timezone.make_aware(datetime.combine(last + timedelta(days=1), time.min))
    return since, until


@dataclass
class Figure:
    label: str
    value: object  # a number, or text such as "2 h 10 min"
    note: str = ""


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list]
    empty: str = "Nothing in this period."
    note: str = ""


@dataclass
class Chart:
    """Bars: one per label. ``kind`` "days" draws a time series (labels are ISO dates)."""

    title: str
    points: list[tuple[str, float]]
    unit: str = ""
    kind: str = "bars"

    @property
    def peak(self) -> float:
        return max((value for _label, value in self.points), default=0)


@dataclass
class Section:
    key: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    note: str = ""


@dataclass
class Report:
    scope: ReportScope
    generated_at: datetime
    sections: list[Section]
    chain_head: tuple[int, str]  # (sequence, hash) when the report was made
    checkpoint: dict | None  # the latest signed checkpoint: sequence, hash, time, key

    def as_dict(self) -> dict:
        scope = self.scope
        return {
            "organization": scope.organization.slug,
            "project": scope.project.slug if scope.project is not None else None,
            "since": scope.since.isoformat(),
            "until": scope.until.isoformat(),
            "generated_at": self.generated_at.isoformat(),
            "chain_head": {"sequence": self.chain_head[0], "hash": self.chain_head[1]},
            "checkpoint": self.checkpoint,
            "sections": [asdict(section) for section in self.sections],
        }


@dataclass(frozen=True)
class _Registered:
    key: str
    order: int
    compute: Callable[[ReportScope], Section]


_SECTIONS: dict[str, _Registered] = {}


def register_report_section(key: str, compute: Callable[[ReportScope], Section], *, order: int):
    """Add a section to every report; ``compute(scope)`` returns it. Re-registering a key
    replaces it (apps' ``ready`` may run twice in tests)."""
    _SECTIONS[key] = _Registered(key=key, order=order, compute=compute)


@dataclass(frozen=True)
class ActivityColumn:
    """A column of the activity section's "Activity per user" table: per user, the events
    whose action starts with ``prefix``, or is one of ``actions``."""

    key: str
    label: str
    order: int
    prefix: str | None = None
    actions: tuple[str, ...] = ()

    def condition(self):
        from django.db.models import Q

        if self.prefix is not None:
            return Q(action__startswith=self.prefix)
        return Q(action__in=self.actions)


_ACTIVITY_COLUMNS: dict[str, ActivityColumn] = {}


def register_activity_column(
    key: str,
    label: str,
    *,
    prefix: str | None = None,
    actions: Iterable[str] | None = None,
    order: int,
) -> None:
    """Add a column to the activity table, between "User" and "All events", in ``order``:
    an app counts its own actions there (by ``prefix``, such as "reviews.", or by a list of
    ``actions``), so the audit app names none of them. Re-registering a key replaces it."""
    if (prefix is None) == (actions is None):
        raise ValueError("Give either a prefix or a list of actions.")
    if not key.isidentifier():
        raise ValueError(f"An activity column's key is an identifier, not {key!r}.")
    _ACTIVITY_COLUMNS[key] = ActivityColumn(
        key=key,
        label=label,
        order=order,
        prefix=prefix,
        actions=tuple(actions) if actions is not None else (),
    )


def activity_columns() -> list[ActivityColumn]:
    return sorted(_ACTIVITY_COLUMNS.values(), key=lambda column: (column.order, column.key))


def report_build(scope: ReportScope) -> Report:
    from governance.audit.head import chain_head
    from governance.audit.models import AuditCheckpoint

    sections = [entry.compute(scope) for entry in sorted(_SECTIONS.values(), key=_order)]
    checkpoint = AuditCheckpoint.objects.order_by("-sequence", "-id").first()
    return Report(
        scope=scope,
        generated_at=timezone.now(),
        sections=sections,
        chain_head=chain_head(),
        checkpoint=(
            {
                "sequence": checkpoint.sequence,
                "hash": checkpoint.hash,
                "created_at": checkpoint.created_at.isoformat(),
                "key_id": checkpoint.key_id,
            }
            if checkpoint is not None
            else None
        ),
    )


def _order(entry: _Registered) -> tuple[int, str]:
    return entry.order, entry.key


# --- Database-side helpers for sections -------------------------------------------------


def daily_counts(queryset: QuerySet, field_name: str, scope: ReportScope) -> list[tuple[str, int]]:
    """Rows per local day of ``field_name``, counted by the database; every day of the
    period appears, with 0 where nothing happened."""
    counted = dict(
        queryset.annotate(day=TruncDate(field_name))
        .values("day")
        .annotate(count=Count("pk"))
        .values_list("day", "count")
    )
    return [(day.isoformat(), counted.get(day, 0)) for day in scope.days()]


def quantiles(queryset: QuerySet, expression, fractions=(0.5, 0.9)) -> list | None:
    """Nearest-rank quantiles of ``expression`` over the queryset, each fetched by the
    database as one ``ORDER BY … LIMIT 1 OFFSET k`` (portable to SQLite, which has no
    percentile function); None when the queryset is empty."""
    annotated = queryset.annotate(_quantity=expression).exclude(_quantity=None)
    count = annotated.count()
    if count == 0:
        return None
    values = []
    for fraction in fractions:
        rank = max(1, math.ceil(fraction * count))
        values.append(annotated.order_by("_quantity").values_list("_quantity", flat=True)[rank - 1])
    return values


def json_array_counts(queryset: QuerySet, column: str, key: str | None = None):
    """Count the rows of ``queryset`` per element of the JSON array in ``column`` (or per
    ``element[key]`` for arrays of objects), unnested by the database: ``jsonb_array_elements``
    on PostgreSQL, ``json_each`` on SQLite. ``column`` is a JSON field or a JSON key path
    (``data__rules``). A row counts once per distinct element. Most frequent first."""
    from django.db.models import F

    using = router.db_for_read(queryset.model)
    connection = connections[using]
    from django.core.exceptions import EmptyResultSet

    inner = queryset.annotate(_items=F(column)).values("pk", "_items")
    try:
        sql, params = inner.query.sql_with_params()
    except EmptyResultSet:  # e.g. ``.none()``: nothing to count
        return []
    if connection.vendor == "postgresql":
        element = "e.value ->> %s" if key else "e.value #>> '{}'"
        unnest = (
            "CROSS JOIN LATERAL jsonb_array_elements("
            "CASE WHEN jsonb_typeof(s._items) = 'array' THEN s._items ELSE '[]'::jsonb END) e"
        )
    elif connection.vendor == "sqlite":
        element = "json_extract(e.value, '$.' || %s)" if key else "e.value"
        unnest = (
            ", json_each(CASE WHEN json_type(s._items) = 'array' THEN s._items ELSE '[]' END) e"
        )
    else:  # pragma: no cover - the project runs on PostgreSQL and SQLite
        raise NotImplementedError(connection.vendor)
    query = (
        # bandit: SQL from constants of this module (table and column names), values as parameters.
        f"SELECT {element} AS item, COUNT(DISTINCT s.pk) AS rows_ "  # nosec B608
        f"FROM ({sql}) s {unnest} GROUP BY 1 ORDER BY 2 DESC, 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(query, ([key] if key else []) + list(params))
        return [(item, count) for item, count in cursor.fetchall() if item is not None]


def duration_text(value: timedelta | None) -> str:
    """ "3 min", "2 h 10 min", "4 d 3 h"; "—" for none."""
    if value is None:
        return "—"
    seconds = int(value.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "—"


# --- The audit app's own section: activity per user, from the log itself ----------------


def activity_section(scope: ReportScope) -> Section:
    from governance.audit.models import AuditEvent

    events = AuditEvent.objects.filter(
        organization=scope.organization, created_at__gte=scope.since, created_at__lt=scope.until
    )
    if scope.project is not None:
        events = events.filter(data__project=scope.project.slug)
    columns = activity_columns()
    per_user = list(
        events.values("actor_name")
        .annotate(
            total=Count("pk"),
            **{
                f"column_{column.key}": Count("pk", filter=column.condition()) for column in columns
            },
        )
        .order_by("-total", "actor_name")
    )
    by_action = list(
        events.values("action").annotate(total=Count("pk")).order_by("-total", "action")
    )
    return Section(
        key="activity",
        title="Activity",
        note="From the audit log: every event in the period, by who caused it (“system” is "
        "the platform's workers and commands).",
        figures=[
            Figure("Audit events", sum(row["total"] for row in by_action)),
            Figure("People active", sum(1 for row in per_user if row["actor_name"] != "system")),
        ],
        charts=[
            Chart("Audit events per day", daily_counts(events, "created_at", scope), kind="days"),
            Chart("Events per user", [(row["actor_name"], row["total"]) for row in per_user]),
        ],
        tables=[
            Table(
                "Activity per user",
                ["User", *(column.label for column in columns), "All events"],
                [
                    [
                        row["actor_name"],
                        *(row[f"column_{column.key}"] for column in columns),
                        row["total"],
                    ]
                    for row in per_user
                ],
            ),
            Table(
                "Events by action",
                ["Action", "Events"],
                [[row["action"], row["total"]] for row in by_action],
            ),
        ],
    )
