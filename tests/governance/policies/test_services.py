"""Publishing versions, evaluating prompts against organisation + project policies, and
rechecking recent requests against a draft."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from generation.jobs.models import GenerationRequest
from governance.audit.models import AuditEvent
from governance.policies import services
from governance.policies.matching import MAX_PROMPT_CHARS
from governance.policies.services import (
    policy_create,
    policy_draft_update,
    policy_dry_run,
    policy_evaluate,
    policy_publish,
    policy_recheck,
)
from tests.generation.jobs.factories import GenerationRequestFactory
from tests.governance.policies.factories import document, pattern_rule, term_rule
from tests.imprimatur.tenancy.factories import BrandProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def org_policy(acme):
    return policy_create(
        organization=acme.organization,
        user=acme.users["admin"],
        draft=document(
            term_rule("nudity", "nude", category="sexual"),
            pattern_rule("gore", r"blood(y|ied)?", action="review", category="violence"),
            term_rule("rivals", "globocorp", action="warn", category="competitor_brands"),
            negative_additions=["watermark", "text"],
        ),
    )


@pytest.fixture
def project_policy(acme):
    return policy_create(
        organization=acme.organization,
        project=acme.project,
        user=acme.users["compliance"],
        draft=document(term_rule("nudity", "swimsuit"), negative_additions=["blurry", "text"]),
    )


def test_versions_are_numbered_with_a_hash_and_a_diff(acme, org_policy):
    first = policy_publish(policy=org_policy, user=acme.users["admin"])
    assert (first.number, len(first.content_sha256)) == (1, 64)
    assert first.diff["rules"]["added"] == ["nudity", "gore", "rivals"]
    draft = {**org_policy.draft, "rules": org_policy.draft["rules"][:1]}
    policy_draft_update(policy=org_policy, user=acme.users["compliance"], draft=draft)
    second = policy_publish(policy=org_policy, user=acme.users["compliance"])
    assert second.number == 2
    assert second.published_by == acme.users["compliance"]
    assert second.diff["rules"]["removed"] == ["gore", "rivals"]
    assert second.content_sha256 != first.content_sha256


def test_publishing_an_unchanged_draft_is_refused(acme, org_policy):
    policy_publish(policy=org_policy, user=acme.users["admin"])
    with pytest.raises(ValidationError) as caught:
        policy_publish(policy=org_policy, user=acme.users["admin"])
    assert "same as version 1" in caught.value.message_dict["draft"][0]
    assert org_policy.versions.count() == 1


def test_publish_is_refused_listing_every_failing_example(acme, org_policy):
    draft = {
        **org_policy.draft,
        "examples": [
            {"prompt": "a nude statue", "expected": "block"},
            {"prompt": "a bloody knife", "expected": "block"},
            {"prompt": "a sunny beach", "expected": "review"},
        ],
    }
    policy_draft_update(policy=org_policy, user=acme.users["admin"], draft=draft)
    with pytest.raises(ValidationError) as caught:
        policy_publish(policy=org_policy, user=acme.users["admin"])
    failures = caught.value.message_dict["examples"]
    assert failures == [
        "Example 2 “a bloody knife”: should be blocked, but is sent to review (gore matched).",
        "Example 3 “a sunny beach”: should be sent to review, but is allowed (no rule matched).",
    ]
    assert not org_policy.versions.exists()


def test_a_project_draft_is_tested_on_top_of_the_published_organisation_policy(
    acme, org_policy, project_policy
):
    policy_publish(policy=org_policy, user=acme.users["admin"])
    draft = {**project_policy.draft, "examples": [{"prompt": "a nude", "expected": "block"}]}
    policy_draft_update(policy=project_policy, user=acme.users["admin"], draft=draft)
    version = policy_publish(policy=project_policy, user=acme.users["admin"])
    assert version.number == 1


def test_only_admins_and_compliance_officers_edit_policies(acme, globex, org_policy):
    for user in (acme.users["creator"], acme.users["reviewer"], globex.users["admin"]):
        with pytest.raises(PermissionDenied):
            policy_publish(policy=org_policy, user=user)
        with pytest.raises(PermissionDenied):
            policy_draft_update(policy=org_policy, user=user, name="mine")
    assert not org_policy.versions.exists()


def test_writes_record_audit_events(acme, org_policy):
    policy_draft_update(policy=org_policy, user=acme.users["admin"], name="Acme rules")
    version = policy_publish(policy=org_policy, user=acme.users["admin"])
    events = AuditEvent.objects.filter(organization=acme.organization).order_by("id")
    assert [event.action for event in events] == [
        "policies.policy.create",
        "policies.draft.update",
        "policies.version.publish",
    ]
    publish = events.last()
    assert publish.actor_name == "acme-admin"
    assert (publish.target_type, publish.target_id) == ("policies.policyversion", str(version.pk))
    assert publish.data["number"] == 1
    assert publish.data["content_sha256"] == version.content_sha256


def test_without_a_published_version_everything_is_allowed(acme, org_policy):
    decision = policy_evaluate(project=acme.project, prompt="a nude statue")
    assert decision.outcome == "allow"
    assert decision.matches == () and decision.version_ids == ()
    assert decision.negative_prompt == ""


def test_evaluate_combines_organisation_and_project_policies(acme, org_policy, project_policy):
    org_version = policy_publish(policy=org_policy, user=acme.users["admin"])
    project_version = policy_publish(policy=project_policy, user=acme.users["admin"])
    prompt = "A swimsuit model near a bloody globocorp sign"
    decision = policy_evaluate(project=acme.project, prompt=prompt, negative_prompt="Text, noise")
    assert decision.outcome == "block"
    found = {(m.rule_id, m.action, prompt[m.start : m.end]) for m in decision.matches}
    assert found == {
        ("nudity", "block", "swimsuit"),
        ("gore", "review", "bloody"),
        ("rivals", "warn", "globocorp"),
    }
    assert [m.term for m in decision.warnings] == ["globocorp"]
    # "text" is already there (any case); the others are appended once each.
    assert decision.negative_prompt == "Text, noise, watermark, blurry"
    assert decision.negative_additions == ("watermark", "blurry")
    assert decision.version_ids == (org_version.pk, project_version.pk)
    other = BrandProjectFactory(organization=acme.organization)
    elsewhere = policy_evaluate(project=other, prompt=prompt)
    assert elsewhere.outcome == "review"  # the project's additions apply to it only
    assert elsewhere.version_ids == (org_version.pk,)


def test_evaluate_uses_the_latest_version_not_the_draft(acme, org_policy):
    policy_publish(policy=org_policy, user=acme.users["admin"])
    org_policy = policy_draft_update(policy=org_policy, user=acme.users["admin"], draft=document())
    assert policy_evaluate(project=acme.project, prompt="a nude").outcome == "block"
    assert policy_dry_run(policy=org_policy, prompt="a nude").outcome == "allow"


def test_compiled_versions_are_cached_per_version(acme, org_policy, monkeypatch):
    version = policy_publish(policy=org_policy, user=acme.users["admin"])
    first = services.compiled_version(version)
    compiled = []
    real = services.CompiledPolicy.from_rules
    monkeypatch.setattr(
        services.CompiledPolicy,
        "from_rules",
        lambda rules: compiled.append(1) or real(rules),
    )
    assert services.compiled_version(version) is first
    policy_evaluate(project=acme.project, prompt="a nude")
    assert compiled == []


def test_a_prompt_over_the_limit_is_a_clear_error(acme, org_policy):
    policy_publish(policy=org_policy, user=acme.users["admin"])
    with pytest.raises(ValidationError) as caught:
        policy_evaluate(project=acme.project, prompt="a" * (MAX_PROMPT_CHARS + 1))
    assert caught.value.message_dict["prompt"] == [
        f"The prompt is {MAX_PROMPT_CHARS + 1} characters long; the limit is {MAX_PROMPT_CHARS}."
    ]


def test_recheck_reports_what_the_draft_would_change(acme, globex, org_policy):
    policy_publish(policy=org_policy, user=acme.users["admin"])

    def request(prompt, project=acme.project):
        return GenerationRequestFactory(
            project=project, created_by=acme.users["creator"], prompt=prompt
        )

    nude = request("a nude statue")
    bloody = request("a bloody nose")
    tiger = request("a tiger in the snow")
    request("a cat")
    old = request("a tiger long ago")
    GenerationRequest.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=40)
    )
    request("a tiger abroad", project=globex.project)

    draft = document(
        term_rule("animals", "tiger", category="custom"),
        term_rule("gore", "bloody", category="violence"),
    )
    org_policy = policy_draft_update(policy=org_policy, user=acme.users["admin"], draft=draft)
    events_before = AuditEvent.objects.count()
    report = policy_recheck(policy=org_policy, days=30)

    assert report.checked == 4 and not report.truncated
    assert [(i.request_id, i.before, i.after) for i in report.newly_blocked] == [
        (tiger.pk, "allow", "block"),
        (bloody.pk, "review", "block"),
    ]
    assert [(i.request_id, i.prompt, i.before, i.after) for i in report.newly_allowed] == [
        (nude.pk, "a nude statue", "block", "allow")
    ]
    assert report.changed == []
    assert AuditEvent.objects.count() == events_before  # a dry run writes nothing
    assert policy_recheck(policy=org_policy, days=60).checked == 5


def test_recheck_of_a_project_policy_looks_at_that_project_only(acme, org_policy, project_policy):
    policy_publish(policy=org_policy, user=acme.users["admin"])
    other = BrandProjectFactory(organization=acme.organization)
    GenerationRequestFactory(project=acme.project, prompt="a nude and a tiger")
    mine = GenerationRequestFactory(project=acme.project, prompt="a tiger")
    GenerationRequestFactory(project=other, prompt="a tiger", model_profile=acme.model)
    draft = document(term_rule("cats", "tiger", action="review"))
    project_policy = policy_draft_update(
        policy=project_policy, user=acme.users["admin"], draft=draft
    )
    report = policy_recheck(policy=project_policy, days=30)
    assert report.checked == 2  # the organisation's block still wins for the first
    assert report.newly_blocked == report.newly_allowed == []
    assert [(i.request_id, i.before, i.after) for i in report.changed] == [
        (mine.pk, "allow", "review")
    ]
