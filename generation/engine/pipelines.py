"""Load diffusers text-to-image pipelines from local directories and run them reproducibly.

Why: a worker process must load each model once (not once per job), never touch the network,
and produce the same pixels for the same seed and parameters so results can be audited.
"""

from __future__ import annotations

import functools
import io
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoPipelineForText2Image, DiffusionPipeline
from PIL import Image

#: How many pipelines one process keeps loaded; the least recently used one is dropped first.
MAX_CACHED_MODELS = 2

_load_lock = threading.Lock()


class ModelNotFoundError(ValueError):
    """The model path does not exist or is not a diffusers pipeline directory."""


@dataclass(frozen=True)
class GenerationParams:
    """Everything that determines the pixels of a text-to-image run, besides the model."""

    prompt: str
    negative_prompt: str
    width: int
    height: int
    steps: int
    guidance_scale: float
    seed: int
    num_images: int

    def __post_init__(self) -> None:
        """Reject values no pipeline can run, before a model is loaded."""
        if self.width <= 0 or self.height <= 0 or self.width % 8 or self.height % 8:
            raise ValueError(f"width and height must be positive multiples of 8, got {self}")
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if self.num_images < 1:
            raise ValueError(f"num_images must be at least 1, got {self.num_images}")


def _device_and_dtype() -> tuple[torch.device, torch.dtype]:
    """Half precision on a CUDA GPU, full precision on the CPU (where fp16 is slow or missing)."""
    if torch.cuda.is_available():
        return torch.device("cuda"), torch.float16
    return torch.device("cpu"), torch.float32


def resolve_model_path(model_path: str | Path) -> Path:
    """Return the absolute, symlink-free model directory, or raise ``ModelNotFoundError``."""
    path = Path(model_path).expanduser().resolve()
    if not path.is_dir():
        raise ModelNotFoundError(f"Model directory does not exist: {path}")
    if not (path / "model_index.json").is_file():
        raise ModelNotFoundError(f"Not a diffusers pipeline (no model_index.json): {path}")
    return path


@functools.lru_cache(maxsize=MAX_CACHED_MODELS)
def _load_resolved(path: Path) -> DiffusionPipeline:
    """Load the pipeline at an already-resolved path; cached per process by ``lru_cache``."""
    device, dtype = _device_and_dtype()
    pipeline = AutoPipelineForText2Image.from_pretrained(
        path,
        local_files_only=True,
        dtype=dtype,
        # Only Stable Diffusion 1.x/2.x pipelines take these; governance runs its own checks.
        safety_checker=None,
        requires_safety_checker=False,
    )
    pipeline.to(device)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def load_text_to_image(model_path: str | Path) -> DiffusionPipeline:
    """Return the text-to-image pipeline stored at ``model_path``, loading it at most once.

    The result is shared by every caller in this process; do not modify it.
    """
    path = resolve_model_path(model_path)
    with _load_lock:  # two threads asking for one model must not load it twice
        return _load_resolved(path)


def clear_model_cache() -> None:
    """Drop every cached pipeline and give freed GPU memory back to the driver."""
    with _load_lock:
        _load_resolved.cache_clear()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def generate(
    *,
    model_path: str | Path,
    params: GenerationParams,
    on_step: Callable[[int, int], None] | None = None,
) -> list[Image.Image]:
    """Run text-to-image and return ``params.num_images`` PIL images.

    Image ``i`` is drawn from its own generator seeded with ``params.seed + i``. ``on_step`` is
    called after each denoising step with ``(steps_done, total_steps)``.
    """
    pipeline = load_text_to_image(model_path)
    device = pipeline.device
    generators = [
        torch.Generator(device=device).manual_seed(params.seed + index)
        for index in range(params.num_images)
    ]

    def step_end(
        pipe: DiffusionPipeline, step_index: int, timestep: Any, callback_kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        if on_step is not None:
            total = getattr(pipe, "num_timesteps", None) or params.steps
            on_step(step_index + 1, total)
        return callback_kwargs

    with torch.inference_mode():
        result = pipeline(
            prompt=params.prompt,
            negative_prompt=params.negative_prompt or None,
            width=params.width,
            height=params.height,
            num_inference_steps=params.steps,
            guidance_scale=params.guidance_scale,
            num_images_per_prompt=params.num_images,
            generator=generators,
            output_type="pil",
            callback_on_step_end=step_end,
        )
    return list(result.images)


def image_to_png_bytes(image: Image.Image) -> bytes:
    """Encode ``image`` as PNG with no metadata, so identical pixels give identical bytes."""
    if image.mode not in {"RGB", "RGBA", "L"}:
        image = image.convert("RGB")
    # A fresh image carries no info/ICC/EXIF that PIL might otherwise copy into the file.
    bare = Image.frombytes(image.mode, image.size, image.tobytes())
    buffer = io.BytesIO()
    bare.save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()
