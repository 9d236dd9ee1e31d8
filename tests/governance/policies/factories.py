import factory
from factory.django import DjangoModelFactory

from governance.policies.models import Policy
from tests.imprimatur.tenancy.factories import OrganizationFactory


def document(*rules, negative_additions=(), output_concepts=(), examples=()) -> dict:
    return {
        "rules": list(rules),
        "negative_additions": list(negative_additions),
        "output_concepts": list(output_concepts),
        "examples": list(examples),
    }


def term_rule(rule_id: str, *terms: str, action="block", category="custom") -> dict:
    return {
        "id": rule_id,
        "category": category,
        "action": action,
        "explanation": f"Rule {rule_id}.",
        "terms": list(terms),
    }


def pattern_rule(rule_id: str, pattern: str, action="review", category="custom") -> dict:
    return {
        "id": rule_id,
        "category": category,
        "action": action,
        "explanation": f"Rule {rule_id}.",
        "pattern": pattern,
    }


#: A small policy the API and page tests share: one term rule, one pattern rule, one example.
SAMPLE_DRAFT = document(
    term_rule("nudity", "nude", category="sexual"),
    pattern_rule("gore", r"blood(y)?", category="violence"),
    negative_additions=["watermark"],
    examples=[{"prompt": "a nude statue", "expected": "block"}],
)


class PolicyFactory(DjangoModelFactory):
    """A policy written straight to the database; the services validate their own input."""

    class Meta:
        model = Policy

    organization = factory.SubFactory(OrganizationFactory)
    draft = factory.LazyFunction(document)
