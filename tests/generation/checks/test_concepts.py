"""CLIP zero-shot concepts, with the demo CLIP model on demo scenes it never trained on."""

from __future__ import annotations

import pytest

from generation.checks.concepts import (
    NEUTRAL_PROMPTS,
    ConceptSpec,
    score_concepts,
)
from tests.generation.checks.conftest import auc, rendered


@pytest.fixture(scope="module")
def held_out_scenes():
    from itertools import islice

    from generation.demo.dataset import render, scenes

    items = list(islice(scenes("held_out", 5), 120))
    return items, [render(scene) for scene in items]


@pytest.mark.parametrize(
    ("concept", "is_it"),
    [
        (ConceptSpec("star", prompt="a star"), lambda s: s.shape == "star"),
        (ConceptSpec("red shape", prompt="a red shape"), lambda s: s.colour == "red"),
    ],
    ids=["star", "red-shape"],
)
def test_a_known_concept_scores_higher_on_images_of_it(demo_clip, held_out_scenes, concept, is_it):
    items, images = held_out_scenes
    scores = [row[0].score for row in score_concepts(demo_clip, images, [concept])]
    positives = [s for s, scene in zip(scores, items, strict=True) if is_it(scene)]
    negatives = [s for s, scene in zip(scores, items, strict=True) if not is_it(scene)]
    assert len(positives) >= 5 and len(negatives) >= 5
    assert sum(positives) / len(positives) > 2 * sum(negatives) / len(negatives)
    assert auc(positives, negatives) >= 0.9


def test_scores_are_probabilities_against_the_neutral_prompts(demo_clip, held_out_scenes):
    _, images = held_out_scenes
    concept = ConceptSpec("star", prompt="a star")
    (row,) = score_concepts(demo_clip, images[:1], [concept])
    # Recomputed by hand: softmax over [concept, neutrals] at CLIP's temperature.
    image = demo_clip.encode_images(images[:1])
    texts = demo_clip.encode_texts(["a star", *NEUTRAL_PROMPTS])
    scale = demo_clip.model.logit_scale.exp().clamp(max=100)
    expected = (scale * image @ texts.T).softmax(dim=1)[0, 0].item()
    assert row[0].score == pytest.approx(expected, abs=1e-5)
    assert isinstance(row[0].score, float)


def test_one_concept_does_not_change_another(demo_clip, held_out_scenes):
    _, images = held_out_scenes
    star = ConceptSpec("star", prompt="a star")
    alone = score_concepts(demo_clip, images[:4], [star])
    together = score_concepts(demo_clip, images[:4], [ConceptSpec("ring", prompt="a ring"), star])
    for one, two in zip(alone, together, strict=True):
        assert one[0].score == pytest.approx(two[1].score, abs=1e-6)


def test_the_verdict_flips_at_the_threshold(demo_clip):
    (star_image,) = rendered("held_out", 3, 1, lambda s: s.shape == "star")
    (score,) = score_concepts(demo_clip, [star_image], [ConceptSpec("star", prompt="a star")])[0]
    assert score.score > 0.05
    below = ConceptSpec("star", threshold=score.score - 1e-4, action="fail", prompt="a star")
    above = ConceptSpec("star", threshold=score.score + 1e-4, action="fail", prompt="a star")
    (flipped,) = score_concepts(demo_clip, [star_image], [below])[0]
    (kept,) = score_concepts(demo_clip, [star_image], [above])[0]
    assert flipped.verdict == "fail" and "CLIP sees 'star' at" in flipped.reason
    assert kept.verdict == "pass" and kept.reason is None


def test_the_default_prompt_comes_from_the_template():
    assert ConceptSpec("weapons").text() == "a photo of weapons"
    assert ConceptSpec("weapons").text("{concept}") == "weapons"
    assert ConceptSpec("blood", prompt="blood on a floor").text() == "blood on a floor"


def test_bad_specs_are_refused():
    with pytest.raises(ValueError, match="'flag' or 'fail'"):
        ConceptSpec("blood", action="block")
    with pytest.raises(ValueError, match="probability"):
        ConceptSpec("blood", threshold=2)
    with pytest.raises(ValueError, match="needs a name"):
        ConceptSpec(" ")
