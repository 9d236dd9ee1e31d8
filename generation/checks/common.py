"""Verdicts and input handling shared by every check.

Why: each check (NudeNet, CLIP concepts, brand fit) decides on its own, and the runner folds
their decisions into one per image. They must speak the same three words and accept images the
same way, so that a reviewer reads one vocabulary and a caller gets one kind of error.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from PIL import Image

__all__ = ["FAIL", "FLAG", "PASS", "VERDICTS", "as_rgb_images", "worst_verdict"]

# bandit: a check verdict's name, not a password.
PASS = "pass"  # nosec B105
FLAG = "flag"
FAIL = "fail"
#: From harmless to blocking; the runner's verdict is the worst one of its checks.
VERDICTS: tuple[str, ...] = (PASS, FLAG, FAIL)


def worst_verdict(verdicts: Iterable[str]) -> str:
    """``fail`` if any check failed, else ``flag`` if any flagged, else ``pass``."""
    worst = 0
    for verdict in verdicts:
        if verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {verdict!r}; expected one of {VERDICTS}")
        worst = max(worst, VERDICTS.index(verdict))
    return VERDICTS[worst]


def as_rgb_images(images: Sequence[Image.Image]) -> list[Image.Image]:
    """The images as a list of RGB PIL images; refuses an empty list or a non-image.

    A single image is refused too: callers that pass one image where a list is expected would
    otherwise get a confusing error deep inside a model.
    """
    if isinstance(images, Image.Image):
        raise ValueError("expected a list of images, got a single image; wrap it in a list")
    images = list(images)
    if not images:
        raise ValueError("expected at least one image, got an empty list")
    converted = []
    for index, image in enumerate(images):
        if not isinstance(image, Image.Image):
            raise ValueError(
                f"image {index} is a {type(image).__name__}, not a PIL image; "
                "open it with PIL.Image.open first"
            )
        if image.width == 0 or image.height == 0:
            raise ValueError(f"image {index} is empty ({image.width}x{image.height})")
        converted.append(image if image.mode == "RGB" else image.convert("RGB"))
    return converted
