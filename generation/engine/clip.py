"""Load open_clip models from local files, and score images against texts with them.

Why: brand and safety checks compare images with words and reference images. Production points
this at a real open_clip checkpoint (say ViT-B-32 weights on disk); the demo pack ships a tiny
model with its own architecture config. Both go through the one loader here, and nothing is
downloaded: a ``pretrained`` that is not an existing file is refused.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

__all__ = ["ClipModel", "ClipNotFoundError", "load_clip"]


class ClipNotFoundError(FileNotFoundError):
    """The architecture or the checkpoint cannot be found locally."""


@dataclass
class ClipModel:
    """A loaded open_clip model with its image preprocessing and tokenizer."""

    architecture: str
    checkpoint: Path
    model: Any
    preprocess: Any
    tokenizer: Any
    device: torch.device

    @torch.no_grad()
    def encode_images(self, images) -> torch.Tensor:
        """L2-normalised embeddings of PIL images, one row each."""
        batch = torch.stack([self.preprocess(image.convert("RGB")) for image in images])
        features = self.model.encode_image(batch.to(self.device))
        return torch.nn.functional.normalize(features.float(), dim=-1)

    @torch.no_grad()
    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """L2-normalised embeddings of texts, one row each."""
        tokens = self.tokenizer(list(texts)).to(self.device)
        features = self.model.encode_text(tokens)
        return torch.nn.functional.normalize(features.float(), dim=-1)

    def similarity(self, images, texts: list[str]) -> torch.Tensor:
        """Cosine similarities, images by texts."""
        return self.encode_images(images) @ self.encode_texts(texts).T

    def classify(self, images, labels: list[str]) -> list[int]:
        """Zero-shot: the index of the best-matching label for each image."""
        return self.similarity(images, labels).argmax(dim=1).tolist()


_cache: dict[tuple[str, str, str], ClipModel] = {}
_lock = threading.Lock()


def load_clip(
    architecture: str,
    checkpoint: str | Path,
    *,
    config_file: str | Path | None = None,
    device: str | torch.device | None = None,
) -> ClipModel:
    """Load (once per process) an open_clip model from a local checkpoint file.

    ``architecture`` is an open_clip model name ("ViT-B-32") or the name of the architecture
    that ``config_file`` (an open_clip model config JSON, named after it) defines.
    """
    checkpoint = Path(checkpoint).absolute()
    if not checkpoint.is_file():
        raise ClipNotFoundError(f"CLIP checkpoint {checkpoint} does not exist")
    import open_clip  # imported here: it is heavy and only workers need it

    if config_file is not None:
        config_file = Path(config_file).absolute()
        if not config_file.is_file():
            raise ClipNotFoundError(f"CLIP model config {config_file} does not exist")
        if config_file.stem != architecture:
            raise ValueError(
                f"open_clip names an architecture after its config file: {config_file.name} "
                f"defines {config_file.stem!r}, not {architecture!r}"
            )
        open_clip.add_model_config(config_file)
    if architecture not in open_clip.list_models():
        raise ClipNotFoundError(
            f"open_clip knows no architecture {architecture!r}; give its config file"
        )
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    key = (architecture, str(checkpoint), str(device))
    with _lock:
        if key not in _cache:
            model, _, preprocess = open_clip.create_model_and_transforms(
                architecture, pretrained=str(checkpoint), device=device
            )
            model.eval()
            _cache[key] = ClipModel(
                architecture=architecture,
                checkpoint=checkpoint,
                model=model,
                preprocess=preprocess,
                tokenizer=open_clip.get_tokenizer(architecture),
                device=device,
            )
        return _cache[key]
