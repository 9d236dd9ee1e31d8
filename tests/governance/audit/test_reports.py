"""Audit reports: each figure against the data that made it (requests, blocked and reviewed
prompts by rule and category, checks, approval rate, time to approve, overrides, models,
activity), scoped to an organisation, a project and a period; counted by the database (the
number of queries does not grow with the data); the page, its errors, and the PDF."""

import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from pypdf import PdfReader

from governance.audit.models import AuditEvent
from governance.audit.reports import (
    ReportScope,
    activity_columns,
    json_array_counts,
    register_activity_column,
    report_build,
)
from tests.governance.audit.conftest import asset_with_verdict, publish_policy, submit

pytestmark = pytest.mark.django_db


def section(report, key):
    return next(s for s in report.sections if s.key == key)


def figure(found, label):
    return next(f.value for f in found.figures if f.label == label)


def table(found, title):
    return next(t for t in found.tables if t.title == title)


def last_30_days(tenant, project=None):
    now = timezone.now()
    return ReportScope(
        organization=tenant.organization,
        project=project,
        since=now - timedelta(days=30),
        until=now + timedelta(seconds=1),
    )


def test_each_figure_is_what_happened_in_the_scope(acme, history):
    report = report_build(last_30_days(acme, acme.project))

    requests = section(report, "requests")
    # 1 warned + 4 reviewed + 3 made with the images (factory); not the 60-day-old one.
    assert figure(requests, "Requests") == 8
    assert figure(requests, "Prompts blocked") == 2  # not the other project's, not globex's
    assert figure(requests, "Images generated") == 3
    assert sum(value for _day, value in requests.charts[0].points) == 8
    assert len(requests.charts[0].points) in (31, 32)  # every day of the period

    policy = section(report, "policy")
    assert table(policy, "By category").rows == [
        ["sexual content", 2, 0],
        ["violence and gore", 0, 4],
    ]
    assert table(policy, "By rule").rows == [["gore", 0, 4], ["nudity", 2, 0]]
    assert figure(policy, "Prompts sent to prompt review") == 4
    assert figure(policy, "Prompts allowed with a warning") == 1

    checks = section(report, "checks")
    assert figure(checks, "Images checked") == 3
    assert figure(checks, "Flagged") == 1 and figure(checks, "Failed") == 1
    assert figure(checks, "Quarantined") == 1

    reviews = section(report, "reviews")
    assert figure(reviews, "Approval rate") == "75.0 %"
    assert figure(reviews, "Time to approve, median") == "2 h"  # of 1 h, 2 h, 10 h
    assert figure(reviews, "Time to approve, 90th percentile") == "10 h"
    assert figure(reviews, "Overrides") == 1
    override = table(reviews, "Overrides").rows[0]
    assert override[1] == "acme-boss" and override[-1] == "Urgent."
    per_reviewer = {row[0]: row[1:] for row in table(reviews, "Decisions per reviewer").rows}
    assert per_reviewer["acme-compliance"] == [2, 1, 0, 0, 3]
    assert per_reviewer["acme-boss"] == [1, 0, 0, 1, 1]

    models = section(report, "models")
    assert table(models, "Models").rows == [[acme.model.name, 8, 8, 3]]

    activity = {row[0]: row for row in table(section(report, "activity"), "Activity per user").rows}
    # 6 submitted here (the old request's event is recent: only its row was moved back), 2 blocked
    assert activity["acme-creator"][1:3] == [6, 2]


def test_the_organisation_report_takes_in_every_project_and_the_period_cuts(acme, history):
    whole = report_build(last_30_days(acme))
    assert figure(section(whole, "requests"), "Prompts blocked") == 3
    now = timezone.now()
    long_ago = ReportScope(
        organization=acme.organization, since=now - timedelta(days=90), until=now
    )
    older = report_build(long_ago)
    assert figure(section(older, "requests"), "Requests") == 9  # now with the old one


def test_the_report_is_counted_by_the_database(acme, globex, enqueued):
    """The number of queries stays the same when the data grows: nothing is loaded to be
    counted in Python."""
    publish_policy(acme)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            report_build(last_30_days(acme))
        return len(captured)

    submit(acme, "a nude figure")
    submit(acme, "a blood red rose")
    asset_with_verdict(acme, "flag")
    before = queries()
    for index in range(6):
        submit(acme, f"nude, take {index}")
        submit(acme, f"blood, take {index}")
        asset_with_verdict(acme, "fail")
    assert queries() == before


def test_json_arrays_are_unnested_by_the_database(acme, enqueued):
    publish_policy(acme)
    submit(acme, "a nude figure with blood")  # both rules: blocked, counted once per rule
    events = AuditEvent.objects.filter(action="generation.request.blocked")
    assert dict(json_array_counts(events, "data__rules")) == {"gore": 1, "nudity": 1}
    assert json_array_counts(events.none(), "data__rules") == []


def test_the_report_page_for_auditors_and_its_errors(client, acme, globex, history):
    client.force_login(acme.users["auditor"])
    page = client.get("/audit/reports/", {"project": acme.project.slug})
    assert page.status_code == 200
    text = page.content.decode()
    for words in ("Approval rate", "75.0 %", "By category", "violence", "Activity per user",
                  "Requests per day", "<svg class=\"day-chart\""):  # fmt: skip
        assert words in text, words
    bad = client.get("/audit/reports/", {"since": "2026-05-02", "until": "2026-05-01"})
    assert bad.status_code == 400
    assert "The period starts after it ends." in bad.content.decode()
    missing = client.get("/audit/reports/", {"project": "no-such-project"})
    assert missing.status_code == 400 and "has no project" in missing.content.decode()
    too_long = client.get("/audit/reports/", {"since": "2024-01-01", "until": "2026-01-01"})
    assert "at most 366 days" in too_long.content.decode()
    # Another organisation's report is not on offer to acme's auditor.
    other = client.get("/audit/reports/", {"organization": globex.organization.slug})
    assert other.status_code == 400
    client.force_login(acme.users["creator"])
    assert client.get("/audit/reports/").status_code == 403


def test_the_report_picks_projects_from_a_list_and_says_what_is_wrong(client, acme, globex):
    """Issue 18: a project slug typed by hand, and a blank page for a wrong one."""
    from imprimatur.tenancy.models import Membership

    Membership.objects.create(user=acme.users["auditor"], organization=globex.organization,
                              role="auditor")  # fmt: skip
    client.force_login(acme.users["auditor"])
    page = client.get("/audit/reports/").content.decode()
    assert '<option value="">All projects</option>' in page
    assert f'<optgroup label="{acme.organization.name}">' in page
    assert f'<option value="globex-org/{globex.project.slug}">{globex.project.name}<' in page
    # A project of the other organisation: the report is that organisation's project's.
    picked = {"organization": "acme-org", "project": f"globex-org/{globex.project.slug}"}
    chosen = client.get("/audit/reports/", picked)
    assert chosen.status_code == 200
    text = chosen.content.decode()
    assert f'<option value="globex-org/{globex.project.slug}" selected>' in text
    assert "Requests and images" in text
    wrong = client.get("/audit/reports/", {"project": "no-such-project"})
    assert wrong.status_code == 400
    assert "has no project “no-such-project”: choose one of its projects" in wrong.content.decode()
    foreign = client.get("/audit/reports/", {"project": "initech-org/whatever"})
    assert (
        foreign.status_code == 400 and "Choose a project from the list." in foreign.content.decode()
    )


def test_the_pdf_holds_the_report_and_leaves_an_event(client, acme, history):
    client.force_login(acme.users["admin"])
    response = client.get("/audit/reports/pdf/", {"project": acme.project.slug})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert f"audit-report-acme-org-{acme.project.slug}-" in response["Content-Disposition"]
    reader = PdfReader(io.BytesIO(response.content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    for words in ("Imprimatur audit report", "Approval rate", "75.0 %", "Prompt policy",
                  "violence", "acme-boss", "Urgent."):  # fmt: skip
        assert words in text, words
    event = AuditEvent.objects.filter(action="audit.report.pdf").get()
    assert event.actor_name == "acme-admin" and event.data["project"] == acme.project.slug


def test_the_api_gives_the_report_as_json(acme, globex, history):
    response = acme.client("auditor").get("/api/v1/audit/report/", {"project": acme.project.slug})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["organization"] == acme.organization.slug
    assert body["project"] == acme.project.slug
    reviews = next(s for s in body["sections"] if s["key"] == "reviews")
    assert {"label": "Approval rate", "value": "75.0 %", "note": "3 approved of 4 decided"} in (
        reviews["figures"]
    )
    bad = acme.client("auditor").get("/api/v1/audit/report/", {"since": "yesterday"})
    assert bad.status_code == 400 and "since" in bad.json()["errors"]
    assert acme.client("creator").get("/api/v1/audit/report/").status_code == 403


def test_the_activity_columns_are_the_apps_own_in_their_order(acme, history):
    """Generation, reviews and policies each register their columns from their ready(); the
    audit app names none of their actions, and the table keeps its titles and order."""
    activity = table(section(report_build(last_30_days(acme)), "activity"), "Activity per user")
    assert activity.columns == [
        "User",
        "Requests",
        "Prompts blocked",
        "Generation events",
        "Review events",
        "Policy events",
        "All events",
    ]
    assert {column.key: OWNERS_OF[column.key] for column in activity_columns()} == OWNERS_OF
    for row in activity.rows:
        assert row[3] >= row[1] + row[2]  # requests and blocked prompts are generation events
        assert row[-1] >= sum(row[3:-1])  # the three app columns do not overlap


OWNERS_OF = {
    "requests": "jobs",
    "blocked": "jobs",
    "generation": "jobs",
    "reviews": "reviews",
    "policies": "policies",
}


@pytest.fixture
def restore_columns():
    from governance.audit import reports

    saved = dict(reports._ACTIVITY_COLUMNS)
    yield
    reports._ACTIVITY_COLUMNS.clear()
    reports._ACTIVITY_COLUMNS.update(saved)


def test_a_registered_activity_column_counts_its_actions(client, acme, restore_columns):
    """A column registered with a list of actions counts, per user, exactly those events."""
    auditor = acme.users["auditor"]
    client.force_login(auditor)
    assert client.get("/audit/export.jsonl").status_code == 200
    assert client.get("/audit/export.csv").status_code == 200
    register_activity_column("exports", "Exports", actions=["audit.export"], order=55)

    activity = table(section(report_build(last_30_days(acme)), "activity"), "Activity per user")
    assert activity.columns[-3:] == ["Policy events", "Exports", "All events"]
    row = next(row for row in activity.rows if row[0] == auditor.username)
    assert row[-2] == 2


def test_an_activity_column_takes_a_prefix_or_actions():
    with pytest.raises(ValueError):
        register_activity_column("both", "Both", prefix="x.", actions=["x.y"], order=1)
    with pytest.raises(ValueError):
        register_activity_column("neither", "Neither", order=1)
    with pytest.raises(ValueError):
        register_activity_column("not a key", "Spaces", prefix="x.", order=1)
