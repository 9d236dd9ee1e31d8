"""Read a demo scene back out of an image by pixel statistics alone, with no learned model.

Why: the demo models are judged by what they draw, and a judge that is itself a model would
share its blind spots. The background is the palette colour nearest the border; the shape is
whatever differs from a smooth background fitted to the border; its colour is the palette colour
nearest its interior; its kind is the template (drawn by the dataset's own geometry) with the
best IoU inside the shape's bounding box.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from generation.demo.dataset import SHAPES, nearest_colour, shape_mask

#: Border width in pixels, per 64 pixels of image side, taken as background.
BORDER = 3
#: RGB distance from the fitted background above which a pixel is foreground. The closest two
#: palette colours are about 78 apart.
FOREGROUND_DISTANCE = 45.0
#: A foreground smaller than this share of the image is no shape at all; one larger than
#: MAX_AREA is no shape of the dataset either (the largest, a square, covers under 40 %).
MIN_AREA, MAX_AREA = 0.02, 0.5


@dataclass(frozen=True)
class Reading:
    shape: str | None
    colour: str | None
    background: str
    iou: float


def _border_mask(side: int) -> np.ndarray:
    width = max(1, round(BORDER * side / 64))
    mask = np.zeros((side, side), dtype=bool)
    mask[:width], mask[-width:], mask[:, :width], mask[:, -width:] = True, True, True, True
    return mask


def _fitted_background(pixels: np.ndarray, border: np.ndarray) -> np.ndarray:
    """A plane a + b·x + c·y per channel, least-squares fitted to the border pixels."""
    side = pixels.shape[0]
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float64) / side
    design = np.stack([np.ones_like(xs), xs, ys], axis=-1)
    coef, *_ = np.linalg.lstsq(design[border], pixels[border], rcond=None)
    return design @ coef


def read_scene(image) -> Reading:
    """Measure one square RGB image (a PIL image or an HxWx3 array)."""
    pixels = np.asarray(image, dtype=np.float64)[..., :3]
    side = pixels.shape[0]
    if pixels.shape[1] != side:
        raise ValueError(f"expected a square image, got {pixels.shape[1]}x{side}")
    border = _border_mask(side)
    background = nearest_colour(np.median(pixels[border], axis=0))
    distance = np.linalg.norm(pixels - _fitted_background(pixels, border), axis=-1)
    labels, count = ndimage.label(distance > FOREGROUND_DISTANCE)
    if count == 0:
        return Reading(None, None, background, 0.0)
    sizes = ndimage.sum_labels(np.ones_like(labels), labels, index=range(1, count + 1))
    # The largest component, plus any component inside its box (a ring's hole splits nothing, but
    # noise can split a thin star point off).
    largest = labels == 1 + int(np.argmax(sizes))
    if not MIN_AREA * side * side <= largest.sum() <= MAX_AREA * side * side:
        return Reading(None, None, background, 0.0)
    rows, cols = np.nonzero(largest)
    box = (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
    inside = np.zeros_like(largest)
    inside[box[1] : box[3], box[0] : box[2]] = True
    mask = (labels > 0) & inside
    core = ndimage.binary_erosion(mask) if ndimage.binary_erosion(mask).sum() >= 4 else mask
    colour = nearest_colour(np.median(pixels[core], axis=0))
    best, best_iou = None, -1.0
    for shape in SHAPES:
        template = shape_mask(shape, box, side)
        union = (template | mask).sum()
        iou = float((template & mask).sum() / union) if union else 0.0
        if iou > best_iou:
            best, best_iou = shape, iou
    return Reading(best, colour, background, best_iou)
