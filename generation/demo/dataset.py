"""A procedural dataset of simple scenes: a named shape in a named colour on a named background.

Why: no model hub can be reached and no package ships real text-to-image or CLIP weights, so the
demo models are trained here on images we can draw ourselves. Everything is a pure function of a
seed. A fixed share of (shape, colour, background) combinations is held out of training, so an
evaluation can ask for scenes the models have never seen.

The geometry here is also the ruler: ``shape_mask`` draws a shape into any box, and the demo
model evaluation scores generated images against those same templates by IoU.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image, ImageDraw

#: Named colours, chosen to be far apart in RGB so the nearest name of a pixel is unambiguous.
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (215, 35, 35),
    "orange": (245, 140, 20),
    "yellow": (245, 215, 40),
    "green": (40, 160, 70),
    "blue": (45, 110, 235),
    "navy": (25, 35, 100),
    "purple": (140, 60, 190),
    "pink": (245, 145, 195),
    "white": (245, 245, 240),
    "black": (20, 20, 20),
}
COLOURS: tuple[str, ...] = tuple(PALETTE)
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "ring")
BACKGROUND_STYLES: tuple[str, ...] = ("plain", "gradient")

#: Share of (shape, colour, background) combinations never shown in training.
HELD_OUT_SHARE = 0.25
#: The split is fixed for the project, whatever seed draws the images.
SPLIT_SEED = 20261126
#: Shapes keep this fraction of the image side away from every edge, so the border is background.
MARGIN = 0.08
#: Shape box side as a fraction of the image side.
MIN_SIZE, MAX_SIZE = 0.38, 0.62
#: A gradient darkens (or, for dark colours, lightens) the colour this far across the image.
GRADIENT_DEPTH = 0.3
#: Drawing happens at this multiple of the output size, then is box-filtered down (anti-aliasing).
SUPERSAMPLE = 4


@dataclass(frozen=True)
class Scene:
    """One image's content. Box coordinates are fractions of the image side."""

    shape: str
    colour: str
    background: str
    style: str = "plain"
    #: Centre and side of the square box the shape fills.
    cx: float = 0.5
    cy: float = 0.5
    size: float = 0.5
    #: Gradient direction in degrees (ignored for a plain background).
    angle: float = 90.0

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"unknown shape {self.shape!r}; choose from {', '.join(SHAPES)}")
        for name in (self.colour, self.background):
            if name not in PALETTE:
                raise ValueError(f"unknown colour {name!r}; choose from {', '.join(COLOURS)}")
        if self.colour == self.background:
            raise ValueError("the shape and the background must differ in colour")
        if self.style not in BACKGROUND_STYLES:
            raise ValueError(f"unknown background style {self.style!r}")

    @property
    def caption(self) -> str:
        return caption(self.shape, self.colour, self.background, self.style)

    @property
    def combination(self) -> tuple[str, str, str]:
        return (self.shape, self.colour, self.background)


def caption(shape: str, colour: str, background: str, style: str = "plain") -> str:
    """The canonical caption, e.g. "a red star on a navy background"."""
    kind = "gradient background" if style == "gradient" else "background"
    return f"a {colour} {shape} on a {background} {kind}"


def caption_variants(scene: Scene) -> list[str]:
    """Captions that are all true of ``scene``; training draws among them so that partial
    prompts ("a red star", "a star") and zero-shot templates ("a red shape") mean something."""
    bg = "gradient background" if scene.style == "gradient" else "background"
    return [
        scene.caption,
        scene.caption,
        f"a {scene.colour} {scene.shape}",
        f"a {scene.colour} shape on a {scene.background} {bg}",
        f"a {scene.shape} on a {scene.background} {bg}",
        f"a {scene.colour} shape",
        f"a {scene.shape}",
    ]


# --- the split ---------------------------------------------------------------------------------


def all_combinations() -> list[tuple[str, str, str]]:
    return [(s, c, b) for s in SHAPES for c in COLOURS for b in COLOURS if c != b]


@cache
def held_out_combinations() -> frozenset[tuple[str, str, str]]:
    """The (shape, colour, background) triples training never sees.

    Drawn once from ``SPLIT_SEED``; redrawn until every pair of the three (shape and colour,
    colour and background, shape and background) still appears in training, so held-out
    prompts test composition of known parts, not unknown words.
    """
    combos = all_combinations()
    # bandit: seeded randomness of procedural demo data, not a secret.
    rng = random.Random(SPLIT_SEED)  # nosec B311
    count = round(len(combos) * HELD_OUT_SHARE)
    while True:
        held = frozenset(rng.sample(combos, count))
        train = [c for c in combos if c not in held]
        pairs = [{(s, c) for s, c, _ in train}, {(c, b) for _, c, b in train}]
        pairs.append({(s, b) for s, _, b in train})
        needed = [
            {(s, c) for s, c, _ in combos},
            {(c, b) for _, c, b in combos},
            {(s, b) for s, _, b in combos},
        ]
        if pairs == needed:
            return held


def training_combinations() -> list[tuple[str, str, str]]:
    held = held_out_combinations()
    return [c for c in all_combinations() if c not in held]


def is_held_out(shape: str, colour: str, background: str) -> bool:
    return (shape, colour, background) in held_out_combinations()


def random_scene(rng: random.Random, combination: tuple[str, str, str]) -> Scene:
    """A scene of ``combination`` with a random style, position, size and gradient angle."""
    size = rng.uniform(MIN_SIZE, MAX_SIZE)
    low, high = MARGIN + size / 2, 1 - MARGIN - size / 2
    shape, colour, background = combination
    return Scene(
        shape=shape,
        colour=colour,
        background=background,
        style=rng.choice(BACKGROUND_STYLES),
        cx=rng.uniform(low, high),
        cy=rng.uniform(low, high),
        size=size,
        angle=rng.choice((0.0, 45.0, 90.0, 135.0, 180.0, 225.0, 270.0, 315.0)),
    )


def scenes(split: str, seed: int) -> Iterator[Scene]:
    """An endless, deterministic stream of scenes from ``split`` ("train" or "held_out").

    Combinations are visited in shuffled rounds, so every one appears equally often: colours and
    backgrounds stay balanced however long the stream is read.
    """
    if split == "train":
        pool = training_combinations()
    elif split == "held_out":
        pool = sorted(held_out_combinations())
    else:
        raise ValueError(f"split must be 'train' or 'held_out', got {split!r}")
    # bandit: seeded randomness of procedural demo data, not a secret.
    rng = random.Random(seed)  # nosec B311
    while True:
        order = pool[:]
        rng.shuffle(order)
        for combination in order:
            yield random_scene(rng, combination)


# --- drawing -----------------------------------------------------------------------------------


def _star_points(n: int = 5, inner: float = 0.45) -> list[tuple[float, float]]:
    points = []
    for i in range(2 * n):
        radius = 1.0 if i % 2 == 0 else inner
        theta = -math.pi / 2 + i * math.pi / n
        points.append((radius * math.cos(theta), radius * math.sin(theta)))
    return points


def _normalised(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Scale a polygon so its bounding box is exactly the unit square."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, y0, w, h = min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)
    return [((x - x0) / w, (y - y0) / h) for x, y in points]


_POLYGONS = {
    "square": [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)],
    "triangle": [(0.5, 0.0), (1.0, 1.0), (0.0, 1.0)],
    "star": _normalised(_star_points()),
}
#: The ring's hole, as a fraction of its outer diameter.
RING_HOLE = 0.5


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, box: tuple[float, ...], fill) -> None:
    """Draw ``shape`` filling ``box`` = (left, top, right, bottom) in pixels."""
    left, top, right, bottom = box
    if shape in _POLYGONS:
        w, h = right - left, bottom - top
        draw.polygon([(left + x * w, top + y * h) for x, y in _POLYGONS[shape]], fill=fill)
    elif shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "ring":
        draw.ellipse(box, fill=fill)
        cx, cy = (left + right) / 2, (top + bottom) / 2
        rx, ry = (right - left) * RING_HOLE / 2, (bottom - top) * RING_HOLE / 2
        draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=0)  # masks only: the hole is off
    else:
        raise ValueError(f"unknown shape {shape!r}")


def shape_mask(shape: str, box: tuple[float, float, float, float], size: int) -> np.ndarray:
    """A boolean ``size``x``size`` mask of ``shape`` filling ``box`` (pixels, right/bottom
    exclusive), drawn with the same geometry as the dataset (the evaluation's templates)."""
    scale = SUPERSAMPLE
    canvas = Image.new("L", (size * scale, size * scale), 0)
    left, top, right, bottom = (v * scale for v in box)
    _draw_shape(ImageDraw.Draw(canvas), shape, (left, top, right - 1, bottom - 1), 255)
    small = canvas.resize((size, size), Image.Resampling.BOX)
    return np.asarray(small) >= 128


def _background(scene: Scene, side: int) -> np.ndarray:
    base = np.array(PALETTE[scene.background], dtype=np.float32)
    if scene.style == "plain":
        return np.broadcast_to(base, (side, side, 3)).copy()
    # Dark colours lighten towards white, light ones darken towards black, so the gradient stays
    # nearest to its own name.
    dark = base.mean() < 90
    target = np.full(3, 255.0 if dark else 0.0, dtype=np.float32)
    depth = GRADIENT_DEPTH / 2 if dark else GRADIENT_DEPTH  # lightened black must not read navy
    theta = math.radians(scene.angle)
    coords = (np.arange(side, dtype=np.float32) + 0.5) / side - 0.5
    xs, ys = np.meshgrid(coords, coords)
    ramp = (xs * math.cos(theta) + ys * math.sin(theta)) / math.sqrt(0.5) * 0.5 + 0.5
    amount = np.clip(ramp, 0, 1)[..., None] * depth
    return base * (1 - amount) + target * amount


def render(scene: Scene, size: int = 64) -> Image.Image:
    """Draw ``scene`` as a ``size``x``size`` RGB image."""
    side = size * SUPERSAMPLE
    background = Image.fromarray(_background(scene, side).round().astype(np.uint8), "RGB")
    mask = Image.new("L", (side, side), 0)
    half = scene.size * side / 2
    cx, cy = scene.cx * side, scene.cy * side
    _draw_shape(
        ImageDraw.Draw(mask), scene.shape, (cx - half, cy - half, cx + half, cy + half), 255
    )
    foreground = Image.new("RGB", (side, side), PALETTE[scene.colour])
    background.paste(foreground, (0, 0), mask)
    return background.resize((size, size), Image.Resampling.BOX)


def render_batch(items: list[Scene], size: int = 64) -> np.ndarray:
    """Draw scenes into a uint8 array of shape (N, size, size, 3)."""
    return np.stack([np.asarray(render(scene, size)) for scene in items])


def nearest_colour(rgb) -> str:
    """The palette name nearest to an RGB triple (Euclidean distance in RGB)."""
    rgb = np.asarray(rgb, dtype=np.float32)
    names = list(PALETTE)
    table = np.array([PALETTE[n] for n in names], dtype=np.float32)
    return names[int(np.argmin(((table - rgb) ** 2).sum(axis=1)))]
