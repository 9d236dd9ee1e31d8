"""The policy endpoints: scoping, roles, drafts, publishing, versions, the test console."""

import time

import pytest
from rest_framework.test import APIClient

from governance.audit.models import AuditEvent
from governance.policies.models import Policy
from tests.generation.jobs.factories import GenerationRequestFactory
from tests.governance.policies.factories import SAMPLE_DRAFT as DRAFT
from tests.governance.policies.factories import document, pattern_rule, term_rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def policy(acme) -> Policy:
    response = acme.client("admin").post("/api/v1/policies/", {"draft": DRAFT}, format="json")
    assert response.status_code == 201, response.json()
    return Policy.objects.get(pk=response.json()["id"])


def urls(policy) -> list[str]:
    base = f"/api/v1/policies/{policy.pk}/"
    return [base, f"{base}versions/", f"{base}versions/1/"]


def test_create_makes_the_organisation_policy_and_records_an_event(acme, policy):
    assert (policy.organization, policy.project) == (acme.organization, None)
    assert policy.draft["rules"][0]["id"] == "nudity"
    event = AuditEvent.objects.get(action="policies.policy.create")
    assert (event.actor_name, event.target_id) == ("acme-admin", str(policy.pk))


def test_compliance_creates_a_project_policy(acme, policy):
    response = acme.client("compliance").post(
        "/api/v1/policies/", {"project": acme.project.slug}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["project"] == acme.project.slug
    again = acme.client("admin").post("/api/v1/policies/", {}, format="json")
    assert again.status_code == 400
    assert again.json()["errors"] == {"__all__": ["This organisation already has a policy."]}


def test_creators_reviewers_and_auditors_cannot_write(acme, policy):
    base = f"/api/v1/policies/{policy.pk}/"
    events = AuditEvent.objects.count()
    for role in ("creator", "reviewer", "auditor"):
        client = acme.client(role)
        assert client.post("/api/v1/policies/", {}, format="json").status_code == 403
        assert client.patch(base, {"name": "x"}, format="json").status_code == 403
        response = client.post(f"{base}publish/", format="json")
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"
        assert client.post(f"{base}recheck/", {}, format="json").status_code == 403
        # Reading and the test console are open to every member.
        assert client.get(base).status_code == 200
        assert client.post(f"{base}evaluate/", {"prompt": "hi"}, format="json").status_code == 200
    assert AuditEvent.objects.count() == events
    assert not policy.versions.exists()


def test_other_organisations_get_404_and_see_nothing(acme, globex, policy):
    acme.client("admin").post(f"/api/v1/policies/{policy.pk}/publish/")
    base = f"/api/v1/policies/{policy.pk}/"
    for role in ("creator", "compliance", "admin"):
        client = globex.client(role)
        for url in urls(policy):
            assert client.get(url).status_code == 404, (role, url)
        for url in ("", "publish/", "evaluate/", "recheck/"):
            response = client.post(f"{base}{url}", {"prompt": "x"}, format="json")
            assert response.status_code in (404, 405), url
        assert client.patch(base, {"name": "mine"}, format="json").status_code == 404
        assert client.get("/api/v1/policies/").json()["count"] == 0
    missing = globex.client("admin").get("/api/v1/policies/999999/").json()
    assert globex.client("admin").get(base).json() == missing
    assert APIClient().get("/api/v1/policies/").status_code == 401


def test_patch_with_a_bad_regex_names_the_field_and_reason(acme, policy):
    draft = document(pattern_rule("guns", "gun(?!s)"))
    response = acme.client("compliance").patch(
        f"/api/v1/policies/{policy.pk}/", {"draft": draft}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert list(body["errors"]) == ["draft.rules[0].pattern"]
    assert "lookahead is not supported" in body["errors"]["draft.rules[0].pattern"][0]
    policy.refresh_from_db()
    assert policy.draft["rules"][0]["id"] == "nudity"


def test_publish_then_versions_with_their_diff(acme, policy):
    client = acme.client("admin")
    base = f"/api/v1/policies/{policy.pk}/"
    assert client.get(base).json()["unpublished_changes"] is True
    response = client.post(f"{base}publish/")
    assert response.status_code == 201
    assert response.json()["number"] == 1
    assert client.get(base).json()["latest_version"] == 1
    assert client.get(base).json()["unpublished_changes"] is False
    again = client.post(f"{base}publish/")
    assert again.status_code == 400
    assert "nothing to publish" in again.json()["errors"]["draft"][0]

    draft = {**DRAFT, "rules": [term_rule("nudity", "nude", "naked", category="sexual")]}
    assert client.patch(base, {"draft": draft}, format="json").status_code == 200
    assert client.post(f"{base}publish/").status_code == 201
    versions = client.get(f"{base}versions/").json()
    assert [(v["number"], v["published_by"]) for v in versions["results"]] == [
        (1, "acme-admin"),
        (2, "acme-admin"),
    ]
    second = acme.client("creator").get(f"{base}versions/2/").json()
    assert second["diff"]["rules"]["removed"] == ["gore"]
    assert second["diff"]["rules"]["changed"][0]["terms_added"] == ["naked"]
    assert second["content"]["rules"] == draft["rules"]
    assert client.get(f"{base}versions/3/").status_code == 404
    actions = list(AuditEvent.objects.values_list("action", flat=True))
    assert actions.count("policies.version.publish") == 2
    assert actions.count("policies.draft.update") == 1


def test_publish_refused_while_an_example_fails_lists_it(acme, policy):
    client = acme.client("admin")
    draft = {
        **DRAFT,
        "examples": [
            {"prompt": "a nude statue", "expected": "block"},
            {"prompt": "a bloody mess", "expected": "allow"},
        ],
    }
    client.patch(f"/api/v1/policies/{policy.pk}/", {"draft": draft}, format="json")
    response = client.post(f"/api/v1/policies/{policy.pk}/publish/")
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "examples": [
            "Example 2 “a bloody mess”: should be allowed, but is sent to review (gore matched)."
        ]
    }
    assert not policy.versions.exists()


def test_evaluate_shows_matches_with_spans_and_the_negative_prompt(acme, policy):
    prompt = "A NUDE figure, bloody"
    response = acme.client("creator").post(
        f"/api/v1/policies/{policy.pk}/evaluate/",
        {"prompt": prompt, "negative_prompt": "blurry"},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["outcome"] == "block"
    assert [(m["rule_id"], m["start"], m["end"], m["matched_text"]) for m in body["matches"]] == [
        ("nudity", 2, 6, "NUDE"),
        ("gore", 15, 21, "bloody"),
    ]
    assert body["matches"][0]["explanation"] == "Rule nudity."
    assert body["negative_prompt"] == "blurry, watermark"
    assert body["project_version_id"] is None


def test_a_100_kb_prompt_gets_a_clear_400_quickly(acme, policy):
    started = time.monotonic()
    response = acme.client("creator").post(
        f"/api/v1/policies/{policy.pk}/evaluate/", {"prompt": "nude " * 20_000}, format="json"
    )
    assert time.monotonic() - started < 2
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert body["errors"] == {"prompt": ["Ensure this field has no more than 4000 characters."]}


def test_recheck_reports_requests_the_draft_would_block(acme, policy):
    client = acme.client("compliance")
    client.post(f"/api/v1/policies/{policy.pk}/publish/")
    tiger = GenerationRequestFactory(project=acme.project, prompt="a tiger at dawn")
    draft = {**DRAFT, "rules": [*DRAFT["rules"], term_rule("cats", "tiger")]}
    client.patch(f"/api/v1/policies/{policy.pk}/", {"draft": draft}, format="json")
    response = client.post(f"/api/v1/policies/{policy.pk}/recheck/", {"days": 7}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["days"], body["checked"]) == (7, 1)
    assert body["newly_blocked"] == [
        {
            "request_id": tiger.pk,
            "project_id": acme.project.pk,
            "prompt": "a tiger at dawn",
            "before": "allow",
            "after": "block",
        }
    ]
    bad = client.post(f"/api/v1/policies/{policy.pk}/recheck/", {"days": 0}, format="json")
    assert bad.status_code == 400 and "days" in bad.json()["errors"]
