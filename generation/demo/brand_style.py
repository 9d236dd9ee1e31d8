"""The demo brand's style: the dataset's shapes drawn with a thick white outline, and its ruler.

Why: a style model is shown to work only by a trait the base model never draws. The demo
pack's model was trained on flat shapes without outlines (``dataset.py``), so an outline is
such a trait, and it can be read back by pixel statistics alone, as ``measure.py`` reads
scenes: the shape (outline included) is what differs from a smooth background fitted to the
border; the trait is there when the outer band of that shape is white and its core is not.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from generation.demo.dataset import (
    PALETTE,
    SUPERSAMPLE,
    Scene,
    _background,
    _draw_shape,
    nearest_colour,
    random_scene,
    training_combinations,
)
from generation.demo.measure import FOREGROUND_DISTANCE, _border_mask, _fitted_background

#: The outline's colour (the palette's white) and width in pixels per 64 pixels of image side.
OUTLINE = "white"
#: Six pixels: the demo VAE (16x16 latents, trained on flat shapes) blurs thinner lines away.
OUTLINE_WIDTH = 6.0
#: A pixel is outline-white when all its channels are at least this bright (the palette's other
#: colours all have a channel of 145 or less; the VAE tints white a little).
WHITE_MIN = 175
#: Outer band of the shape, in pixels per 64, whose share of white pixels is measured: as wide
#: as the outline, whose edges the VAE blurs.
BAND = OUTLINE_WIDTH
#: The core is where the depth inside the shape is at least this share of its deepest point.
CORE_DEPTH = 0.6
#: Shares of white needed in the band, and allowed in the core, for the trait to be present.
BAND_WHITE, CORE_WHITE = 0.3, 0.5
#: Smallest and largest shape (outline included), as a share of the image.
MIN_AREA, MAX_AREA = 0.02, 0.6


#: The brand's shapes: not the ring, whose hole a thick outline fills.
SHAPES = ("circle", "square", "triangle", "star")


def brand_scenes(seed: int) -> Iterator[Scene]:
    """Scenes of the brand's shapes from the training combinations with neither a white shape
    nor a white background (a white outline would not show against white)."""
    pool = _brand_pool()
    # bandit: seeded randomness of procedural demo data, not a secret.
    rng = random.Random(seed)  # nosec B311
    while True:
        order = pool[:]
        rng.shuffle(order)
        for combination in order:
            yield _brand_scene(rng, combination)


def _brand_pool() -> list[tuple[str, str, str]]:
    """The training combinations of the brand's shapes with no white shape or background."""
    return [c for c in training_combinations() if OUTLINE not in (c[1], c[2]) and c[0] in SHAPES]


def _brand_scene(rng: random.Random, combination: tuple[str, str, str]) -> Scene:
    scene = random_scene(rng, combination)
    # Shrunk by the outline, so that shape and outline fill the dataset's box.
    return replace(scene, size=scene.size - 2 * OUTLINE_WIDTH / 64)


def brand_kit(seed: int, count: int) -> list[Scene]:
    """``count`` scenes of the brand as a brand would pick its kit: every shape colour of the
    palette and every shape, as evenly as ``count`` allows (``brand_scenes`` draws at random,
    and 12 random scenes leave colours out: a style then learns its trait on some colours
    only). Colours are taken in turns, each with the shape used least so far."""
    pool = _brand_pool()
    # bandit: seeded randomness of procedural demo data, not a secret.
    rng = random.Random(seed)  # nosec B311
    colours = sorted({colour for _, colour, _ in pool})
    rng.shuffle(colours)
    used = dict.fromkeys(SHAPES, 0)
    kit: list[Scene] = []
    while len(kit) < count:
        colour = colours[len(kit) % len(colours)]
        choices = [c for c in pool if c[1] == colour]
        fewest = min(used[shape] for shape, _, _ in choices)
        combination = rng.choice([c for c in choices if used[c[0]] == fewest])
        used[combination[0]] += 1
        kit.append(_brand_scene(rng, combination))
    return kit


def render_outlined(scene: Scene, size: int = 64) -> Image.Image:
    """Draw ``scene`` as ``dataset.render`` does, with a white outline around the shape."""
    side = size * SUPERSAMPLE
    background = Image.fromarray(_background(scene, side).round().astype(np.uint8), "RGB")
    mask = Image.new("L", (side, side), 0)
    half = scene.size * side / 2
    cx, cy = scene.cx * side, scene.cy * side
    _draw_shape(
        ImageDraw.Draw(mask), scene.shape, (cx - half, cy - half, cx + half, cy + half), 255
    )
    inside = np.asarray(mask) >= 128
    reach = OUTLINE_WIDTH * size / 64 * SUPERSAMPLE
    outline = ndimage.distance_transform_edt(~inside) <= reach
    canvas = np.asarray(background).copy()
    canvas[outline] = PALETTE[OUTLINE]
    canvas[inside] = PALETTE[scene.colour]
    return Image.fromarray(canvas, "RGB").resize((size, size), Image.Resampling.BOX)


@dataclass(frozen=True)
class OutlineReading:
    present: bool
    #: Share of white pixels in the shape's outer band, and in its core.
    band_white: float
    core_white: float
    #: The palette colour nearest to the core's median (None: no shape found): whether a style
    #: keeps the colour asked for, which the outline alone does not say.
    core_colour: str | None = None


def read_outline(image) -> OutlineReading:
    """Whether one square RGB image (PIL or HxWx3 array) shows a shape with a white outline."""
    pixels = np.asarray(image, dtype=np.float64)[..., :3]
    side = pixels.shape[0]
    if pixels.shape[1] != side:
        raise ValueError(f"expected a square image, got {pixels.shape[1]}x{side}")
    border = _border_mask(side)
    distance = np.linalg.norm(pixels - _fitted_background(pixels, border), axis=-1)
    labels, count = ndimage.label(distance > FOREGROUND_DISTANCE)
    if count == 0:
        return OutlineReading(False, 0.0, 0.0)
    sizes = ndimage.sum_labels(np.ones_like(labels), labels, index=range(1, count + 1))
    shape = ndimage.binary_fill_holes(labels == 1 + int(np.argmax(sizes)))
    if not MIN_AREA * side * side <= shape.sum() <= MAX_AREA * side * side:
        return OutlineReading(False, 0.0, 0.0)
    depth = ndimage.distance_transform_edt(shape)  # pixels to the shape's edge
    band = shape & (depth <= max(1, round(BAND * side / 64)))
    # The innermost part, whatever the shape's size: the shape itself when outlined.
    core = depth >= max(1.0, CORE_DEPTH * depth.max())
    white = pixels.min(axis=-1) >= WHITE_MIN
    band_white = float(white[band].mean()) if band.any() else 0.0
    core_white = float(white[core].mean()) if core.any() else 1.0
    present = band_white >= BAND_WHITE and core_white < CORE_WHITE
    # As read_scene reads a shape's colour: the median, which a small core's blurred edge does
    # not pull off (the mean of a black star on pink is nearer navy).
    colour = nearest_colour(np.median(pixels[core], axis=0)) if core.any() else None
    return OutlineReading(present, band_white, core_white, colour)
