"""CLIP embeddings for the checks: images once per batch, texts once per process.

Why: a job's images are scored against many texts (concept prompts, neutral prompts, brand
descriptors, the prompt itself). Encoding each text again for every image, or every check,
would dominate the time of small models; so images are encoded in one batch by the runner
and texts are cached per model by their exact tuple.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from typing import Any

import torch
from PIL import Image

__all__ = ["encode_images", "encode_texts", "logit_scale"]

#: Texts cached per model (weakly: a model that is unloaded takes its cache with it).
_text_cache: weakref.WeakKeyDictionary[Any, dict[tuple[str, ...], torch.Tensor]] = (
    weakref.WeakKeyDictionary()
)
_lock = threading.Lock()
#: Distinct text tuples kept per model; a policy has a handful, prompts vary per job.
MAX_CACHED_TEXT_SETS = 256


def encode_images(clip: Any, images: Sequence[Image.Image]) -> torch.Tensor:
    """L2-normalised image embeddings (one row per image), float32 on the CPU."""
    return clip.encode_images(list(images)).float().cpu()


def encode_texts(clip: Any, texts: Sequence[str]) -> torch.Tensor:
    """L2-normalised text embeddings (one row per text), cached per model and text tuple."""
    key = tuple(texts)
    if not key:
        raise ValueError("expected at least one text to encode")
    with _lock:
        cached = _text_cache.setdefault(clip.model, {}).get(key)
    if cached is not None:
        return cached
    embeddings = clip.encode_texts(list(key)).float().cpu()
    with _lock:
        per_model = _text_cache.setdefault(clip.model, {})
        if len(per_model) >= MAX_CACHED_TEXT_SETS:
            per_model.pop(next(iter(per_model)))
        per_model[key] = embeddings
    return embeddings


def logit_scale(clip: Any) -> float:
    """The model's learned softmax temperature (CLIP's ``logit_scale.exp()``), capped at 100
    as CLIP training caps it; 100 for a model without one."""
    scale = getattr(clip.model, "logit_scale", None)
    if scale is None:
        return 100.0
    return float(min(100.0, torch.as_tensor(scale).float().exp().item()))
