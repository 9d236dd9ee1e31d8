"""Generation's sections of the audit report (``governance.audit.reports``): requests and
images, prompt policy outcomes by rule and category, output checks, and model usage. Every
figure is counted by the database."""

from collections import Counter

from django.db.models import Count, Q, Sum

from generation.jobs.models import Asset, GenerationRequest, PolicyOutcome
from generation.jobs.outcome import CODES, COUNT_FIELDS, outcome_of, with_outcome_counts
from governance.audit.models import AuditEvent
from governance.audit.reports import (
    Chart,
    Figure,
    ReportScope,
    Section,
    Table,
    daily_counts,
    json_array_counts,
    percent,
)
from governance.policies.display import CATEGORY_LABELS
from imprimatur.tenancy.models import BrandProject


def _requests(scope: ReportScope):
    requests = GenerationRequest.objects.filter(
        project__organization=scope.organization,
        created_at__gte=scope.since,
        created_at__lt=scope.until,
    )
    if scope.project is not None:
        requests = requests.filter(project=scope.project)
    return requests


def _assets(scope: ReportScope):
    assets = Asset.objects.filter(
        request__project__organization=scope.organization,
        created_at__gte=scope.since,
        created_at__lt=scope.until,
    )
    if scope.project is not None:
        assets = assets.filter(request__project=scope.project)
    return assets


def _blocked_events(scope: ReportScope):
    # A blocked prompt leaves no request, only its audit event (with rules and categories).
    events = AuditEvent.objects.filter(
        organization=scope.organization,
        action="generation.request.blocked",
        created_at__gte=scope.since,
        created_at__lt=scope.until,
    )
    if scope.project is not None:
        events = events.filter(data__project=scope.project.slug)
    return events


OPEN_OUTCOMES = ("prompt_review", "queued", "generating", "in_review")
#: Outcomes of requests not finished yet.
OPEN_OUTCOMES = ("prompt_review", "queued", "generating", "in_review")
#: The order of outcomes in the report's table.
OUTCOME_ORDER = list(CODES)


def _outcomes(requests) -> Counter:
    """How many requests ended in each outcome (``outcome.py``): the database counts each
    request's images and reviews in one query; the outcome is then read off each row."""
    rows = with_outcome_counts(requests).order_by().values("status", *COUNT_FIELDS)
    return Counter(outcome_of(row["status"], row).code for row in rows)


def requests_section(scope: ReportScope) -> Section:
    requests = _requests(scope)
    totals = requests.aggregate(requests=Count("pk"), images_asked=Sum("num_images"))
    images = _assets(scope).count()
    outcomes = _outcomes(requests)
    blocked = _blocked_events(scope).count()
    decided = sum(
        outcomes[code]
        for code in ("approved", "partly_approved", "changes_requested", "rejected", "failed",
                     "prompt_rejected", "prompt_changes", "withheld")
    )  # fmt: skip
    shares = (
        f"{percent(outcomes['partly_approved'], decided)} partly approved, "
        f"{percent(outcomes['changes_requested'] + outcomes['prompt_changes'], decided)} "
        f"sent back for changes, "
        f"{percent(outcomes['rejected'] + outcomes['prompt_rejected'], decided)} rejected, "
        f"{percent(outcomes['failed'], decided)} failed; of {decided} decided"
    )
    return Section(
        key="requests",
        title="Requests and images",
        figures=[
            Figure("Requests", totals["requests"], "accepted by the prompt policy"),
            Figure("Prompts blocked", blocked, "refused at submission; no request was made"),
            Figure("Images generated", images),
            Figure("Images asked for", totals["images_asked"] or 0),
            Figure("Requests approved", percent(outcomes["approved"], decided), shares),
            Figure(
                "Requests still open",
                sum(outcomes[code] for code in OPEN_OUTCOMES),
                "waiting for prompt review, queued, generating or in image review",
            ),
        ],
        charts=[
            Chart("Requests per day", daily_counts(requests, "created_at", scope), kind="days"),
            Chart(
                "Images generated per day",
                daily_counts(_assets(scope), "created_at", scope),
                kind="days",
            ),
        ],
        tables=[
            Table(
                "Requests by outcome",
                ["Outcome", "Requests"],
                [[CODES[code], outcomes[code]] for code in OUTCOME_ORDER if outcomes[code]],
                note="From the job and the reviews of the request's images.",
            )
        ],
    )


def policy_section(scope: ReportScope) -> Section:
    blocked = _blocked_events(scope)
    reviewed = _requests(scope).filter(policy_outcome=PolicyOutcome.REVIEW)
    warned = _requests(scope).filter(policy_outcome=PolicyOutcome.ALLOW).exclude(policy_matches=[])
    blocked_categories = json_array_counts(blocked, "data__categories")
    reviewed_categories = json_array_counts(reviewed, "policy_matches", key="category")
    categories = sorted(
        {name for name, _ in blocked_categories} | {name for name, _ in reviewed_categories}
    )
    blocked_by_category = dict(blocked_categories)
    reviewed_by_category = dict(reviewed_categories)
    blocked_rules = json_array_counts(blocked, "data__rules")
    reviewed_rules = json_array_counts(reviewed, "policy_matches", key="rule")
    rules = dict(blocked_rules)
    reviewed_by_rule = dict(reviewed_rules)
    rule_names = sorted(set(rules) | set(reviewed_by_rule), key=lambda r: -(rules.get(r, 0)
                        + reviewed_by_rule.get(r, 0)))  # fmt: skip
    reviewed_count = reviewed.count()
    reviewed_status = dict(
        reviewed.values("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    rejected = reviewed_status.get(GenerationRequest.Status.REJECTED, 0)
    sent_back = reviewed_status.get(GenerationRequest.Status.CHANGES_REQUESTED, 0)
    waiting = reviewed_status.get(GenerationRequest.Status.AWAITING_REVIEW, 0)
    return Section(
        key="policy",
        title="Prompt policy",
        note="A prompt counts once per rule and category it matched.",
        figures=[
            Figure("Prompts blocked", blocked.count()),
            Figure(
                "Prompts sent to prompt review",
                reviewed_count,
                f"{rejected} rejected, {sent_back} sent back for changes, {waiting} still waiting",
            ),
            Figure("Prompts allowed with a warning", warned.count()),
        ],
        charts=[
            Chart(
                "Blocked and reviewed prompts by category",
                [
                    (
                        CATEGORY_LABELS.get(name, name),
                        blocked_by_category.get(name, 0) + reviewed_by_category.get(name, 0),
                    )
                    for name in categories
                ],
            )
        ],
        tables=[
            Table(
                "By category",
                ["Category", "Blocked", "Sent to review"],
                [
                    [
                        CATEGORY_LABELS.get(name, name),
                        blocked_by_category.get(name, 0),
                        reviewed_by_category.get(name, 0),
                    ]
                    for name in categories
                ],
            ),
            Table(
                "By rule",
                ["Rule", "Blocked", "Sent to review"],
                [[rule, rules.get(rule, 0), reviewed_by_rule.get(rule, 0)] for rule in rule_names],
            ),
        ],
    )


def checks_section(scope: ReportScope) -> Section:
    assets = _assets(scope)
    verdicts = assets.aggregate(
        checked=Count("pk", filter=~Q(check_verdict=Asset.Verdict.PENDING)),
        passed=Count("pk", filter=Q(check_verdict=Asset.Verdict.PASS)),
        flagged=Count("pk", filter=Q(check_verdict=Asset.Verdict.FLAG)),
        failed=Count("pk", filter=Q(check_verdict=Asset.Verdict.FAIL)),
        quarantined=Count("pk", filter=Q(quarantined=True)),
        faces=Count("pk", filter=Q(has_face=True)),
    )
    checked = verdicts["checked"]
    return Section(
        key="checks",
        title="Output checks",
        note="The latest verdict of each image generated in the period.",
        tables=[_brand_set_table(scope)],
        figures=[
            Figure("Images checked", checked),
            Figure("Flagged", verdicts["flagged"], percent(verdicts["flagged"], checked)),
            Figure("Failed", verdicts["failed"], percent(verdicts["failed"], checked)),
            Figure("Quarantined", verdicts["quarantined"]),
            Figure("With a face", verdicts["faces"]),
        ],
        charts=[
            Chart(
                "Check verdicts",
                [
                    ("Passed", verdicts["passed"]),
                    ("Flagged", verdicts["flagged"]),
                    ("Failed", verdicts["failed"]),
                ],
            )
        ],
    )


def _brand_set_table(scope: ReportScope) -> Table:
    """CMMD of each project's approved images of the period to its brand references."""
    from generation.jobs.set_measures import approved_cmmd

    approved = _assets(scope).filter(status=Asset.Status.APPROVED)
    projects = BrandProject.objects.filter(pk__in=approved.values("request__project")).order_by(
        "name"
    )
    rows = []
    for project in projects:
        measure = approved_cmmd(project, since=scope.since, until=scope.until)
        rows.append(
            [
                project.name,
                measure.images,
                measure.references,
                measure.label,
                measure.reason or measure.note,
            ]
        )
    return Table(
        "Approved images against the brand references, as a set (CMMD)",
        ["Project", "Approved images", "References", "CMMD", "Note"],
        rows,
        empty="No image approved in this period.",
        note="CLIP maximum mean discrepancy between the period's approved images and the "
        "project's reference images, by the configured CLIP model: about 0 when they look "
        "drawn from one brand, growing as they part (at most the newest 500 images).",
    )


def models_section(scope: ReportScope) -> Section:
    usage = list(
        _requests(scope)
        .values("model_name")
        .annotate(requests=Count("pk"), asked=Sum("num_images"))
        .order_by("-requests", "model_name")
    )
    # Counted apart: joining assets into the query above would multiply its sum.
    generated = dict(
        _assets(scope)
        .values("request__model_name")
        .annotate(n=Count("pk"))
        .values_list("request__model_name", "n")
    )
    modes = list(
        _requests(scope).values("mode").annotate(requests=Count("pk")).order_by("-requests")
    )
    mode_labels = dict(GenerationRequest._meta.get_field("mode").choices)
    return Section(
        key="models",
        title="Model usage",
        charts=[
            Chart("Requests per model", [(row["model_name"], row["requests"]) for row in usage])
        ],
        tables=[
            Table(
                "Models",
                ["Model", "Requests", "Images asked for", "Images generated"],
                [
                    [
                        row["model_name"],
                        row["requests"],
                        row["asked"],
                        generated.get(row["model_name"], 0),
                    ]
                    for row in usage
                ],
            ),
            Table(
                "Modes",
                ["Mode", "Requests"],
                [[mode_labels.get(row["mode"], row["mode"]), row["requests"]] for row in modes],
            ),
        ],
    )
