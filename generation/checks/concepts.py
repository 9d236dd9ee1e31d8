"""Zero-shot concept checks with CLIP: "does this image show weapons / blood / …?".

Why: a prompt policy can name concepts that must not appear in outputs even when the prompt
was clean (a model can draw blood for "a dramatic battle"). CLIP scores an image against any
text, so the policy's concepts need no trained classifier.

The score of a concept for an image is a probability: the softmax, at the model's own
temperature (CLIP's learned ``logit_scale``, see ``embeddings.logit_scale``), of the image's
cosine similarities to the concept's prompt and to a fixed set of neutral counter-prompts,
taken at the concept prompt. Each concept is scored against the neutrals on its own, so
adding a concept to a policy never changes another concept's score. A raw cosine has no
meaningful absolute scale (it differs between models and between texts); a probability
against neutral alternatives does: 0.5 means the concept explains the image better than all
the neutral descriptions together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from generation.checks.common import FAIL, FLAG, PASS, as_rgb_images
from generation.checks.embeddings import encode_images, encode_texts, logit_scale

__all__ = [
    "CONCEPT_TEMPLATE",
    "DEFAULT_CONCEPT_THRESHOLD",
    "NEUTRAL_PROMPTS",
    "ConceptResult",
    "ConceptSpec",
    "score_concepts",
    "score_concepts_from_embeddings",
]

#: How a concept's name becomes a prompt, unless the spec gives its own.
CONCEPT_TEMPLATE = "a photo of {concept}"
#: The default threshold: the concept prompt must outweigh all neutral prompts together.
DEFAULT_CONCEPT_THRESHOLD = 0.5
#: Descriptions true of almost any image, and no more true of a concept's image than of
#: another: the alternatives a concept must beat. General, so that they fit photographs,
#: illustrations and product shots alike; a deployment with a specialised model passes its own.
NEUTRAL_PROMPTS: tuple[str, ...] = (
    "a photo",
    "a picture of an object",
    "a photo of something",
    "an everyday scene",
    "an image",
    "a picture",
)


@dataclass(frozen=True)
class ConceptSpec:
    """One concept a policy checks for, and what a score at or above ``threshold`` does."""

    name: str
    threshold: float = DEFAULT_CONCEPT_THRESHOLD
    action: str = FLAG
    #: The text scored against the image; by default ``CONCEPT_TEMPLATE`` with the name.
    prompt: str | None = None

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("a concept needs a name")
        if self.action not in (FLAG, FAIL):
            raise ValueError(
                f"concept {self.name!r}: action must be 'flag' or 'fail', got {self.action!r}"
            )
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(
                f"concept {self.name!r}: threshold is a probability in [0, 1], got {self.threshold}"
            )

    def text(self, template: str = CONCEPT_TEMPLATE) -> str:
        return self.prompt if self.prompt is not None else template.format(concept=self.name)


@dataclass(frozen=True)
class ConceptResult:
    """One concept's score on one image."""

    name: str
    prompt: str
    score: float
    threshold: float
    action: str

    @property
    def triggered(self) -> bool:
        return self.score >= self.threshold

    @property
    def verdict(self) -> str:
        return self.action if self.triggered else PASS

    @property
    def reason(self) -> str | None:
        if not self.triggered:
            return None
        return (
            f"CLIP sees {self.name!r} at {self.score:.2f} \N{GREATER-THAN OR EQUAL TO} "
            f"{self.threshold:.2f} ({self.action})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "prompt": self.prompt,
            "score": round(self.score, 6),
            "threshold": self.threshold,
            "action": self.action,
            "verdict": self.verdict,
        }


def score_concepts_from_embeddings(
    clip: Any,
    image_embeddings: torch.Tensor,
    concepts: Sequence[ConceptSpec],
    *,
    neutral_prompts: Sequence[str] = NEUTRAL_PROMPTS,
    template: str = CONCEPT_TEMPLATE,
) -> list[list[ConceptResult]]:
    """Concept results per image (outer list) and concept (inner, in ``concepts`` order), for
    image embeddings already computed (the runner encodes a job's images once)."""
    concepts = list(concepts)
    if not concepts:
        return [[] for _ in range(image_embeddings.shape[0])]
    if not neutral_prompts:
        raise ValueError("concept scores need at least one neutral counter-prompt")
    prompts = [concept.text(template) for concept in concepts]
    texts = encode_texts(clip, [*prompts, *neutral_prompts])
    if texts.shape[1] != image_embeddings.shape[1]:
        raise ValueError(
            f"image embeddings have {image_embeddings.shape[1]} dimensions but the CLIP "
            f"model's text embeddings have {texts.shape[1]}"
        )
    logits = logit_scale(clip) * image_embeddings @ texts.T  # (images, concepts + neutrals)
    concept_logits = logits[:, : len(concepts)]
    neutral_logits = logits[:, len(concepts) :]
    # Per concept: softmax over [concept, neutrals...], read at the concept.
    neutral_mass = torch.logsumexp(neutral_logits, dim=1, keepdim=True)
    scores = torch.sigmoid(concept_logits - neutral_mass).tolist()
    return [
        [
            ConceptResult(spec.name, prompt, score, spec.threshold, spec.action)
            for spec, prompt, score in zip(concepts, prompts, row, strict=True)
        ]
        for row in scores
    ]


def score_concepts(
    clip: Any,
    images: Sequence[Image.Image],
    concepts: Sequence[ConceptSpec],
    *,
    neutral_prompts: Sequence[str] = NEUTRAL_PROMPTS,
    template: str = CONCEPT_TEMPLATE,
) -> list[list[ConceptResult]]:
    """Score ``images`` (one CLIP batch) against each concept; see the module docstring."""
    images = as_rgb_images(images)
    return score_concepts_from_embeddings(
        clip,
        encode_images(clip, images),
        concepts,
        neutral_prompts=neutral_prompts,
        template=template,
    )
