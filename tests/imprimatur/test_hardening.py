"""The smaller holes of issue 17: bad input that gave 500s, answers outside the API's error
format, a project slug shared by two organisations, a model's path and the audit counts seen
across organisations. Each test failed on the code before its fix."""

import json

import pytest
from django.conf import settings
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

from generation.jobs import dispatch
from generation.jobs.models import GenerationRequest
from governance.reviews.models import Notification
from imprimatur.tenancy.models import Membership
from tests.governance.reviews.conftest import open_prompt_review
from tests.imprimatur.tenancy.factories import BrandProjectFactory

pytestmark = pytest.mark.django_db


def assert_api_error(response, status: int, field: str | None = None) -> dict:
    """The one error format of imprimatur/api.py, with ``field`` among its errors."""
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) >= {"status", "code", "detail", "errors"}
    assert body["status"] == status
    if field is not None:  # the field itself, or one of its items ("ids[0]")
        assert any(key == field or key.startswith(f"{field}[") for key in body["errors"]), body
    return body


@pytest.fixture
def enqueued(monkeypatch):
    """A fake broker (no worker runs in these tests): the job ids that would have been sent."""
    sent = []
    monkeypatch.setattr(dispatch, "job_send", lambda job_id, queue: sent.append(job_id))
    return sent


def page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- POST /api/v1/inbox/read/ ------------------------------------------------------------------


@pytest.mark.parametrize(
    "ids",
    [
        "7",  # not a list
        {"a": 1},
        ["x"],  # not integers
        [1.5],
        [2**70],  # past a bigint: the database would refuse it
        [0],
        list(range(1, 1002)),  # too many
    ],
)
def test_inbox_read_refuses_bad_ids_in_the_error_format(acme, ids):
    response = acme.client("reviewer").post("/api/v1/inbox/read/", {"ids": ids}, format="json")
    assert_api_error(response, 400, "ids")


def test_inbox_read_marks_the_listed_ids_and_only_the_users_own(acme, globex):
    reviewer = acme.users["reviewer"]
    review = open_prompt_review(acme)
    Notification.objects.filter(user=reviewer).delete()  # those review_open may have sent
    mine = [
        Notification.objects.create(
            user=reviewer, review=review, kind="assigned", message=f"m{n}", url="/"
        )
        for n in range(3)
    ]
    theirs = Notification.objects.create(
        user=globex.users["reviewer"], review=review, kind="assigned", message="x", url="/"
    )
    response = acme.client("reviewer").post(
        "/api/v1/inbox/read/", {"ids": [mine[0].pk, theirs.pk]}, format="json"
    )
    assert response.status_code == 200
    assert response.json() == {"marked": 1}
    theirs.refresh_from_db()
    assert theirs.read_at is None
    # No ids: all of mine.
    response = acme.client("reviewer").post("/api/v1/inbox/read/", {}, format="json")
    assert response.json() == {"marked": 2}


# --- Audit report dates ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        {"until": "9999-12-31"},
        {"since": "9999-12-30", "until": "9999-12-31"},
        {"since": "0001-01-01", "until": "0001-01-02"},
        {"until": "0001-01-01"},
        {"since": "2026-02-30"},
        {"until": "yesterday"},
    ],
)
def test_report_dates_out_of_range_are_a_form_error_not_a_500(acme, query):
    client = acme.client("auditor")
    response = client.get("/api/v1/audit/report/", query)
    body = assert_api_error(response, 400)
    assert set(body["errors"]) & {"since", "until"}, body
    page = page_client(acme.users["auditor"]).get("/audit/reports/", query)
    assert page.status_code == 400
    assert b'class="field-error"' in page.content


# --- Deeply nested and oversized JSON bodies ---------------------------------------------------


@pytest.mark.parametrize("depth", [100, 5000])  # past the limit; past Python's recursion limit
def test_deeply_nested_json_is_a_400_in_the_error_format(acme, depth):
    body = "[" * depth + "]" * depth
    client = acme.client("admin")
    for url in ("/api/v1/inbox/read/", "/api/v1/requests/", "/api/v1/policies/"):
        response = client.post(url, body, content_type="application/json")
        error = assert_api_error(response, 400)
        assert "nest" in error["detail"].lower(), error


def test_a_body_over_the_upload_limit_is_answered_in_the_error_format(acme):
    client = acme.client("creator")
    body = json.dumps({"prompt": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1024)})
    response = client.post(
        f"/api/v1/projects/{acme.project.slug}/requests/", body, content_type="application/json"
    )
    error = assert_api_error(response, 413)
    assert "too large" in error["detail"].lower()


def test_django_level_400_and_403_under_api_are_in_the_error_format(acme):
    # A session-authenticated POST without its CSRF token: DRF answers 403 itself. A request
    # for a host outside ALLOWED_HOSTS: Django's DisallowedHost, a 400 before any view.
    response = Client().get("/api/v1/projects/", headers={"host": "evil.example"})
    assert_api_error(response, 400)


# --- The same project slug in two organisations ------------------------------------------------


@pytest.fixture
def twin(acme, globex):
    """globex has a project with acme's project's slug; acme's admin and creator hold the same
    role in globex too."""
    twin = BrandProjectFactory(
        organization=globex.organization, name="Globex twin", slug=acme.project.slug
    )
    globex.model.projects.add(twin)
    for role in ("admin", "creator"):
        Membership.objects.create(
            user=acme.users[role], organization=globex.organization, role=role
        )
    return twin


def test_project_pages_with_a_slug_in_two_of_my_organisations_ask_which(acme, globex, twin):
    client = page_client(acme.users["admin"])
    slug = acme.project.slug
    for url in (
        f"/projects/{slug}/",
        f"/projects/{slug}/brand/",
        f"/reviews/projects/{slug}/workflow/",
    ):
        response = client.get(url)
        assert response.status_code == 400, url
        text = response.content.decode()
        assert f"?organization={acme.organization.slug}" in text, url
        assert f"?organization={globex.organization.slug}" in text, url
        chosen = client.get(url, {"organization": globex.organization.slug})
        assert chosen.status_code == 200, url
        assert "Globex twin" in chosen.content.decode(), url


def test_a_member_of_one_organisation_sees_only_its_project(acme, globex, twin):
    client = page_client(acme.users["reviewer"])
    response = client.get(f"/projects/{acme.project.slug}/")
    assert response.status_code == 200
    assert acme.project.name in response.content.decode()


def test_api_project_endpoints_ask_for_the_organisation_when_ambiguous(acme, globex, twin):
    client = acme.client("admin")
    slug = acme.project.slug
    for url in (
        f"/api/v1/projects/{slug}/",
        f"/api/v1/projects/{slug}/requests/",
        f"/api/v1/projects/{slug}/workflow/",
    ):
        assert_api_error(client.get(url), 400, "organization")
        chosen = client.get(url, {"organization": globex.organization.slug})
        assert chosen.status_code == 200, url
    detail = client.get(f"/api/v1/projects/{slug}/", {"organization": globex.organization.slug})
    assert detail.json()["name"] == "Globex twin"


def test_submit_with_an_ambiguous_project_slug_asks_for_the_organisation(
    acme, globex, twin, enqueued
):
    client = acme.client("creator")
    response = client.post(
        "/api/v1/requests/", {"project": acme.project.slug, "prompt": "a red kite"}, format="json"
    )
    assert_api_error(response, 400, "organization")
    assert GenerationRequest.objects.count() == 0
    response = client.post(
        "/api/v1/requests/",
        {
            "project": acme.project.slug,
            "organization": globex.organization.slug,
            "prompt": "a red kite",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert GenerationRequest.objects.get().project == twin


# --- A model's path, the verify-chain count ----------------------------------------------------


def test_a_models_path_is_shown_only_to_admins_of_its_organisation(acme, globex):
    # globex's admin is also a creator of acme: they see acme's model, not its path.
    Membership.objects.create(
        user=globex.users["admin"], organization=acme.organization, role="creator"
    )
    client = globex.client("admin")
    listed = {item["id"]: item for item in client.get("/api/v1/models/").json()["results"]}
    assert "path" not in listed[acme.model.pk]
    assert "path" in listed[globex.model.pk]
    assert "path" not in client.get(f"/api/v1/models/{acme.model.pk}/").json()
    assert "path" in client.get(f"/api/v1/models/{globex.model.pk}/").json()
    assert "path" in acme.client("admin").get(f"/api/v1/models/{acme.model.pk}/").json()


def test_verify_chain_counts_only_the_users_organisations_events(acme, globex):
    from governance.audit.models import AuditEvent

    for tenant, times in ((acme, 1), (globex, 3)):  # events in both organisations' logs
        for n in range(times):
            response = tenant.client("admin").patch(
                f"/api/v1/projects/{tenant.project.slug}/", {"description": f"v{n}"}, format="json"
            )
            assert response.status_code == 200
    client = page_client(acme.users["auditor"])  # logging in may be an event too
    ours = AuditEvent.objects.filter(organization=acme.organization).count()
    everyone = AuditEvent.objects.count()
    assert everyone > ours  # globex's changes are in the one chain
    response = client.post("/audit/verify/", follow=True)
    text = " ".join(str(message) for message in response.context["messages"])
    assert "intact" in text
    assert f"{everyone} events" not in text
    assert f"{ours} events" in text


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "99999-01-01"])
def test_audit_browser_dates_at_the_ends_of_the_calendar_are_not_a_500(acme, day):
    client = page_client(acme.users["auditor"])
    for query in ({"since": day}, {"until": day}):
        assert client.get("/audit/", query).status_code in (200, 400), query


# --- The schema and the error format -----------------------------------------------------------


def test_nullable_fields_are_nullable_in_the_schema():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    assert components["Policy"]["properties"]["project"].get("nullable") is True
    assert components["Task"]["properties"]["decided_by"].get("nullable") is True


@pytest.mark.parametrize(
    ("url", "method", "data", "field"),
    [
        ("/api/v1/reviews/bulk-approve/", "post", {"tasks": [1, "x"]}, "tasks[1]"),
        (
            "/api/v1/projects/{slug}/",
            "patch",
            {"on_brand_descriptors": ["ok", {}]},
            "on_brand_descriptors[1]",
        ),
    ],
)
def test_list_item_errors_are_readable(acme, url, method, data, field):
    client = acme.client("admin")
    response = getattr(client, method)(url.format(slug=acme.project.slug), data, format="json")
    body = assert_api_error(response, 400, field)
    text = json.dumps(body)
    assert "ErrorDetail" not in text and "{1:" not in text, text
    assert body["errors"][field] == [body["errors"][field][0]]
    assert field in body["detail"]


def test_request_list_dates_with_any_offset_reach_the_database_in_utc(acme):
    """An offset Python accepts and PostgreSQL refuses (schemathesis found it: a 500)."""
    response = acme.client("creator").get(
        f"/api/v1/projects/{acme.project.slug}/requests/",
        {"created_after": "0297-11-17T06:52:25.48+20:36"},
    )
    assert response.status_code == 200, response.content


def test_request_list_dates_before_year_one_in_utc_are_refused(acme):
    response = acme.client("creator").get(
        "/api/v1/requests/", {"created_before": "0001-01-01T00:30:00+01:00"}
    )
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid" and set(body["errors"]) == {"created_before"}
