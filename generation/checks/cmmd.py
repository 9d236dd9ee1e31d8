"""CMMD: how far one set of images is from another, as CLIP sees them.

Why: a style is judged as a set ("do its images look like the brand's references?"), not one
image at a time. FID needs thousands of images and assumes Gaussian features; CMMD
(Jayasumana et al. 2024, "Rethinking FID: Towards a Better Evaluation Metric for Image
Generation") is the maximum mean discrepancy between the two sets' CLIP embeddings under a
Gaussian RBF kernel, whose unbiased estimate is sound with a few dozen images and has no
distributional assumption. It is 0 for sets drawn from one distribution and grows as they part.

Conventions, as the paper's: embeddings L2-normalised, ``k(a, b) = exp(-|a - b|² / (2 sigma²))``
with sigma = 10, and the result multiplied by 1000 to be readable. The estimator here is the
unbiased MMD² (the kernel's diagonal left out of the within-set means), so two small samples of
one distribution give values around 0, slightly negative as often as positive.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["CMMD_SCALE", "CMMD_SIGMA", "cmmd", "cmmd_images"]

#: The paper's kernel bandwidth and reporting scale.
CMMD_SIGMA = 10.0
CMMD_SCALE = 1000.0


def _normalised(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of embeddings (one row each), got {x.shape}")
    if len(x) < 2:
        raise ValueError(f"{name} needs at least 2 embeddings for an unbiased CMMD, got {len(x)}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} holds values that are not finite")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError(f"{name} holds an all-zero embedding, which has no direction")
    return x / norms


def _kernel(a: np.ndarray, b: np.ndarray, sigma: float) -> np.ndarray:
    distances = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.exp(-np.maximum(distances, 0.0) / (2.0 * sigma * sigma))


def cmmd(
    x: np.ndarray,
    y: np.ndarray,
    *,
    sigma: float = CMMD_SIGMA,
    scale: float = CMMD_SCALE,
    normalize: bool = True,
) -> float:
    """Unbiased MMD² between embedding sets ``x`` (n by d) and ``y`` (m by d), times ``scale``.

    Rows are L2-normalised first (``normalize=False`` uses them as given). Symmetric in ``x``
    and ``y``. Raises ValueError for fewer than two rows in a set, different widths, or
    non-finite values.
    """
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    if normalize:
        x, y = _normalised(x, "x"), _normalised(y, "y")
    else:
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        if x.ndim != 2 or y.ndim != 2 or len(x) < 2 or len(y) < 2:
            raise ValueError("x and y must be 2-D arrays with at least 2 rows each")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same width, got {x.shape[1]} and {y.shape[1]}")
    n, m = len(x), len(y)
    k_xx = _kernel(x, x, sigma)
    k_yy = _kernel(y, y, sigma)
    k_xy = _kernel(x, y, sigma)
    within_x = (k_xx.sum() - np.trace(k_xx)) / (n * (n - 1))
    within_y = (k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    between = k_xy.mean()
    return float(scale * (within_x + within_y - 2.0 * between))


def cmmd_images(clip: Any, images: Sequence[Any], references: Sequence[Any], **options) -> float:
    """CMMD between two sets of PIL images, embedded with a loaded ``ClipModel``."""
    from generation.checks.embeddings import encode_images

    x = encode_images(clip, list(images)).numpy()
    y = encode_images(clip, list(references)).numpy()
    return cmmd(x, y, **options)
