"""Run every output check on a job's images and fold the results into one verdict per image.

Why: a worker hands all images of a job to one call. Each model sees the whole job in one
batch (NudeNet in ONNX batches, CLIP in one image batch whose embeddings serve the concepts,
the references, the descriptors and the prompt alike), so a job of many images costs far less
per image than checking them one by one. The result of each image is plain data
(``ImageChecks.to_dict()``) that the Django side stores on the asset and shows to reviewers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from generation.checks.brand import (
    BrandKit,
    BrandResult,
    BrandThresholds,
    BrandWeights,
    check_brand_from_embeddings,
)
from generation.checks.common import as_rgb_images, worst_verdict
from generation.checks.concepts import (
    CONCEPT_TEMPLATE,
    NEUTRAL_PROMPTS,
    ConceptResult,
    ConceptSpec,
    score_concepts_from_embeddings,
)
from generation.checks.embeddings import encode_images
from generation.checks.safety import (
    DEFAULT_NUDENET_RULES,
    ONNX_BATCH,
    NudeNetResult,
    NudeNetRule,
    detect_nudity,
    rule_table,
)

__all__ = ["CHECKS_VERSION", "ChecksConfig", "ImageChecks", "run_checks"]

#: The version of the check suite, stored with every result: bump it when a model, a default
#: threshold or a formula changes, so stored results can be told apart.
CHECKS_VERSION = "1.0.0"


@dataclass(frozen=True)
class ChecksConfig:
    """Everything the checks need besides the images, the prompt and the CLIP model."""

    nudenet_rules: Mapping[str, NudeNetRule] = field(
        default_factory=lambda: dict(DEFAULT_NUDENET_RULES)
    )
    concepts: tuple[ConceptSpec, ...] = ()
    neutral_prompts: tuple[str, ...] = NEUTRAL_PROMPTS
    concept_template: str = CONCEPT_TEMPLATE
    brand: BrandKit | None = None
    brand_thresholds: BrandThresholds = field(default_factory=BrandThresholds)
    brand_weights: BrandWeights = field(default_factory=BrandWeights)
    #: Score the prompt against the image (brand part ``alignment``) when a CLIP model is given.
    prompt_alignment: bool = True
    nudenet_batch_size: int = ONNX_BATCH
    #: onnxruntime intra-op threads for NudeNet (None: every core).
    nudenet_threads: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "concepts", tuple(self.concepts))
        object.__setattr__(self, "neutral_prompts", tuple(self.neutral_prompts))
        for concept in self.concepts:
            if not isinstance(concept, ConceptSpec):
                raise ValueError(f"concepts must be ConceptSpec objects, got {concept!r}")

    @property
    def needs_clip(self) -> bool:
        return bool(self.concepts) or (self.brand is not None and self.brand.needs_clip)


@dataclass(frozen=True)
class ImageChecks:
    """Every check's result for one image, and the verdict they add up to."""

    index: int
    verdict: str
    reasons: tuple[str, ...]
    safety: NudeNetResult
    concepts: tuple[ConceptResult, ...]
    brand: BrandResult | None
    nudenet_rules: Mapping[str, NudeNetRule]
    version: str = CHECKS_VERSION
    #: The image's normalised CLIP embedding, when a CLIP model ran: kept with the result so
    #: that sets of images can be compared later without the images (CMMD, ``cmmd.py``).
    embedding: tuple[float, ...] | None = None

    @property
    def has_face(self) -> bool:
        return self.safety.has_face

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "index": self.index,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "has_face": self.has_face,
            "safety": {
                "nudenet": {
                    **self.safety.to_dict(),
                    "rules": rule_table(self.nudenet_rules),
                },
                "concepts": [concept.to_dict() for concept in self.concepts],
            },
            "brand": None if self.brand is None else self.brand.to_dict(),
            **({"embedding": list(self.embedding)} if self.embedding is not None else {}),
        }


def run_checks(
    images: Sequence[Image.Image],
    *,
    prompt: str,
    config: ChecksConfig,
    clip: Any = None,
) -> list[ImageChecks]:
    """Check a job's images: NudeNet, the policy's CLIP concepts, brand fit. One result each.

    ``clip`` is a loaded ``generation.engine.clip.ClipModel``; it is required when the config
    lists concepts or the brand kit has references or descriptors (a policy's concept check
    must never be skipped silently). Without it NudeNet and the palette still run.
    """
    images = as_rgb_images(images)
    if clip is None and config.needs_clip:
        raise ValueError(
            "the checks config has CLIP concepts or brand references/descriptors: "
            "give a CLIP model (generation.engine.clip.load_clip)"
        )
    safety = detect_nudity(
        images,
        config.nudenet_rules,
        batch_size=config.nudenet_batch_size,
        threads=config.nudenet_threads,
    )
    embeddings = encode_images(clip, images) if clip is not None else None
    concepts: list[list[ConceptResult]] = [[] for _ in images]
    if config.concepts:
        concepts = score_concepts_from_embeddings(
            clip,
            embeddings,
            config.concepts,
            neutral_prompts=config.neutral_prompts,
            template=config.concept_template,
        )
    brand: list[BrandResult | None] = [None] * len(images)
    if config.brand is not None:
        brand = check_brand_from_embeddings(
            images,
            embeddings,
            kit=config.brand,
            clip=clip,
            prompt=prompt if config.prompt_alignment else None,
            thresholds=config.brand_thresholds,
            weights=config.brand_weights,
        )
    results = []
    for index in range(len(images)):
        reasons = [*safety[index].reasons]
        reasons += [c.reason for c in concepts[index] if c.reason]
        verdicts = [safety[index].verdict, *(c.verdict for c in concepts[index])]
        if brand[index] is not None:
            reasons += brand[index].reasons
            verdicts.append(brand[index].verdict)
        results.append(
            ImageChecks(
                index=index,
                verdict=worst_verdict(verdicts),
                reasons=tuple(reasons),
                safety=safety[index],
                concepts=tuple(concepts[index]),
                brand=brand[index],
                nudenet_rules=config.nudenet_rules,
                embedding=(
                    None
                    if embeddings is None
                    else tuple(round(x, 6) for x in embeddings[index].tolist())
                ),
            )
        )
    return results
