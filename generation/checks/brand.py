"""Brand fit: how well an image matches a brand kit, as four measured parts and one score.

Why: brand reviewers ask "does this look like us?". The parts answer it in ways a reviewer
can check, each with its value and threshold in the result:

- ``reference``: CLIP cosine between the image and the brand's reference images: to their
  mean direction (the L2-normalised mean of the normalised reference embeddings; it decides),
  and to the nearest single reference (reported with its index, so the reviewer can open it).
  Reference embeddings are computed once by ``reference_embeddings`` when the kit is saved,
  and stored; the check only reads them.
- ``descriptors``: the probability that the image is on-brand rather than off-brand: the
  softmax, at CLIP's own temperature, of the image's similarity to every descriptor, summed
  over the on-brand ones (0.5 = undecided). The plain margin (mean cosine to on-brand minus
  mean cosine to off-brand descriptors) is reported too; the softmax is what is scored, since
  it has the same scale for every model and every number of descriptors.
- ``palette``: the image's dominant colours (k-means in CIELAB on a 64-pixel thumbnail) with
  their pixel shares; each one's CIEDE2000 distance to the nearest brand colour; the part's
  value is the share of pixels whose dominant colour is within ``delta_e_threshold`` of the
  palette (ΔE 10 by default: clearly the same colour to a viewer at a glance, though a
  trained eye sees the difference beyond ~2). The share-weighted mean ΔE is reported too.
- ``alignment``: CLIP cosine between the image and its prompt (did the model draw what was
  asked?).

The brand score is the weighted mean of the parts' values (cosines clipped to [0, 1]), with
``BrandWeights``; parts that cannot be measured (no references, no palette, no descriptors,
no prompt) are left out and the remaining weights renormalised. The verdict is ``flag`` when
the score or any part is below its threshold (``BrandThresholds``), else ``pass``: brand fit
routes an image to a human, it never blocks one.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image
from scipy.cluster.vq import kmeans2

from generation.checks.common import FLAG, PASS, as_rgb_images
from generation.checks.embeddings import encode_images, encode_texts, logit_scale

__all__ = [
    "DEFAULT_DELTA_E_THRESHOLD",
    "BrandKit",
    "BrandPart",
    "BrandResult",
    "BrandThresholds",
    "BrandWeights",
    "PaletteResult",
    "Swatch",
    "check_brand",
    "check_brand_from_embeddings",
    "dominant_colours",
    "dominant_colours_batch",
    "palette_compliance",
    "palette_compliance_batch",
    "parse_hex",
    "reference_embeddings",
]

#: CIEDE2000 distance under which a colour counts as the brand colour.
DEFAULT_DELTA_E_THRESHOLD = 10.0
#: Dominant colours per image.
DOMINANT_COLOURS = 5
#: The palette is measured on a thumbnail whose longer side is this many pixels: colour
#: shares barely change, k-means gets 64x fewer points than at 512 px.
PALETTE_THUMBNAIL = 64
#: k-means is seeded, so the same image always gets the same swatches.
KMEANS_SEED = 0
KMEANS_ITERATIONS = 10  # scipy's default; more moves the shares by well under 1 %

_HEX = re.compile(r"^#([0-9a-fA-F]{6})$")


def parse_hex(colour: str) -> tuple[int, int, int]:
    """``"#D72323"`` → ``(215, 35, 35)``; anything but ``#RRGGBB`` is refused."""
    match = _HEX.match(colour.strip()) if isinstance(colour, str) else None
    if match is None:
        raise ValueError(f"brand colour {colour!r} is not a hex colour of the form #RRGGBB")
    value = match.group(1)
    return (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16))


def _hex(rgb: Sequence[float]) -> str:
    red, green, blue = (round(min(255.0, max(0.0, float(v)))) for v in rgb)
    return f"#{red:02X}{green:02X}{blue:02X}"


def _rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 or 0..255 RGB (..., 3) → CIELAB (D65), as float64."""
    from skimage.color import rgb2lab

    return rgb2lab(np.asarray(rgb, dtype=np.float64).reshape(-1, 1, 3) / 255.0).reshape(
        np.shape(rgb)
    )


# --- palette ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Swatch:
    """One dominant colour of an image, and how far it is from the brand palette."""

    hex: str
    lab: tuple[float, float, float]
    share: float
    delta_e: float
    nearest: str
    within: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "hex": self.hex,
            "lab": [round(v, 3) for v in self.lab],
            "share": round(self.share, 6),
            "delta_e": round(self.delta_e, 4),
            "nearest_palette_colour": self.nearest,
            "within_threshold": self.within,
        }


@dataclass(frozen=True)
class PaletteResult:
    swatches: tuple[Swatch, ...]
    #: Share of pixels whose dominant colour is within ``delta_e_threshold`` of the palette.
    within_share: float
    #: Share-weighted mean CIEDE2000 distance to the nearest palette colour.
    mean_delta_e: float
    delta_e_threshold: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "within_share": round(self.within_share, 6),
            "mean_delta_e": round(self.mean_delta_e, 4),
            "delta_e_threshold": self.delta_e_threshold,
            "swatches": [swatch.to_dict() for swatch in self.swatches],
        }


def _thumbnail_pixels(image: Image.Image) -> np.ndarray:
    """The image's pixels (N, 3) uint8, from a thumbnail of at most PALETTE_THUMBNAIL px."""
    image = image.convert("RGB")
    longest = max(image.size)
    if longest > PALETTE_THUMBNAIL:
        scale = PALETTE_THUMBNAIL / longest
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.BOX)
    return np.asarray(image, dtype=np.uint8).reshape(-1, 3)


def _clusters(pixels: np.ndarray, lab: np.ndarray, labels: np.ndarray, clusters: int):
    """(Lab centre, mean RGB, share) of each non-empty cluster, largest share first."""
    sizes = np.bincount(labels, minlength=clusters)
    found = []
    for cluster in np.flatnonzero(sizes):
        members = labels == cluster
        found.append(
            (
                lab[members].mean(axis=0),
                pixels[members].mean(axis=0),
                float(sizes[cluster] / len(labels)),
            )
        )
    found.sort(key=lambda item: -item[2])
    return found


def dominant_colours_batch(
    images: Sequence[Image.Image], count: int = DOMINANT_COLOURS
) -> list[list[tuple[np.ndarray, np.ndarray, float]]]:
    """Dominant colours of each image as (Lab centre, mean RGB, pixel share), largest first.

    An image with at most ``count`` distinct colours (after the thumbnail) gets exactly those
    colours, so an image painted in the brand's own colours is measured at ΔE 0, not at a
    k-means centre a rounding error away. Otherwise scipy's ``kmeans2`` (k-means++ start,
    fixed seed) in CIELAB, where distances follow perceived colour differences. The whole
    job is converted to CIELAB in one call; k-means runs per image (its cost is the pixels,
    which batching does not reduce).
    """
    if count < 1:
        raise ValueError(f"need at least one dominant colour, got {count}")
    thumbnails = [_thumbnail_pixels(image) for image in images]
    all_lab = _rgb_to_lab(np.concatenate(thumbnails))
    ends = np.cumsum([len(pixels) for pixels in thumbnails])
    labs = np.split(all_lab, ends[:-1])
    results: list[list | None] = [None] * len(images)
    to_cluster: list[int] = []
    for index, pixels in enumerate(thumbnails):
        codes = (pixels[:, 0].astype(np.int32) << 16) | (pixels[:, 1].astype(np.int32) << 8)
        codes |= pixels[:, 2]
        unique, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
        if len(unique) <= count:
            shares = np.bincount(inverse.reshape(-1)) / len(codes)
            found = [
                (labs[index][at], pixels[at].astype(np.float64), float(share))
                for at, share in zip(first, shares, strict=True)
            ]
            results[index] = sorted(found, key=lambda item: -item[2])
        else:
            to_cluster.append(index)
    for index in to_cluster:
        # Seeded per image, so an image gets the same swatches whichever batch it is in.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an empty cluster is dropped by _clusters
            _, labels = kmeans2(
                labs[index],
                count,
                iter=KMEANS_ITERATIONS,
                minit="++",
                rng=np.random.default_rng(KMEANS_SEED),
            )
        results[index] = _clusters(thumbnails[index], labs[index], labels, count)
    return results


def dominant_colours(
    image: Image.Image, count: int = DOMINANT_COLOURS
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """``dominant_colours_batch`` for one image."""
    return dominant_colours_batch([image], count)[0]


def palette_compliance_batch(
    images: Sequence[Image.Image],
    palette: Sequence[str],
    *,
    delta_e_threshold: float = DEFAULT_DELTA_E_THRESHOLD,
    count: int = DOMINANT_COLOURS,
) -> list[PaletteResult]:
    """Dominant colours of each image against the brand ``palette`` (hex strings)."""
    from skimage.color import deltaE_ciede2000

    if not palette:
        raise ValueError("the brand palette is empty; give at least one #RRGGBB colour")
    if delta_e_threshold < 0:
        raise ValueError(f"delta_e_threshold must be ≥ 0, got {delta_e_threshold}")
    images = as_rgb_images(images)
    palette = [colour.strip().upper() for colour in palette]
    palette_rgb = np.array([parse_hex(colour) for colour in palette], dtype=np.float64)
    palette_lab = _rgb_to_lab(palette_rgb)
    per_image = dominant_colours_batch(images, count)
    swatch_lab = np.array([lab for colours in per_image for lab, _, _ in colours])
    distances = deltaE_ciede2000(swatch_lab[:, None, :], palette_lab[None, :, :])
    results = []
    row = 0
    for colours in per_image:
        swatches = []
        for lab, rgb, share in colours:
            nearest = int(distances[row].argmin())
            # Exactly 0 for the palette's own colour: compared in RGB, since two conversions
            # of one colour to CIELAB may differ in the last bit on some CPUs.
            same = np.array_equal(rgb, palette_rgb[nearest])
            distance = 0.0 if same else float(distances[row, nearest])
            swatches.append(
                Swatch(
                    hex=_hex(rgb),
                    lab=(float(lab[0]), float(lab[1]), float(lab[2])),
                    share=share,
                    delta_e=distance,
                    nearest=palette[nearest],
                    within=distance <= delta_e_threshold,
                )
            )
            row += 1
        within = sum(s.share for s in swatches if s.within)
        mean_delta_e = sum(s.share * s.delta_e for s in swatches)
        results.append(
            PaletteResult(tuple(swatches), float(within), float(mean_delta_e), delta_e_threshold)
        )
    return results


def palette_compliance(
    image: Image.Image,
    palette: Sequence[str],
    *,
    delta_e_threshold: float = DEFAULT_DELTA_E_THRESHOLD,
    count: int = DOMINANT_COLOURS,
) -> PaletteResult:
    """``palette_compliance_batch`` for one image."""
    return palette_compliance_batch(
        [image], palette, delta_e_threshold=delta_e_threshold, count=count
    )[0]


# --- the kit, thresholds and weights -------------------------------------------------------------


def reference_embeddings(clip: Any, images: Sequence[Image.Image]) -> list[list[float]]:
    """CLIP embeddings of a brand kit's reference images, as plain lists to store with the kit.

    Computed once when the kit changes, not per check: the check takes these stored numbers.
    """
    images = as_rgb_images(images)
    return encode_images(clip, images).tolist()


@dataclass(frozen=True)
class BrandKit:
    """What a brand looks like. Every part is optional; a missing part is not scored."""

    #: Brand colours as "#RRGGBB".
    palette: tuple[str, ...] = ()
    #: Stored ``reference_embeddings`` of the reference images.
    reference_embeddings: tuple[tuple[float, ...], ...] = ()
    on_brand: tuple[str, ...] = ()
    off_brand: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "palette", tuple(self.palette))
        for colour in self.palette:
            parse_hex(colour)
        references = tuple(tuple(float(v) for v in row) for row in self.reference_embeddings)
        object.__setattr__(self, "reference_embeddings", references)
        if references and len({len(row) for row in references}) != 1:
            raise ValueError(
                "reference embeddings have mismatched dimensions: "
                f"{sorted({len(row) for row in references})}"
            )
        object.__setattr__(self, "on_brand", tuple(self.on_brand))
        object.__setattr__(self, "off_brand", tuple(self.off_brand))
        if bool(self.on_brand) != bool(self.off_brand):
            raise ValueError(
                "brand descriptors need both on-brand and off-brand texts: the score is which "
                "of the two the image is closer to"
            )

    @property
    def needs_clip(self) -> bool:
        return bool(self.reference_embeddings or self.on_brand)


@dataclass(frozen=True)
class BrandThresholds:
    """The lowest acceptable value of each part and of the score.

    Defaults fit a real CLIP model (ViT-B-32-like): two images of one brand's look have image
    cosines of 0.7 to 0.9, unrelated images 0.3 to 0.5; a matching prompt 0.25 to 0.35, so
    0.2 flags only a prompt the image clearly ignores. A small demo model needs its own.
    """

    reference: float = 0.6
    descriptors: float = 0.5
    palette: float = 0.5
    alignment: float = 0.2
    score: float = 0.5
    delta_e: float = DEFAULT_DELTA_E_THRESHOLD


@dataclass(frozen=True)
class BrandWeights:
    """How much each part counts in the brand score (renormalised over the parts present).

    The reference images weigh most (they show the look, which words and colours only
    approximate); prompt alignment least (it is about the request, not the brand).
    """

    reference: float = 0.35
    descriptors: float = 0.25
    palette: float = 0.25
    alignment: float = 0.15

    def __post_init__(self) -> None:
        for name in ("reference", "descriptors", "palette", "alignment"):
            if getattr(self, name) < 0:
                raise ValueError(f"brand weight {name!r} must be ≥ 0")


@dataclass(frozen=True)
class BrandPart:
    name: str
    value: float
    threshold: float
    weight: float
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.value >= self.threshold

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": round(self.value, 6),
            "threshold": self.threshold,
            "weight": round(self.weight, 6),
            "passed": self.passed,
            **self.details,
        }


@dataclass(frozen=True)
class BrandResult:
    score: float | None
    threshold: float
    verdict: str
    parts: tuple[BrandPart, ...]
    reasons: tuple[str, ...]
    palette: PaletteResult | None = None

    def part(self, name: str) -> BrandPart | None:
        return next((part for part in self.parts if part.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": None if self.score is None else round(self.score, 6),
            "threshold": self.threshold,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "parts": {part.name: part.to_dict() for part in self.parts},
        }


# --- the check -----------------------------------------------------------------------------------


def _reference_part(
    image_embedding: torch.Tensor, references: torch.Tensor, threshold: float, weight: float
) -> BrandPart:
    mean = torch.nn.functional.normalize(references.mean(dim=0), dim=0)
    cosines = references @ image_embedding
    nearest = int(cosines.argmax())
    return BrandPart(
        "reference",
        float(image_embedding @ mean),
        threshold,
        weight,
        {
            "cosine_to_mean": round(float(image_embedding @ mean), 6),
            "nearest_index": nearest,
            "cosine_to_nearest": round(float(cosines[nearest]), 6),
            "references": int(references.shape[0]),
        },
    )


def check_brand_from_embeddings(
    images: Sequence[Image.Image],
    image_embeddings: torch.Tensor | None,
    *,
    kit: BrandKit,
    clip: Any = None,
    prompt: str | None = None,
    thresholds: BrandThresholds = BrandThresholds(),
    weights: BrandWeights = BrandWeights(),
) -> list[BrandResult]:
    """Brand results for images whose CLIP embeddings the caller already has (or None when no
    CLIP model is used: then only the palette is scored)."""
    images = as_rgb_images(images)
    if kit.needs_clip and (clip is None or image_embeddings is None):
        raise ValueError("this brand kit has reference images or descriptors: give a CLIP model")
    references = None
    if kit.reference_embeddings:
        references = torch.nn.functional.normalize(
            torch.tensor(kit.reference_embeddings, dtype=torch.float32), dim=1
        )
        if references.shape[1] != image_embeddings.shape[1]:
            raise ValueError(
                f"the brand kit's reference embeddings have {references.shape[1]} dimensions "
                f"but this CLIP model's have {image_embeddings.shape[1]}: recompute them with "
                "reference_embeddings() for this model"
            )
    descriptor_probability = descriptor_margin = None
    if kit.on_brand and image_embeddings is not None:
        texts = encode_texts(clip, [*kit.on_brand, *kit.off_brand])
        cosines = image_embeddings @ texts.T
        on = len(kit.on_brand)
        descriptor_probability = (logit_scale(clip) * cosines).softmax(dim=1)[:, :on].sum(dim=1)
        descriptor_margin = cosines[:, :on].mean(dim=1) - cosines[:, on:].mean(dim=1)
    alignment = None
    if prompt and clip is not None and image_embeddings is not None:
        alignment = image_embeddings @ encode_texts(clip, [prompt])[0]

    palettes = None
    if kit.palette:
        palettes = palette_compliance_batch(
            images, kit.palette, delta_e_threshold=thresholds.delta_e
        )
    results = []
    for index in range(len(images)):
        parts = []
        palette = None
        if references is not None:
            parts.append(
                _reference_part(
                    image_embeddings[index], references, thresholds.reference, weights.reference
                )
            )
        if descriptor_probability is not None:
            parts.append(
                BrandPart(
                    "descriptors",
                    float(descriptor_probability[index]),
                    thresholds.descriptors,
                    weights.descriptors,
                    {
                        "on_brand_probability": round(float(descriptor_probability[index]), 6),
                        "margin": round(float(descriptor_margin[index]), 6),
                        "on_brand": list(kit.on_brand),
                        "off_brand": list(kit.off_brand),
                    },
                )
            )
        if palettes is not None:
            palette = palettes[index]
            parts.append(
                BrandPart(
                    "palette",
                    palette.within_share,
                    thresholds.palette,
                    weights.palette,
                    {"palette": list(kit.palette), **palette.to_dict()},
                )
            )
        if alignment is not None:
            parts.append(
                BrandPart(
                    "alignment",
                    float(alignment[index]),
                    thresholds.alignment,
                    weights.alignment,
                    {"prompt": prompt},
                )
            )
        results.append(_combine(parts, thresholds, palette))
    return results


def _combine(
    parts: list[BrandPart], thresholds: BrandThresholds, palette: PaletteResult | None
) -> BrandResult:
    total_weight = sum(part.weight for part in parts)
    if not parts or total_weight == 0:
        return BrandResult(None, thresholds.score, PASS, tuple(parts), (), palette)
    parts = [
        BrandPart(p.name, p.value, p.threshold, p.weight / total_weight, p.details) for p in parts
    ]
    score = sum(part.weight * min(1.0, max(0.0, part.value)) for part in parts)
    reasons = [
        f"brand {part.name} {part.value:.2f} < {part.threshold:.2f}"
        for part in parts
        if not part.passed
    ]
    if score < thresholds.score:
        reasons.insert(0, f"brand score {score:.2f} < {thresholds.score:.2f}")
    verdict = FLAG if reasons else PASS
    return BrandResult(score, thresholds.score, verdict, tuple(parts), tuple(reasons), palette)


def check_brand(
    images: Sequence[Image.Image],
    *,
    kit: BrandKit,
    clip: Any = None,
    prompt: str | None = None,
    thresholds: BrandThresholds = BrandThresholds(),
    weights: BrandWeights = BrandWeights(),
) -> list[BrandResult]:
    """Brand fit of each image (one CLIP batch); see the module docstring."""
    images = as_rgb_images(images)
    embeddings = encode_images(clip, images) if clip is not None else None
    return check_brand_from_embeddings(
        images,
        embeddings,
        kit=kit,
        clip=clip,
        prompt=prompt,
        thresholds=thresholds,
        weights=weights,
    )
