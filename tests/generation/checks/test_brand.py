"""Brand fit: palette distance in CIELAB, and the whole score on a "red shapes on navy" kit
with the demo CLIP, on rendered scenes and on images drawn by the demo pipeline."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.color import deltaE_ciede2000, lab2rgb, rgb2lab

from generation.checks.brand import (
    BrandKit,
    BrandThresholds,
    check_brand,
    palette_compliance,
    parse_hex,
    reference_embeddings,
)
from generation.demo.dataset import PALETTE
from tests.generation.checks.conftest import NAVY, RED, auc, is_on_brand, rendered

ON_BRAND = ("a red shape on a navy background", "a red shape")
OFF_BRAND = (
    "a green shape on a yellow background",
    "a blue shape on a white background",
    "a yellow shape on a pink background",
)


@pytest.fixture(scope="module")
def kit(demo_clip, brand_references) -> BrandKit:
    return BrandKit(
        palette=(RED, NAVY),
        reference_embeddings=reference_embeddings(demo_clip, brand_references),
        on_brand=ON_BRAND,
        off_brand=OFF_BRAND,
    )


# --- palette --------------------------------------------------------------------------------------


def test_an_image_in_the_brand_colours_is_at_distance_zero(two_colour_image):
    result = palette_compliance(two_colour_image, [RED, NAVY])
    assert result.mean_delta_e == 0.0
    assert result.within_share == 1.0
    assert sorted(s.hex for s in result.swatches) == sorted([RED, NAVY])
    assert [s.share for s in result.swatches] == [0.5, 0.5]


def _uniform(lab: np.ndarray) -> Image.Image:
    rgb = np.clip(lab2rgb(lab.reshape(1, 1, 3)) * 255, 0, 255).round().astype(np.uint8)
    return Image.fromarray(np.broadcast_to(rgb, (96, 96, 3)).copy())


def test_the_distance_grows_as_the_colour_moves_away_from_the_palette():
    navy_lab = rgb2lab(np.array(PALETTE["navy"], dtype=float).reshape(1, 1, 3) / 255).ravel()
    offsets = [0.0, 4.0, 8.0, 16.0, 32.0]  # lightness steps, staying inside the sRGB gamut
    distances, within = [], []
    for offset in offsets:
        image = _uniform(navy_lab + np.array([offset, 0.0, 0.0]))
        result = palette_compliance(image, [RED, NAVY], delta_e_threshold=10)
        (swatch,) = result.swatches
        # The one dominant colour is the image's colour, measured with CIEDE2000.
        image_lab = rgb2lab(np.asarray(image, dtype=float)[:1, :1] / 255).ravel()
        assert swatch.delta_e == pytest.approx(
            float(deltaE_ciede2000(image_lab, navy_lab)), abs=1e-6
        )
        assert swatch.nearest == NAVY
        distances.append(result.mean_delta_e)
        within.append(result.within_share)
    assert distances[0] == pytest.approx(0.0, abs=0.5)  # uint8 rounding of navy itself
    assert all(a < b for a, b in itertools.pairwise(distances)), distances
    assert within[0] == 1.0 and within[-1] == 0.0


def test_shares_follow_the_pixels():
    pixels = np.zeros((100, 100, 3), dtype=np.uint8)
    pixels[:, :] = PALETTE["navy"]
    pixels[:25] = PALETTE["green"]  # a quarter off-brand
    result = palette_compliance(Image.fromarray(pixels), [RED, NAVY])
    shares = {s.hex: s.share for s in result.swatches}
    green = "#{:02X}{:02X}{:02X}".format(*PALETTE["green"])
    assert shares[green] == pytest.approx(0.25, abs=0.02)
    assert result.within_share == pytest.approx(0.75, abs=0.02)
    assert result.mean_delta_e > 10


def test_photographs_get_five_dominant_colours(photos):
    result = palette_compliance(photos["coffee"], [RED, NAVY])
    assert len(result.swatches) == 5
    assert sum(s.share for s in result.swatches) == pytest.approx(1.0)
    assert result.swatches[0].share >= result.swatches[-1].share


@pytest.mark.parametrize("colour", ["red", "#12345", "#GGHHII", "D72323", "", None])
def test_bad_hex_colours_are_refused(colour):
    with pytest.raises(ValueError, match="#RRGGBB"):
        parse_hex(colour)


# --- the kit --------------------------------------------------------------------------------------


def test_a_kit_refuses_inconsistent_parts():
    with pytest.raises(ValueError, match="#RRGGBB"):
        BrandKit(palette=("#D72323", "navy"))
    with pytest.raises(ValueError, match="mismatched dimensions"):
        BrandKit(reference_embeddings=([0.1, 0.2], [0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="both on-brand and off-brand"):
        BrandKit(on_brand=("red",))


def test_references_of_another_model_are_refused(demo_clip, two_colour_image):
    kit = BrandKit(reference_embeddings=([0.1] * 512,))
    with pytest.raises(ValueError, match="512 dimensions but this CLIP model's have 96"):
        check_brand([two_colour_image], kit=kit, clip=demo_clip)


def test_a_kit_that_needs_clip_is_refused_without_it(kit, two_colour_image):
    with pytest.raises(ValueError, match="give a CLIP model"):
        check_brand([two_colour_image], kit=kit)


def test_missing_parts_are_left_out_and_the_weights_renormalised(two_colour_image):
    (result,) = check_brand([two_colour_image], kit=BrandKit(palette=(RED, NAVY)))
    (part,) = result.parts
    assert part.name == "palette" and part.weight == 1.0
    assert result.score == part.value == 1.0
    assert result.verdict == "pass"


def test_every_part_is_reported_with_value_and_threshold(kit, demo_clip, brand_references):
    (result,) = check_brand(
        brand_references[:1], kit=kit, clip=demo_clip, prompt="a red star on a navy background"
    )
    parts = result.to_dict()["parts"]
    assert set(parts) == {"reference", "descriptors", "palette", "alignment"}
    assert sum(p["weight"] for p in parts.values()) == pytest.approx(1.0)
    assert parts["reference"]["nearest_index"] == 0  # it is reference 0 itself
    assert parts["reference"]["cosine_to_nearest"] == pytest.approx(1.0, abs=1e-4)
    assert all("threshold" in p and "value" in p for p in parts.values())


def test_the_verdict_flags_a_score_below_the_threshold(kit, demo_clip):
    (off,) = rendered("held_out", 8, 1, lambda s: not is_on_brand(s) and s.colour != "red")
    (result,) = check_brand([off], kit=kit, clip=demo_clip)
    assert result.verdict == "flag"
    assert result.reasons[0].startswith("brand score 0.")
    lenient = BrandThresholds(reference=-1, descriptors=0, palette=0, alignment=-1, score=0)
    (result,) = check_brand([off], kit=kit, clip=demo_clip, thresholds=lenient)
    assert result.verdict == "pass" and result.reasons == ()


# --- does the score tell on-brand from off-brand? -------------------------------------------------


def test_brand_score_separates_rendered_held_out_scenes(kit, demo_clip):
    """Held-out combinations (red star / ring on navy were never trained on) against scenes of
    any other colours, rendered; references are training-split scenes."""
    on = rendered("held_out", 7, 20, is_on_brand)
    off = rendered("held_out", 8, 20, lambda s: not is_on_brand(s))
    results = check_brand(on + off, kit=kit, clip=demo_clip)
    scores = [r.score for r in results]
    assert auc(scores[:20], scores[20:]) >= 0.9


@pytest.fixture(scope="module")
def generated():
    """20 images drawn by the demo pipeline from on-brand prompts, 20 from off-brand ones."""
    from generation.demo.training import DEMO_PIPELINE_DIR, RECOMMENDED_GUIDANCE
    from generation.engine.pipelines import GenerationParams, clear_model_cache, generate

    jobs = {
        "on": [f"a red {shape} on a navy background" for shape in ("circle", "square")]
        + [f"a red {shape} on a navy background" for shape in ("star", "ring")],
        "off": [
            "a green circle on a yellow background",
            "a blue square on a white background",
            "a yellow star on a pink background",
            "a red triangle on a white background",  # right shape colour, wrong background
        ],
    }
    out = {"on": [], "off": []}
    # One torch thread: on a shared 2-core machine a second OpenMP thread waiting for a busy
    # core makes this tiny model 10 to 20 times slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for side, prompts in jobs.items():
            for seed, prompt in enumerate(prompts):
                params = GenerationParams(
                    prompt=prompt,
                    negative_prompt="",
                    width=64,
                    height=64,
                    steps=20,
                    guidance_scale=RECOMMENDED_GUIDANCE,
                    seed=100 + seed,
                    num_images=5,
                )
                images = generate(model_path=DEMO_PIPELINE_DIR, params=params)
                out[side] += [(prompt, image) for image in images]
    finally:
        clear_model_cache()
        torch.set_num_threads(threads)
    return out


def test_brand_score_separates_generated_images(kit, demo_clip, generated):
    """Each job is checked with its own prompt, as a worker would."""
    scores = {}
    for side, items in generated.items():
        scores[side] = [
            check_brand([image], kit=kit, clip=demo_clip, prompt=prompt)[0].score
            for prompt, image in items
        ]
    assert len(scores["on"]) == len(scores["off"]) == 20
    assert auc(scores["on"], scores["off"]) >= 0.9, scores
