"""Workflow stages: strict validation with every problem named, defaults filled in, and
which stages apply to an object."""

import pytest
from django.core.exceptions import ValidationError

from governance.reviews.stages import DEFAULT_STAGES, stages_clean, stages_for


def test_defaults_are_filled_in():
    [stage] = stages_clean([{"name": " Legal ", "role": "compliance"}])
    assert stage == {
        "name": "Legal",
        "role": "compliance",
        "approvals": 1,
        "kinds": ["prompt", "asset"],
        "when": "always",
        "due_hours": None,
    }
    assert stages_clean(DEFAULT_STAGES) == DEFAULT_STAGES


def test_every_problem_is_named_by_its_path():
    with pytest.raises(ValidationError) as caught:
        stages_clean(
            [
                {"name": "", "role": "creator", "approvals": 0, "kinds": ["video"]},
                {"name": "Ok", "role": "reviewer", "when": "on_tuesdays", "due_hours": 0, "x": 1},
            ]
        )
    errors = caught.value.message_dict
    assert set(errors) == {
        "stages[0].name",
        "stages[0].role",
        "stages[0].approvals",
        "stages[0].kinds",
        "stages[1]",
        "stages[1].when",
        "stages[1].due_hours",
    }
    assert "one of: reviewer, compliance, admin" in errors["stages[0].role"][0]
    with pytest.raises(ValidationError, match="1 to 10 stages"):
        stages_clean([])


def test_stages_apply_by_kind_and_condition():
    stages = stages_clean(
        [
            {"name": "Prompt", "role": "compliance", "kinds": ["prompt"], "when": "prompt_review"},
            {"name": "Brand", "role": "reviewer", "kinds": ["asset"]},
            {"name": "Safety", "role": "compliance", "kinds": ["asset"], "when": "check_flagged"},
        ]
    )
    assert [s["name"] for s in stages_for(stages, kind="prompt", facts=set())] == []
    assert [s["name"] for s in stages_for(stages, kind="prompt", facts={"prompt_review"})] == [
        "Prompt"
    ]
    assert [s["name"] for s in stages_for(stages, kind="asset", facts={"check_flagged"})] == [
        "Brand",
        "Safety",
    ]
