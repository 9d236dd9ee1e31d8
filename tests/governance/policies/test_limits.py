"""Parameter limits, the model allowlist, quotas and output concepts in the policy document,
and how the limits of the organisation and project policies combine."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from governance.policies.documents import document_clean, document_diff
from governance.policies.limits import Quota, limits_check, limits_combine
from governance.policies.quotas import quota_period
from governance.policies.services import (
    policy_create,
    policy_dry_run,
    policy_evaluate,
    policy_publish,
)
from tests.governance.policies.factories import document, term_rule


def errors_of(draft) -> dict:
    with pytest.raises(ValidationError) as caught:
        document_clean(draft)
    return caught.value.message_dict


def test_limits_are_cleaned_and_unset_keys_dropped():
    clean = document_clean(
        {
            "limits": {
                "models": [" demo-shapes ", "demo-shapes", "sdxl"],
                "max_steps": 30,
                "max_guidance": 9,
                "max_images": None,
                "quotas": {"user_day": 50, "project_month": 0},
            }
        }
    )
    assert clean["limits"] == {
        "models": ["demo-shapes", "sdxl"],
        "max_steps": 30,
        "max_guidance": 9.0,
        "quotas": {"user_day": 50, "project_month": 0},
    }
    assert document_clean({})["limits"] == {}


def test_every_bad_limit_is_reported_by_its_path():
    errors = errors_of(
        {
            "limits": {
                "models": ["ok", "not a name"],
                "max_steps": 0,
                "max_guidance": float("nan"),
                "max_side": True,
                "quotas": {"user_day": -1, "user_week": 3},
                "speed": 1,
            }
        }
    )
    assert "Unknown keys speed" in errors["draft.limits"][0]
    assert "draft.limits.models[1]" in errors
    assert "whole number from 1" in errors["draft.limits.max_steps"][0]
    assert "number from 0 to 100" in errors["draft.limits.max_guidance"][0]
    assert "draft.limits.max_side" in errors  # a boolean is not a number of pixels
    assert "from 0 to" in errors["draft.limits.quotas.user_day"][0]
    assert "user_week" in errors["draft.limits.quotas"][0]
    assert "Give the limits as an object." in errors_of({"limits": [1]})["draft.limits"]


def test_output_concepts_take_a_text_or_an_object_with_action_and_threshold():
    clean = document_clean(
        {"output_concepts": ["blood", {"concept": "weapons", "action": "fail", "threshold": 0.6}]}
    )
    assert clean["output_concepts"] == [
        {"concept": "blood", "action": "flag"},
        {"concept": "weapons", "action": "fail", "threshold": 0.6},
    ]
    errors = errors_of(
        {
            "output_concepts": [
                {"concept": "gore", "threshold": 1.5},
                {"concept": "smoke", "action": "quarantine"},
                "blood",
                {"concept": "blood"},
                {"concept": "x", "colour": "red"},
            ]
        }
    )
    assert "between 0 and 1" in errors["draft.output_concepts[0].threshold"][0]
    assert "one of: flag, fail" in errors["draft.output_concepts[1].action"][0]
    assert "listed twice" in errors["draft.output_concepts[3].concept"][0]
    assert "colour" in errors["draft.output_concepts[4]"][0]


def test_diff_names_changed_limits_and_concepts():
    before = document_clean(
        {"output_concepts": ["blood"], "limits": {"max_steps": 30, "quotas": {"user_day": 5}}}
    )
    after = document_clean(
        {
            "output_concepts": [{"concept": "blood", "action": "fail"}, "weapons"],
            "limits": {"max_steps": 20, "models": ["demo-shapes"]},
        }
    )
    diff = document_diff(before, after)
    assert diff["limits"]["changed"] == [
        {"limit": "max_steps", "before": 30, "after": 20},
        {"limit": "models", "before": None, "after": ["demo-shapes"]},
        {"limit": "quotas.user_day", "before": 5, "after": None},
    ]
    assert [c["concept"] for c in diff["output_concepts"]["added"]] == ["weapons"]
    [changed] = diff["output_concepts"]["changed"]
    assert changed["before"]["action"] == "flag" and changed["after"]["action"] == "fail"
    assert "limits: 3 changed" in diff["summary"]
    assert "output concepts: 1 added, 1 changed" in diff["summary"]


def test_the_tighter_limit_wins_and_every_allowlist_applies():
    limits = limits_combine(
        [
            ({"max_steps": 30, "models": ["a", "b"], "quotas": {"user_day": 10}}, False),
            ({"max_steps": 40, "max_images": 2, "models": ["b", "c"]}, True),
        ]
    )
    assert limits.max_steps == 30 and limits.max_images == 2 and limits.max_guidance is None
    assert limits.quotas == (Quota("user", "day", 10, within_project=False),)
    assert limits_check(limits, {"model": "b", "steps": 30, "num_images": 2}) == {}
    errors = limits_check(limits, {"model": "a", "steps": 31, "num_images": 3})
    assert errors["model"] == ["The prompt policy allows only these models: b, c."]
    assert errors["steps"] == ["The prompt policy allows at most 30 for steps."]
    assert errors["num_images"] == ["The prompt policy allows at most 2 for images per request."]
    # What cannot be read as a number is left to the request's own validation.
    assert limits_check(limits, {"steps": "many"}) == {}


def test_quota_periods_are_local_days_and_months_across_daylight_saving(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    berlin = ZoneInfo("Europe/Berlin")
    # 29 March 2026 has 23 hours in Berlin; the day still ends at local midnight.
    start, end = quota_period("day", datetime(2026, 3, 29, 12, 0, tzinfo=berlin))
    assert (start.hour, start.day, end.hour, end.day) == (0, 29, 0, 30)
    # (Aware datetimes of one zone subtract as wall-clock times: compare in UTC.)
    utc = ZoneInfo("UTC")
    assert (end.astimezone(utc) - start.astimezone(utc)).total_seconds() == 23 * 3600
    start, end = quota_period("month", datetime(2026, 12, 31, 23, 30, tzinfo=berlin))
    assert (start.year, start.month, start.day) == (2026, 12, 1)
    assert (end.year, end.month, end.day, end.hour) == (2027, 1, 1, 0)


@pytest.mark.django_db
def test_evaluate_applies_both_layers_and_hands_over_the_concepts(acme):
    admin = acme.users["admin"]
    organization_policy = policy_create(
        organization=acme.organization,
        user=admin,
        draft={
            **document(term_rule("nudity", "nude")),
            "output_concepts": ["blood", {"concept": "weapons", "action": "fail"}],
            "limits": {"max_steps": 30, "quotas": {"user_day": 10}},
        },
    )
    policy_publish(policy=organization_policy, user=admin)
    project_policy = policy_create(
        organization=acme.organization,
        project=acme.project,
        user=admin,
        draft={
            **document(),
            "output_concepts": [{"concept": "weapons", "action": "flag", "threshold": 0.3}],
            "limits": {"max_steps": 20, "models": ["demo-shapes"]},
        },
    )
    policy_publish(policy=project_policy, user=admin)

    decision = policy_evaluate(
        project=acme.project, prompt="a red star", params={"steps": 25, "model": "other"}
    )
    assert decision.outcome == "allow" and not decision.allowed
    assert decision.limit_errors == {
        "steps": ["The prompt policy allows at most 20 for steps."],
        "model": ["The prompt policy allows only these models: demo-shapes."],
    }
    # The project's setting of a concept overrides the organisation's.
    assert decision.output_concepts == (
        {"concept": "blood", "action": "flag"},
        {"concept": "weapons", "action": "flag", "threshold": 0.3},
    )
    [quota] = decision.limits.quotas
    assert (quota.key, quota.limit, quota.within_project) == ("user_day", 10, False)
    assert policy_evaluate(
        project=acme.project, prompt="a red star", params={"steps": 20, "model": "demo-shapes"}
    ).allowed

    # The test console judges the draft the same way.
    dry = policy_dry_run(policy=project_policy, prompt="a red star", params={"steps": 21})
    assert dry.limit_errors == {"steps": ["The prompt policy allows at most 20 for steps."]}


def test_safety_classes_are_checked_by_class_name_threshold_and_action():
    clean = document_clean(
        {"safety_classes": {"BELLY_EXPOSED": {"threshold": 0.7, "action": "ignore"},
                            "FACE_MALE": {"action": "flag"}}}
    )  # fmt: skip
    assert clean["safety_classes"] == {
        "BELLY_EXPOSED": {"threshold": 0.7, "action": "ignore"},
        "FACE_MALE": {"action": "flag"},
    }
    errors = errors_of(
        {
            "safety_classes": {
                "NAKED": {"action": "fail"},
                "FACE_FEMALE": {"threshold": 2},
                "FEET_EXPOSED": {"action": "quarantine"},
                "ANUS_EXPOSED": "fail",
            }
        }
    )
    assert "Unknown NudeNet class 'NAKED'" in errors["draft.safety_classes.NAKED"][0]
    assert "from 0 to 1" in errors["draft.safety_classes.FACE_FEMALE.threshold"][0]
    assert "fail, flag, face, ignore" in errors["draft.safety_classes.FEET_EXPOSED.action"][0]
    assert "draft.safety_classes.ANUS_EXPOSED" in errors
    diff = document_diff(document_clean({}), clean)
    assert {"limit": "safety.FACE_MALE", "before": None, "after": {"action": "flag"}} in (
        diff["limits"]["changed"]
    )
