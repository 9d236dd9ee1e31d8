"""The procedural dataset and the pixel-statistics ruler that scores the demo models."""

from __future__ import annotations

from itertools import islice

import numpy as np
import pytest
from PIL import Image

from generation.demo.dataset import (
    COLOURS,
    HELD_OUT_SHARE,
    PALETTE,
    SHAPES,
    Scene,
    all_combinations,
    caption,
    caption_variants,
    held_out_combinations,
    nearest_colour,
    render,
    scenes,
    shape_mask,
    training_combinations,
)
from generation.demo.measure import read_scene


def test_palette_and_shapes_cover_what_the_pack_promises():
    assert len(COLOURS) >= 8
    assert {"circle", "square", "triangle", "star", "ring"} <= set(SHAPES)
    # Every named colour is its own nearest name, and no two are close.
    for name, rgb in PALETTE.items():
        assert nearest_colour(rgb) == name
    table = np.array(list(PALETTE.values()), dtype=float)
    distances = np.linalg.norm(table[:, None] - table[None], axis=-1)
    assert distances[~np.eye(len(table), dtype=bool)].min() > 70


def test_held_out_split_is_fixed_disjoint_and_made_of_known_parts():
    held = held_out_combinations()
    train = training_combinations()
    assert len(held) == round(len(all_combinations()) * HELD_OUT_SHARE)
    assert held.isdisjoint(train)
    assert len(held) + len(train) == len(all_combinations())
    # Composition of seen parts: every pair inside a held-out triple is seen in training.
    for shape, colour, background in held:
        assert any(s == shape and c == colour for s, c, _ in train)
        assert any(c == colour and b == background for _, c, b in train)
        assert any(s == shape and b == background for s, _, b in train)


def test_streams_are_deterministic_balanced_and_respect_the_split():
    first = list(islice(scenes("train", 7), 700))
    assert first == list(islice(scenes("train", 7), 700))
    assert first != list(islice(scenes("train", 8), 700))
    held = held_out_combinations()
    assert not any(scene.combination in held for scene in first)
    # One full round visits every training combination exactly once.
    round_one = [scene.combination for scene in first[: len(training_combinations())]]
    assert sorted(round_one) == sorted(training_combinations())
    assert all(s.combination in held for s in islice(scenes("held_out", 7), 200))
    with pytest.raises(ValueError, match="split"):
        next(scenes("test", 0))


def test_rendering_is_a_pure_function_of_the_scene():
    scene = Scene("star", "red", "navy", "gradient", cx=0.4, cy=0.6, size=0.5, angle=45)
    image = render(scene)
    assert image.size == (64, 64) and image.mode == "RGB"
    assert np.array_equal(np.asarray(image), np.asarray(render(scene)))
    assert render(scene, 128).size == (128, 128)
    assert scene.caption == "a red star on a navy gradient background"
    assert caption("ring", "pink", "black") == "a pink ring on a black background"
    assert "a red star" in caption_variants(scene)


def test_bad_scenes_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="unknown shape 'hexagon'"):
        Scene("hexagon", "red", "navy")
    with pytest.raises(ValueError, match="unknown colour 'mauve'"):
        Scene("star", "mauve", "navy")
    with pytest.raises(ValueError, match="must differ"):
        Scene("star", "red", "red")


def test_the_ruler_reads_every_rendered_scene_back_exactly():
    items = list(islice(scenes("held_out", 3), 300))
    for scene in items:
        reading = read_scene(render(scene))
        assert (reading.shape, reading.colour, reading.background) == scene.combination, scene
        assert reading.iou > 0.8


def test_the_ruler_can_fail():
    """A blank image has no shape; a wrong drawing reads as what it is, not what was asked."""
    blank = Image.new("RGB", (64, 64), PALETTE["navy"])
    assert read_scene(blank).shape is None and read_scene(blank).background == "navy"
    square = render(Scene("square", "yellow", "green"))
    assert read_scene(square).shape == "square" and read_scene(square).colour == "yellow"
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8))
    assert read_scene(noise).shape is None  # foreground everywhere is no shape


def test_shape_templates_fill_their_box():
    mask = shape_mask("square", (10, 20, 30, 40), 64)
    assert mask.sum() == 400 and mask[20:40, 10:30].all()
    ring = shape_mask("ring", (0, 0, 64, 64), 64)
    assert not ring[32, 32] and ring[32, 2]
