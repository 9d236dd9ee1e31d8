"""The reviews section of the audit report: outcomes, approval rate, time to approve (median
and 90th percentile, by the database), overrides and decisions per reviewer."""

from django.db.models import Count, DurationField, ExpressionWrapper, F, Q

from governance.audit.reports import (
    Chart,
    Figure,
    ReportScope,
    Section,
    Table,
    duration_text,
    percent,
    quantiles,
)
from governance.reviews.models import Review, ReviewDecision, ReviewTask
from governance.reviews.registry import reviewable_label

# Rows of the overrides table; the count above it is complete.
OVERRIDES_SHOWN = 100

TIME_TO_DECIDE = ExpressionWrapper(F("decided_at") - F("created_at"), output_field=DurationField())


def _reviews(scope: ReportScope):
    reviews = Review.objects.filter(organization=scope.organization)
    if scope.project is not None:
        reviews = reviews.filter(project=scope.project)
    return reviews


def reviews_section(scope: ReportScope) -> Section:
    ended = _reviews(scope).filter(decided_at__gte=scope.since, decided_at__lt=scope.until)
    status = Review.Status
    by_kind = list(
        ended.values("kind")
        .annotate(
            approved=Count("pk", filter=Q(status=status.APPROVED)),
            rejected=Count("pk", filter=Q(status=status.REJECTED)),
            changes=Count("pk", filter=Q(status=status.CHANGES_REQUESTED)),
            withdrawn=Count("pk", filter=Q(status=status.WITHDRAWN)),
        )
        .order_by("kind")
    )
    approved = ended.filter(status=status.APPROVED)
    times = quantiles(approved, TIME_TO_DECIDE)
    kind_rows = []
    for row in by_kind:
        decided = row["approved"] + row["rejected"] + row["changes"]
        kind_times = quantiles(approved.filter(kind=row["kind"]), TIME_TO_DECIDE)
        kind_rows.append(
            [
                reviewable_label(row["kind"]),
                row["approved"],
                row["rejected"],
                row["changes"],
                row["withdrawn"],
                percent(row["approved"], decided),
                duration_text(kind_times[0] if kind_times else None),
                duration_text(kind_times[1] if kind_times else None),
            ]
        )
    total_approved = sum(row["approved"] for row in by_kind)
    total_decided = sum(row["approved"] + row["rejected"] + row["changes"] for row in by_kind)

    decisions = ReviewDecision.objects.filter(
        task__review__in=_reviews(scope), created_at__gte=scope.since, created_at__lt=scope.until
    )
    overrides = decisions.exclude(override_reason="")
    override_rows = [
        [
            decision.created_at.strftime("%Y-%m-%d %H:%M"),
            decision.user.get_username(),
            decision.get_decision_display(),
            f"{decision.task.name}: {decision.task.review.title}",
            decision.override_reason,
        ]
        for decision in overrides.select_related("user", "task__review").order_by("-created_at")[
            :OVERRIDES_SHOWN
        ]
    ]
    override_count = overrides.count()
    per_reviewer = list(
        decisions.values(name=F("user__username"))
        .annotate(
            approve=Count("pk", filter=Q(decision=ReviewDecision.Decision.APPROVE)),
            reject=Count("pk", filter=Q(decision=ReviewDecision.Decision.REJECT)),
            changes=Count("pk", filter=Q(decision=ReviewDecision.Decision.CHANGES)),
            overrides=Count("pk", filter=~Q(override_reason="")),
            total=Count("pk"),
        )
        .order_by("-total", "name")
    )
    open_now = ReviewTask.objects.filter(
        review__in=_reviews(scope), status=ReviewTask.Status.OPEN, created_at__lt=scope.until
    )
    return Section(
        key="reviews",
        title="Reviews",
        note="Reviews that ended in the period; time to approve runs from the review's "
        "opening to its last approval.",
        figures=[
            Figure("Reviews ended", sum(sum(r[1:5]) for r in kind_rows)),
            Figure(
                "Approval rate",
                percent(total_approved, total_decided),
                f"{total_approved} approved of {total_decided} decided",
            ),
            Figure("Time to approve, median", duration_text(times[0] if times else None)),
            Figure("Time to approve, 90th percentile", duration_text(times[1] if times else None)),
            Figure("Overrides", override_count, "admins deciding outside the rules"),
            Figure("Stages still open", open_now.count()),
        ],
        charts=[
            Chart("Decisions per reviewer", [(row["name"], row["total"]) for row in per_reviewer])
        ],
        tables=[
            Table(
                "By kind",
                [
                    "Kind",
                    "Approved",
                    "Rejected",
                    "Changes asked",
                    "Withdrawn",
                    "Approval rate",
                    "Median time to approve",
                    "90th percentile",
                ],
                kind_rows,
            ),
            Table(
                "Decisions per reviewer",
                ["Reviewer", "Approved", "Rejected", "Changes asked", "Overrides", "Total"],
                [
                    [r["name"], r["approve"], r["reject"], r["changes"], r["overrides"], r["total"]]
                    for r in per_reviewer
                ],
            ),
            Table(
                "Overrides",
                ["When", "Admin", "Decision", "Stage", "Reason"],
                override_rows,
                empty="No overrides in this period.",
                note=(
                    f"The latest {OVERRIDES_SHOWN} of {override_count}."
                    if override_count > OVERRIDES_SHOWN
                    else ""
                ),
            ),
        ],
    )
