"""CMMD: the unbiased kernel estimate, checked by hand and on the demo CLIP model's embeddings."""

from __future__ import annotations

import math
from itertools import islice

import numpy as np
import pytest

from generation.checks.cmmd import cmmd, cmmd_images
from generation.demo.brand_style import brand_scenes, render_outlined
from generation.demo.dataset import render


def test_a_small_case_computed_by_hand():
    x = np.array([[1.0, 0.0], [0.0, 1.0]])
    y = np.array([[1.0, 0.0], [-1.0, 0.0]])
    # sigma = 1: k = exp(-d²/2). Within x: d² = 2 -> e^-1; within y: d² = 4 -> e^-2; between:
    # d² = 0, 4, 2, 2 -> (1 + e^-2 + 2 e^-1) / 4. MMD² = e^-1 + e^-2 - 2 * that.
    expected = math.exp(-1) + math.exp(-2) - (1 + math.exp(-2) + 2 * math.exp(-1)) / 2
    assert cmmd(x, y, sigma=1.0, scale=1.0, normalize=False) == pytest.approx(expected)
    assert cmmd(x, y, sigma=1.0, scale=1000.0) == pytest.approx(1000 * expected)


def test_same_distribution_near_zero_shifted_larger_and_symmetric():
    rng = np.random.default_rng(0)
    centre = rng.normal(size=32)
    x = centre + 0.3 * rng.normal(size=(200, 32))
    y = centre + 0.3 * rng.normal(size=(200, 32))
    z = centre + 0.5 * rng.normal(size=32) + 0.3 * rng.normal(size=(200, 32))
    same, shifted = cmmd(x, y), cmmd(x, z)
    assert abs(same) < 0.05 * shifted
    assert shifted > 0
    assert cmmd(z, x) == pytest.approx(shifted)
    assert cmmd(x, x[::-1]) == pytest.approx(cmmd(x, x))
    # Identical sets: unbiased, so slightly negative rather than exactly zero.
    assert -0.05 * shifted < cmmd(x, x) <= 0


def test_refuses_what_it_cannot_estimate():
    with pytest.raises(ValueError, match="at least 2"):
        cmmd(np.ones((1, 4)), np.ones((3, 4)))
    with pytest.raises(ValueError, match="same width"):
        cmmd(np.eye(3), np.eye(4))
    with pytest.raises(ValueError, match="all-zero"):
        cmmd(np.zeros((2, 3)), np.eye(3))


def test_demo_clip_sees_the_white_outline(demo_clip):
    scenes = list(islice(brand_scenes(11), 48))
    outlined = [render_outlined(s) for s in scenes[:24]]
    more_outlined = [render_outlined(s) for s in scenes[24:]]
    plain = [render(s) for s in scenes[24:]]
    assert cmmd_images(demo_clip, plain, outlined) > 2 * cmmd_images(
        demo_clip, more_outlined, outlined
    )
