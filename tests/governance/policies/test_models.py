"""The policy document is validated strictly; published versions cannot change."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from governance.policies.documents import document_clean, document_diff
from governance.policies.models import Policy, PolicyVersion, PolicyVersionImmutable
from governance.policies.services import policy_publish
from tests.governance.policies.factories import (
    PolicyFactory,
    document,
    pattern_rule,
    term_rule,
)


def errors_of(raw) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        document_clean(raw)
    return caught.value.message_dict


def test_a_valid_document_is_kept_with_texts_stripped():
    clean = document_clean(
        {
            "rules": [term_rule("r1", " nude ", "nude", "naked")],
            "negative_additions": [" watermark "],
        }
    )
    assert clean["rules"][0]["terms"] == ["nude", "naked"]
    assert clean["negative_additions"] == ["watermark"]
    assert clean["output_concepts"] == [] and clean["examples"] == []


def test_a_lookahead_pattern_is_refused_with_the_reason_at_its_path():
    errors = errors_of(document(pattern_rule("r1", "gun(?=s)")))
    assert list(errors) == ["draft.rules[0].pattern"]
    assert "lookahead is not supported" in errors["draft.rules[0].pattern"][0]


def test_an_invalid_pattern_is_refused():
    errors = errors_of(document(pattern_rule("r1", "blood[")))
    assert errors["draft.rules[0].pattern"][0].startswith("invalid regular expression")


def test_every_problem_is_reported_at_once():
    raw = document(
        {**term_rule("r1", "x"), "category": "gossip"},
        {**term_rule("r2", "x"), "action": "ban"},
        term_rule("r3"),
        term_rule("r3", "y"),
        term_rule("r4", "--"),
        {**term_rule("r5", "x"), "pattern": "x"},
        examples=[{"prompt": "a cat", "expected": "maybe"}],
    )
    raw["colour"] = "red"
    errors = errors_of(raw)
    assert "Unknown category 'gossip'" in errors["draft.rules[0].category"][0]
    assert "Unknown action 'ban'" in errors["draft.rules[1].action"][0]
    assert errors["draft.rules[2].terms"] == ["The term list is empty."]
    assert "Duplicate rule id 'r3'" in errors["draft.rules[3].id"][0]
    assert "has no letters or digits" in errors["draft.rules[4].terms"][0]
    assert "either a list of terms or one pattern" in errors["draft.rules[5]"][0]
    assert "Unknown expected outcome 'maybe'" in errors["draft.examples[0].expected"][0]
    assert "Unknown keys colour" in errors["draft"][0]


def test_diff_lists_rules_terms_and_examples_that_changed():
    before = document_clean(
        document(
            term_rule("nudity", "nude", "naked"),
            term_rule("old", "thing"),
            examples=[
                {"prompt": "a nude", "expected": "block"},
                {"prompt": "x", "expected": "allow"},
            ],
        )
    )
    after = document_clean(
        document(
            term_rule("nudity", "nude", "topless", action="review"),
            pattern_rule("gore", "blood"),
            negative_additions=["watermark"],
            examples=[
                {"prompt": "a nude", "expected": "review"},
                {"prompt": "y", "expected": "allow"},
            ],
        )
    )
    diff = document_diff(before, after)
    assert diff["rules"]["added"] == ["gore"]
    assert diff["rules"]["removed"] == ["old"]
    assert diff["rules"]["changed"] == [
        {
            "id": "nudity",
            "fields": {"action": {"before": "block", "after": "review"}},
            "terms_added": ["topless"],
            "terms_removed": ["naked"],
        }
    ]
    assert diff["negative_additions"] == {"added": ["watermark"], "removed": []}
    assert diff["examples"]["added"] == [{"prompt": "y", "expected": "allow"}]
    assert diff["examples"]["removed"] == [{"prompt": "x", "expected": "allow"}]
    assert diff["examples"]["changed"] == [
        {"prompt": "a nude", "before": "block", "after": "review"}
    ]
    assert diff["summary"] == (
        "rules: 1 added, 1 removed, 1 changed; negative additions: 1 added; "
        "examples: 1 added, 1 removed, 1 changed"
    )


@pytest.mark.django_db
def test_one_policy_per_organisation_and_one_per_project(acme):
    PolicyFactory(organization=acme.organization)
    PolicyFactory(organization=acme.organization, project=acme.project)
    with pytest.raises(IntegrityError), transaction.atomic():
        PolicyFactory(organization=acme.organization)
    with pytest.raises(IntegrityError), transaction.atomic():
        PolicyFactory(organization=acme.organization, project=acme.project)


@pytest.mark.django_db
def test_full_clean_refuses_a_project_of_another_organisation(acme, globex):
    policy = Policy(organization=acme.organization, project=globex.project, draft=document())
    with pytest.raises(ValidationError) as caught:
        policy.full_clean()
    assert "another organisation" in caught.value.message_dict["project"][0]


@pytest.mark.django_db
def test_published_versions_cannot_be_changed_or_deleted(acme):
    policy = PolicyFactory(organization=acme.organization, draft=document(term_rule("r", "x")))
    version = policy_publish(policy=policy, user=acme.users["admin"])
    version.content = document()
    with pytest.raises(PolicyVersionImmutable):
        version.save()
    with pytest.raises(PolicyVersionImmutable):
        version.delete()
    with pytest.raises(PolicyVersionImmutable):
        PolicyVersion.objects.filter(pk=version.pk).update(content={})
    with pytest.raises(PolicyVersionImmutable):
        PolicyVersion.objects.filter(pk=version.pk).delete()
    with pytest.raises(PolicyVersionImmutable), transaction.atomic():
        PolicyVersion.objects.bulk_update([version], ["content"])
    version.refresh_from_db()
    assert version.content["rules"][0]["terms"] == ["x"]
