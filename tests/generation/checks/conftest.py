"""Real models and real pictures for the output checks: NudeNet's own weights, the demo CLIP,
photographs from scikit-image, images rendered by the demo dataset and drawn by the demo
pipeline."""

from __future__ import annotations

from itertools import islice

import numpy as np
import pytest
from PIL import Image
from skimage import data

from generation.demo.dataset import PALETTE, render, scenes
from generation.demo.training import CLIP_ARCHITECTURE, CLIP_CHECKPOINT, CLIP_CONFIG_FILE
from generation.engine.clip import load_clip

RED = "#{:02X}{:02X}{:02X}".format(*PALETTE["red"])
NAVY = "#{:02X}{:02X}{:02X}".format(*PALETTE["navy"])


def auc(positives: list[float], negatives: list[float]) -> float:
    """ROC AUC by the Mann-Whitney rank formula: the chance that a random positive scores
    above a random negative (ties count half)."""
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def is_on_brand(scene) -> bool:
    return scene.colour == "red" and scene.background == "navy"


def rendered(split: str, seed: int, count: int, keep) -> list[Image.Image]:
    return [render(s) for s in islice((s for s in scenes(split, seed) if keep(s)), count)]


@pytest.fixture(scope="session")
def photos() -> dict[str, Image.Image]:
    return {
        name: Image.fromarray(getattr(data, name)())
        for name in ("astronaut", "coffee", "chelsea", "rocket")
    }


@pytest.fixture(scope="session")
def demo_clip():
    return load_clip(CLIP_ARCHITECTURE, CLIP_CHECKPOINT, config_file=CLIP_CONFIG_FILE)


@pytest.fixture(scope="session")
def brand_references() -> list[Image.Image]:
    """The "red shapes on navy" kit's reference images: training-split scenes."""
    return rendered("train", 1, 12, is_on_brand)


@pytest.fixture
def two_colour_image() -> Image.Image:
    """Left half brand red, right half brand navy (128 px, so the thumbnail keeps both)."""
    pixels = np.zeros((128, 128, 3), dtype=np.uint8)
    pixels[:, :64] = PALETTE["red"]
    pixels[:, 64:] = PALETTE["navy"]
    return Image.fromarray(pixels)
