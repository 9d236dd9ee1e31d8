"""The whole suite on a job's images: one verdict per image, with every number behind it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from generation.checks import (
    CHECKS_VERSION,
    BrandKit,
    ChecksConfig,
    ConceptSpec,
    nudenet_rules,
    reference_embeddings,
    run_checks,
)
from tests.generation.checks.conftest import NAVY, RED, is_on_brand, rendered

PROMPT = "a red star on a navy background"


@pytest.fixture(scope="module")
def config(demo_clip, brand_references) -> ChecksConfig:
    return ChecksConfig(
        concepts=(ConceptSpec("star", threshold=0.5, action="flag", prompt="a star"),),
        brand=BrandKit(
            palette=(RED, NAVY),
            reference_embeddings=reference_embeddings(demo_clip, brand_references),
            on_brand=("a red shape on a navy background",),
            off_brand=(
                "a green shape on a yellow background",
                "a blue shape on a white background",
            ),
        ),
    )


def test_to_dict_is_json_with_thresholds_boxes_and_swatches(photos, demo_clip, config):
    (astronaut,) = run_checks([photos["astronaut"]], prompt=PROMPT, config=config, clip=demo_clip)
    data = json.loads(json.dumps(astronaut.to_dict()))
    assert data["version"] == CHECKS_VERSION
    assert data["has_face"] is True
    nudenet = data["safety"]["nudenet"]
    assert nudenet["faces"][0]["box"] == list(astronaut.safety.faces[0].box)
    assert nudenet["rules"]["FEMALE_BREAST_EXPOSED"] == {"threshold": 0.5, "action": "fail"}
    (concept,) = data["safety"]["concepts"]
    assert concept["threshold"] == 0.5 and 0.0 <= concept["score"] <= 1.0
    palette = data["brand"]["parts"]["palette"]
    assert palette["threshold"] == 0.5 and palette["delta_e_threshold"] == 10.0
    assert all({"hex", "delta_e", "share"} <= set(s) for s in palette["swatches"])
    assert isinstance(data["brand"]["parts"]["reference"]["nearest_index"], int)
    # A photograph is far from a brand of red shapes on navy: brand review, not a failure.
    assert data["verdict"] == "flag"
    assert any(reason.startswith("brand score") for reason in data["reasons"])


def test_the_worst_check_decides_and_reasons_are_plain_words(photos, demo_clip, config):
    strict = ChecksConfig(
        nudenet_rules=nudenet_rules({"FACE_FEMALE": 0.3}, {"FACE_FEMALE": "fail"}),
        concepts=config.concepts,
        brand=config.brand,
    )
    (on_brand,) = rendered("held_out", 7, 1, is_on_brand)
    astronaut, shape = run_checks(
        [photos["astronaut"], on_brand], prompt=PROMPT, config=strict, clip=demo_clip
    )
    assert astronaut.verdict == "fail"
    assert astronaut.reasons[0].startswith("NudeNet found FACE_FEMALE at 0.")
    assert "\N{GREATER-THAN OR EQUAL TO} 0.30" in astronaut.reasons[0]
    assert shape.safety.verdict == "pass"
    assert shape.verdict in ("pass", "flag")
    assert shape.verdict == ("flag" if shape.reasons else "pass")


def test_a_policy_concept_can_fail_an_image(demo_clip, config):
    stars = rendered("held_out", 3, 3, lambda s: s.shape == "star")
    scores = [
        c.concepts[0].score for c in run_checks(stars, prompt=PROMPT, config=config, clip=demo_clip)
    ]
    threshold = min(scores) - 1e-4
    failing = ChecksConfig(
        concepts=(ConceptSpec("star", threshold=threshold, action="fail", prompt="a star"),)
    )
    results = run_checks(stars, prompt=PROMPT, config=failing, clip=demo_clip)
    assert [r.verdict for r in results] == ["fail"] * 3
    assert all(any("CLIP sees 'star'" in reason for reason in r.reasons) for r in results)


def test_a_batch_gives_the_same_results_as_one_at_a_time(photos, demo_clip, config):
    images = [photos["astronaut"], photos["coffee"], *rendered("held_out", 7, 2, is_on_brand)]
    batched = run_checks(images, prompt=PROMPT, config=config, clip=demo_clip)
    for index, image in enumerate(images):
        (single,) = run_checks([image], prompt=PROMPT, config=config, clip=demo_clip)
        assert single.verdict == batched[index].verdict
        assert single.brand.score == pytest.approx(batched[index].brand.score, abs=1e-4)
        assert single.concepts[0].score == pytest.approx(batched[index].concepts[0].score, abs=1e-4)
        assert [d.label for d in single.safety.detections] == [
            d.label for d in batched[index].safety.detections
        ]


def test_concepts_without_a_clip_model_are_refused(photos, config):
    with pytest.raises(ValueError, match="give a CLIP model"):
        run_checks([photos["coffee"]], prompt=PROMPT, config=config)
    with pytest.raises(ValueError, match="at least one image"):
        run_checks([], prompt=PROMPT, config=ChecksConfig())


def test_nudenet_and_palette_run_without_clip(photos):
    config = ChecksConfig(brand=BrandKit(palette=(RED, NAVY)))
    (result,) = run_checks([photos["rocket"]], prompt=PROMPT, config=config)
    assert result.safety.verdict == "pass"
    assert [part.name for part in result.brand.parts] == ["palette"]


def test_the_package_imports_no_django():
    code = (
        "import sys, generation.checks, generation.checks.runner;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'rest_framework'));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
