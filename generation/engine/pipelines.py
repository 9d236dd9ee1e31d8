"""Load diffusers pipelines from local paths and run them reproducibly, in three modes.

Why: a worker process must load each model once (not once per job), keep only as many models
as fit, never touch the network, and produce the same pixels for the same seed and parameters
so results can be audited. Image-to-image and inpainting reuse the text-to-image pipeline's
components (UNet, VAE, text encoder), so one model is in memory once whatever the mode.
"""

from __future__ import annotations

import gc
import io
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch
from diffusers import (
    AutoPipelineForImage2Image,
    AutoPipelineForInpainting,
    AutoPipelineForText2Image,
    DiffusionPipeline,
)
from PIL import Image

from generation.engine.adapters import StyleAdapter, adapters_apply
from generation.engine.catalog import (
    DIFFUSERS,
    IMAGE_TO_IMAGE,
    INPAINTING,
    MODES,
    TEXT_TO_IMAGE,
    ModelInfo,
    ModelNotFoundError,
    ModeNotSupportedError,
    inspect_model,
    resolve_model_path,
    resolve_single_file_config,
)
from generation.engine.families import (
    batch_inputs,
    pipeline_call_options,
    takes_safety_checker,
)

__all__ = [
    "IMAGE_TO_IMAGE",
    "INPAINTING",
    "MAX_CACHED_MODELS",
    "MEMORY_MARGIN",
    "MODES",
    "TEXT_TO_IMAGE",
    "GenerationOutOfMemory",
    "GenerationParams",
    "ModeNotSupportedError",
    "ModelInfo",
    "ModelNotFoundError",
    "cached_models",
    "clear_model_cache",
    "configure_cache",
    "generate",
    "image_to_png_bytes",
    "inspect_model",
    "load_pipeline",
    "load_text_to_image",
    "resolve_model_path",
    "run_with_oom_retry",
    "warm_up",
]

logger = logging.getLogger(__name__)

#: Default number of models one process keeps loaded; the least recently used one goes first.
MAX_CACHED_MODELS = 2
#: On CUDA, a model is loaded only with this many times its on-disk weight size free on the GPU
#: (least recently used models are evicted until it is); the extra covers activations.
MEMORY_MARGIN = 1.2

_AUTO_PIPELINES: dict[str, Any] = {
    TEXT_TO_IMAGE: AutoPipelineForText2Image,
    IMAGE_TO_IMAGE: AutoPipelineForImage2Image,
    INPAINTING: AutoPipelineForInpainting,
}

T = TypeVar("T")
#: How allocators word running out of memory ("can't allocate memory" is torch's CPU allocator).
_OOM_MESSAGES = ("out of memory", "can't allocate memory", "cannot allocate memory")
_TIMES = "\N{MULTIPLICATION SIGN}"


class GenerationOutOfMemory(RuntimeError):
    """The device ran out of memory for this batch, even after splitting it (on CUDA)."""

    def __init__(self, *, num_images: int, width: int, height: int, device: str = "GPU") -> None:
        self.num_images = num_images
        self.width = width
        self.height = height
        noun = "image" if num_images == 1 else "images"
        memory = "GPU memory" if device == "GPU" else "memory"
        super().__init__(
            f"ran out of {memory} generating {num_images} {noun} at {width}{_TIMES}{height}; "
            "try fewer images or a smaller size"
        )


@dataclass(frozen=True)
class GenerationParams:
    """What determines a run's pixels, besides the model, scheduler and input images."""

    prompt: str
    negative_prompt: str
    width: int
    height: int
    steps: int
    guidance_scale: float
    seed: int
    num_images: int
    mode: str = TEXT_TO_IMAGE
    #: Image-to-image and inpainting only: how far the input is noised (1.0 = entirely).
    strength: float = 0.8
    #: Style adapters (LoRA) applied to the warm base model for this run; none: the base alone.
    adapters: tuple[StyleAdapter, ...] = ()

    def __post_init__(self) -> None:
        """Reject values no pipeline can run, before a model is loaded."""
        if self.width <= 0 or self.height <= 0 or self.width % 8 or self.height % 8:
            raise ValueError(f"width and height must be positive multiples of 8, got {self}")
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if self.num_images < 1:
            raise ValueError(f"num_images must be at least 1, got {self.num_images}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if not 0 < self.strength <= 1:  # also false for NaN
            raise ValueError(f"strength must be in (0, 1], got {self.strength}")
        if self.denoising_steps < 1:
            raise ValueError(
                f"steps * strength must allow at least one denoising step, got "
                f"{self.steps} * {self.strength}"
            )

    @property
    def denoising_steps(self) -> int:
        """Steps actually run: all of them for text-to-image, else ``int(steps * strength)``.

        This is the arithmetic diffusers' image-to-image and inpainting pipelines use.
        """
        if self.mode == TEXT_TO_IMAGE:
            return self.steps
        return min(int(self.steps * self.strength), self.steps)


@dataclass
class _LoadedModel:
    """One cached model: its base pipeline and the pipelines sharing its components, keyed by
    (mode, scheduler class name or "" for the model's own)."""

    info: ModelInfo
    base: DiffusionPipeline
    pipelines: dict[tuple[str, str], DiffusionPipeline] = field(default_factory=dict)
    compiled: bool = False


_CacheKey = tuple[Path, Path | None]
_cache: OrderedDict[_CacheKey, _LoadedModel] = OrderedDict()  # least recently used first
_max_models = MAX_CACHED_MODELS
_compile_by_default = False
_lock = threading.Lock()  # guards _cache and the settings; held while a model loads
# Pipelines keep per-run state (scheduler timesteps, guidance scale), and one GPU runs one batch
# at a time anyway, so runs in one process take turns.
_run_lock = threading.Lock()


def _device_and_dtype() -> tuple[torch.device, torch.dtype]:
    """Half precision on a CUDA GPU, full precision on the CPU (where fp16 is slow or missing)."""
    if torch.cuda.is_available():
        return torch.device("cuda"), torch.float16
    return torch.device("cpu"), torch.float32


def configure_cache(max_models: int = MAX_CACHED_MODELS, *, compile_unet: bool = False) -> None:
    """Set how many models this process keeps loaded, and whether UNets are ``torch.compile``d.

    Shrinking the cache evicts the least recently used models now. Turning compilation on
    compiles cached models on their next use; turning it off does not undo compilation.
    """
    if max_models < 1:
        raise ValueError(f"max_models must be at least 1, got {max_models}")
    global _max_models, _compile_by_default
    with _lock:
        _max_models = max_models
        _compile_by_default = compile_unet
        if _evict_down_to(_max_models):
            _free_device_memory()


def load_pipeline(
    model_path: str | Path,
    mode: str = TEXT_TO_IMAGE,
    *,
    scheduler: str | None = None,
    single_file_config: str | Path | None = None,
    compile_unet: bool | None = None,
) -> DiffusionPipeline:
    """Return the pipeline for ``mode`` of the model at ``model_path``, loading it at most once.

    The model's first load creates its base pipeline; other modes and schedulers are derived
    from it with ``AutoPipelineFor*.from_pipe`` and share its components (each gets its own
    scheduler, which holds per-run state). ``scheduler`` names a diffusers scheduler class
    compatible with the model's (``None``: the model's own). ``single_file_config`` is the local
    diffusers config directory a ``.safetensors`` single-file checkpoint is loaded with (ignored
    for directories). ``compile_unet`` overrides ``configure_cache``'s setting. Results are
    shared by every caller in this process; do not modify them. Raises ``ModelNotFoundError``,
    ``ModeNotSupportedError`` or ``ValueError`` (unknown mode or scheduler).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    mode = MODES[MODES.index(mode)]  # a plain str, also when given a str enum member
    path = resolve_model_path(model_path)
    config = None
    if path.is_file() and single_file_config is not None:
        config = resolve_single_file_config(single_file_config)
    key = (path, config)
    with _lock:  # two threads asking for one model must not load it twice
        entry = _cache.get(key)
        if entry is None:
            info = inspect_model(path, single_file_config=config)
            info.require(mode)
            # Refused before anything is evicted: a single file needs a loader and its configs.
            single_file_class = (
                _single_file_class(info, config) if info.format != DIFFUSERS else None
            )
            if _evict_down_to(_max_models - 1):
                _free_device_memory()
            _make_room(info.weights_bytes)
            entry = _load(info, config, single_file_class)
            _cache[key] = entry
        else:
            entry.info.require(mode)
            _cache.move_to_end(key)
        compile_now = _compile_by_default if compile_unet is None else compile_unet
        if compile_now and not entry.compiled:
            _compile_denoiser(entry.base)
            entry.compiled = True
        scheduler_class = _scheduler_class(entry, scheduler)
        slot = (mode, "" if scheduler_class is type(entry.base.scheduler) else scheduler)
        pipeline = entry.pipelines.get(slot)
        if pipeline is None:
            pipeline = _derive(entry.base, mode, scheduler_class)
            entry.pipelines[slot] = pipeline
        return pipeline


def load_text_to_image(model_path: str | Path) -> DiffusionPipeline:
    """Return the text-to-image pipeline stored at ``model_path``, loading it at most once."""
    return load_pipeline(model_path, TEXT_TO_IMAGE)


def cached_models() -> list[Path]:
    """Paths of the models loaded in this process, least recently used first."""
    with _lock:
        return [path for path, _config in _cache]


def clear_model_cache() -> None:
    """Drop every cached pipeline and give freed GPU memory back to the driver."""
    with _lock:
        _evict_down_to(0)
    _free_device_memory()


def _load(info: ModelInfo, config: Path | None, single_file_class: Any) -> _LoadedModel:
    """Load a model's base pipeline onto the device (called with ``_lock`` held).

    Any failure but running out of GPU memory becomes ``ModelNotFoundError``: the files passed
    inspection but do not load (corrupt weights, configs that disagree with them, ...).
    """
    try:
        return _load_unchecked(info, config, single_file_class)
    except torch.cuda.OutOfMemoryError:
        raise
    except Exception as error:
        raise ModelNotFoundError(
            f"Could not load {info.path}: {type(error).__name__}: {error}"
        ) from error


def _load_unchecked(info: ModelInfo, config: Path | None, single_file_class: Any) -> _LoadedModel:
    """``_load`` without the error translation."""
    device, dtype = _device_and_dtype()
    started = time.perf_counter()
    # Only Stable Diffusion 1.x/2.x pipelines take these; governance runs its own checks.
    no_checker = (
        {"safety_checker": None, "requires_safety_checker": False}
        if takes_safety_checker(info.family)
        else {}
    )
    pipelines: dict[tuple[str, str], DiffusionPipeline] = {}
    if info.format == DIFFUSERS:
        base_mode = next(m for m in MODES if m in info.capabilities)
        base = _AUTO_PIPELINES[base_mode].from_pretrained(
            info.path, local_files_only=True, dtype=dtype, **no_checker
        )
        pipelines[(base_mode, "")] = base
    else:
        base = single_file_class.from_single_file(
            str(info.path),
            config=str(config),
            local_files_only=True,
            torch_dtype=dtype,
            **no_checker,
        )
    base.to(device)
    base.set_progress_bar_config(disable=True)
    logger.info(
        "Loaded %s (%s) on %s in %.1f s",
        info.path,
        type(base).__name__,
        device,
        time.perf_counter() - started,
    )
    return _LoadedModel(info=info, base=base, pipelines=pipelines)


def _single_file_class(info: ModelInfo, config: Path | None) -> Any:
    """The diffusers pipeline class that loads this single-file checkpoint with ``config``."""
    if config is None:
        # Without a local config directory diffusers would fetch one from the Hugging Face Hub.
        raise ModelNotFoundError(
            f"{info.path} is a single-file checkpoint; loading it needs single_file_config, a "
            "local diffusers directory with the pipeline's model_index.json and component configs"
        )
    import diffusers

    pipeline_class = getattr(diffusers, info.pipeline_class or "", None)
    if pipeline_class is None or not hasattr(pipeline_class, "from_single_file"):
        raise ModelNotFoundError(
            f"{config} names pipeline {info.pipeline_class!r}, which cannot load single files"
        )
    return pipeline_class


def _scheduler_class(entry: _LoadedModel, name: str | None) -> type:
    """The scheduler class called ``name`` if the model's scheduler lists it as compatible."""
    own = type(entry.base.scheduler)
    if not name or name == own.__name__:
        return own
    compatible = {cls.__name__: cls for cls in entry.base.scheduler.compatibles}
    if name not in compatible:
        raise ValueError(
            f"Scheduler {name!r} does not work with {entry.info.path} ({own.__name__}); "
            f"choose one of: {', '.join(sorted(compatible))}"
        )
    return compatible[name]


def _derive(base: DiffusionPipeline, mode: str, scheduler_class: type) -> DiffusionPipeline:
    """A pipeline for ``mode`` sharing ``base``'s models, with a scheduler of its own.

    The scheduler is built from the model's scheduler config, so a swapped-in class keeps the
    checkpoint's noise schedule (betas, prediction type, timestep spacing).
    """
    scheduler = scheduler_class.from_config(base.scheduler.config)
    pipeline = _AUTO_PIPELINES[mode].from_pipe(base, scheduler=scheduler)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def _compile_denoiser(pipeline: DiffusionPipeline) -> None:
    """``torch.compile`` the UNet (or diffusion transformer) in place.

    In place (``Module.compile``) rather than ``pipe.unet = torch.compile(pipe.unet)``: the
    module object stays the same, so every mode's pipeline, which shares it, runs compiled.
    """
    denoiser = getattr(pipeline, "unet", None) or getattr(pipeline, "transformer", None)
    if denoiser is not None:
        denoiser.compile()


def _evict_down_to(count: int) -> bool:
    """Evict least recently used models until at most ``count`` remain; whether any went."""
    evicted = False
    while len(_cache) > count:
        _evict_oldest()
        evicted = True
    return evicted


def _evict_oldest() -> None:
    """Drop the least recently used model and its derived pipelines (``_lock`` held)."""
    key, entry = _cache.popitem(last=False)
    entry.pipelines.clear()
    logger.info("Evicted model %s from the cache", key[0])


def _free_device_memory() -> None:
    """Collect dropped pipelines and hand cached CUDA blocks back to the driver."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _make_room(weights_bytes: int) -> None:
    """On CUDA, evict least recently used models until the new model's weights should fit."""
    if not torch.cuda.is_available():
        return
    needed = int(weights_bytes * MEMORY_MARGIN)
    while True:
        _free_device_memory()
        free, _total = torch.cuda.mem_get_info()
        if free >= needed or not _cache:
            if free < needed:
                logger.warning("Loading a model needing ~%d bytes with %d free", needed, free)
            return
        _evict_oldest()


def _fit(image: Image.Image, mode: str, size: tuple[int, int], resample: int) -> Image.Image:
    """``image`` converted to ``mode`` and resized to exactly ``size`` (width, height)."""
    image = image if image.mode == mode else image.convert(mode)
    return image if image.size == size else image.resize(size, resample)


def _mode_inputs(
    params: GenerationParams, init_image: Image.Image | None, mask_image: Image.Image | None
) -> dict[str, Any]:
    """The pipeline keyword arguments specific to ``params.mode``; checks the input images."""
    size = (params.width, params.height)
    if params.mode == TEXT_TO_IMAGE:
        if init_image is not None or mask_image is not None:
            raise ValueError("text-to-image takes no init_image or mask_image")
        return {"width": params.width, "height": params.height}
    if init_image is None:
        raise ValueError(f"{params.mode} needs an init_image to start from")
    image = _fit(init_image, "RGB", size, Image.Resampling.LANCZOS)
    if params.mode == IMAGE_TO_IMAGE:
        if mask_image is not None:
            raise ValueError("image-to-image takes no mask_image; use inpainting")
        return {"image": image, "strength": params.strength}
    if mask_image is None:
        raise ValueError("inpainting needs a mask_image (white: repaint, black: keep)")
    mask = _fit(mask_image, "L", size, Image.Resampling.NEAREST)
    return {
        "image": image,
        "mask_image": mask,
        "strength": params.strength,
        "width": params.width,
        "height": params.height,
    }


def _is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` means the device (GPU or CPU) ran out of memory."""
    if isinstance(error, torch.cuda.OutOfMemoryError | MemoryError):
        return True
    message = str(error).lower()
    return isinstance(error, RuntimeError) and any(m in message for m in _OOM_MESSAGES)


def run_with_oom_retry(
    run_batch: Callable[[int, int], list[T]],
    *,
    num_images: int,
    width: int,
    height: int,
    retry: bool,
    on_oom: Callable[[], None] | None = None,
) -> list[T]:
    """Run ``run_batch(0, num_images)``; on CUDA out-of-memory, retry once in two halves.

    ``run_batch(first, count)`` must produce images ``first .. first + count - 1`` (image ``i``
    seeded with ``seed + i``), so the halves reassemble into the same list. With ``retry``
    (CUDA), a ``torch.cuda.OutOfMemoryError`` calls ``on_oom`` (to free cached memory) and runs
    ``run_batch(0, ceil(n / 2))`` then ``run_batch(ceil(n / 2), floor(n / 2))``; a single image
    is retried once as is. Any out-of-memory error otherwise, or again, raises
    ``GenerationOutOfMemory``; every other exception propagates unchanged.
    """
    device = "GPU" if retry else "CPU"
    try:
        return run_batch(0, num_images)
    except Exception as error:
        if not _is_out_of_memory(error):
            raise
        if not (retry and isinstance(error, torch.cuda.OutOfMemoryError)):
            raise GenerationOutOfMemory(
                num_images=num_images, width=width, height=height, device=device
            ) from error
        logger.warning("Out of GPU memory for %d images; retrying in two halves", num_images)
    # Retried outside the except block, so the failed attempt's frames (and tensors) are freed.
    if on_oom is not None:
        on_oom()
    first_half = (num_images + 1) // 2
    try:
        images = run_batch(0, first_half)
        if num_images > first_half:
            images += run_batch(first_half, num_images - first_half)
    except Exception as error:
        if _is_out_of_memory(error):
            raise GenerationOutOfMemory(
                num_images=num_images, width=width, height=height, device=device
            ) from error
        raise
    return images


def generate(
    *,
    model_path: str | Path,
    params: GenerationParams,
    on_step: Callable[[int, int], None] | None = None,
    init_image: Image.Image | None = None,
    mask_image: Image.Image | None = None,
    scheduler: str | None = None,
    single_file_config: str | Path | None = None,
) -> list[Image.Image]:
    """Run ``params.mode`` and return ``params.num_images`` PIL images.

    Image-to-image needs ``init_image``; inpainting needs ``init_image`` and ``mask_image``
    (white: repaint); both are resized to ``params.width`` by ``params.height``. Image ``i`` is
    drawn from its own generator seeded with ``params.seed + i``. ``on_step`` is called after each
    denoising step with ``(steps_done, total_steps)``; the total is the number of steps really
    run (fewer than ``params.steps`` when ``strength < 1``, doubled if an out-of-memory retry
    splits the batch). ``scheduler`` names a compatible diffusers scheduler class to use instead
    of the model's own. Runs in one process take turns (they share pipelines, which keep
    per-run state). Raises ``GenerationOutOfMemory`` when the batch does not fit.
    """
    inputs = _mode_inputs(params, init_image, mask_image)
    pipeline = load_pipeline(
        model_path, params.mode, scheduler=scheduler, single_file_config=single_file_config
    )
    device = pipeline.device

    def run_batch(first: int, count: int) -> list[Image.Image]:
        part, parts = (0 if first == 0 else 1), (1 if count == params.num_images else 2)
        generators = [
            torch.Generator(device=device).manual_seed(params.seed + first + index)
            for index in range(count)
        ]

        def step_end(
            pipe: DiffusionPipeline, step: int, timestep: Any, callback_kwargs: dict[str, Any]
        ) -> dict[str, Any]:
            if on_step is not None:
                per_run = getattr(pipe, "num_timesteps", None) or params.denoising_steps
                on_step(part * per_run + step + 1, parts * per_run)
            return callback_kwargs

        # Size and step callback as this family's pipeline takes them (families.py).
        options = pipeline_call_options(
            pipeline,
            width=params.width,
            height=params.height,
            negative_prompt=params.negative_prompt,
            on_step_end=step_end,
        )
        with torch.inference_mode():
            result = pipeline(
                prompt=params.prompt,
                num_inference_steps=params.steps,
                guidance_scale=params.guidance_scale,
                num_images_per_prompt=count,
                generator=generators,
                output_type="pil",
                **(options | batch_inputs(pipeline, inputs, count)),
            )
        return list(result.images)

    with _run_lock:
        # On the modules every mode's pipeline shares: switching styles never reloads the base.
        adapters_apply(pipeline, params.adapters)
        return run_with_oom_retry(
            run_batch,
            num_images=params.num_images,
            width=params.width,
            height=params.height,
            retry=device.type == "cuda",
            on_oom=_free_device_memory,
        )


@dataclass
class BatchItem:
    """One request's share of a cross-request batch (``generate_batch``): its own prompt,
    seed (image ``i`` is drawn from a generator seeded with ``seed + i``), number of images
    and step callback. A callback that raises drops the item (its images are not returned:
    ``error`` holds the exception) while the others go on."""

    prompt: str
    negative_prompt: str
    seed: int
    num_images: int = 1
    on_step: Callable[[int, int], None] | None = None
    error: BaseException | None = None
    images: list[Image.Image] = field(default_factory=list)


class BatchDropped(Exception):
    """Every item of a batch was dropped (all cancelled): the run stops."""


#: The parameters that must be equal for two requests to share a batch: everything that is
#: not the request's own (prompt, negative prompt, seed, number of images).
BATCH_OWN_FIELDS = ("prompt", "negative_prompt", "seed", "num_images")


def batch_key(params: GenerationParams) -> tuple:
    """What two runs must share to be generated in one batch (with the model, scheduler and
    checkpoint config): every field of ``params`` but the request's own, so a field added to
    ``GenerationParams`` (styles, adapters) splits batches without a change here."""
    return tuple(
        (name, getattr(params, name))
        for name in sorted(params.__dataclass_fields__)
        if name not in BATCH_OWN_FIELDS
    )


def generate_batch(
    *,
    model_path: str | Path,
    params: GenerationParams,
    items: list[BatchItem],
    scheduler: str | None = None,
    single_file_config: str | Path | None = None,
) -> list[BatchItem]:
    """Text-to-image for several requests in one batch: ``params`` gives what they share
    (``batch_key``; its prompt, seed and count are ignored), each item its own prompt, seed
    and count. Returns ``items`` with ``images`` filled, or ``error`` set for an item whose
    callback raised (a cancelled request: its rows are still computed to the end of the
    batch, since diffusers runs the batch as one tensor, but nothing of it is returned and
    its callback is not called again). Raises ``BatchDropped`` when every item was dropped.

    Image ``i`` of an item is the image ``generate`` makes with that item's seed: same
    generator, same initial noise; the pixels can differ by float rounding across batch
    sizes (a few levels of 255 on a CPU)."""
    if params.mode != TEXT_TO_IMAGE:
        raise ValueError("generate_batch runs text-to-image only")
    pipeline = load_pipeline(
        model_path, params.mode, scheduler=scheduler, single_file_config=single_file_config
    )
    device = pipeline.device
    prompts, negatives, generators, owners = [], [], [], []
    for item in items:
        for index in range(item.num_images):
            prompts.append(item.prompt)
            negatives.append(item.negative_prompt or "")
            generators.append(torch.Generator(device=device).manual_seed(item.seed + index))
            owners.append(item)

    def step_end(
        pipe: DiffusionPipeline, step: int, timestep: Any, callback_kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        total = getattr(pipe, "num_timesteps", None) or params.denoising_steps
        for item in items:
            if item.error is None and item.on_step is not None:
                try:
                    item.on_step(step + 1, total)
                except Exception as error:  # the item's own end (cancelled): the rest go on
                    item.error = error
        if all(item.error is not None for item in items):
            raise BatchDropped("every request of the batch was dropped")
        return callback_kwargs

    negative = negatives if any(negatives) else None
    with _run_lock, torch.inference_mode():
        adapters_apply(pipeline, params.adapters)  # the batch's styles (part of its key)
        try:
            result = pipeline(
                prompt=prompts,
                negative_prompt=negative,
                num_inference_steps=params.steps,
                guidance_scale=params.guidance_scale,
                num_images_per_prompt=1,
                generator=generators,
                width=params.width,
                height=params.height,
                output_type="pil",
                callback_on_step_end=step_end,
            )
        except Exception as error:
            if _is_out_of_memory(error):
                raise GenerationOutOfMemory(
                    num_images=len(prompts),
                    width=params.width,
                    height=params.height,
                    device=device.type.upper().replace("CUDA", "GPU"),
                ) from error
            raise
    for owner, image in zip(owners, result.images, strict=True):
        if owner.error is None:
            owner.images.append(image)
    return items


def warm_up(
    model_path: str | Path,
    *,
    width: int,
    height: int,
    steps: int = 2,
    single_file_config: str | Path | None = None,
) -> float:
    """Load a model and run one small generation; return the seconds it took.

    Why: a worker calls this at start so that loading, ``torch.compile`` and first-call costs
    (kernel selection, allocator growth) are paid before the first job. A compiled UNet is
    specialised to the shapes it saw, so warm up at the size most jobs use.
    """
    started = time.perf_counter()
    path = resolve_model_path(model_path)
    config = single_file_config if path.is_file() else None
    # Text-to-image where the model can; an inpainting-only model warms up inpainting.
    info = inspect_model(path, single_file_config=config)
    mode = next((m for m in MODES if m in info.capabilities), TEXT_TO_IMAGE)
    init = Image.new("RGB", (width, height), (127, 127, 127)) if mode != TEXT_TO_IMAGE else None
    mask = Image.new("L", (width, height), 255) if mode == INPAINTING else None
    params = GenerationParams(
        prompt="warm-up",
        negative_prompt="",
        width=width,
        height=height,
        steps=steps,
        guidance_scale=5.0,  # > 1 so the classifier-free-guidance batch shape is compiled
        seed=0,
        num_images=1,
        mode=mode,
        strength=1.0,
    )
    generate(
        model_path=model_path,
        params=params,
        init_image=init,
        mask_image=mask,
        single_file_config=single_file_config,
    )
    return time.perf_counter() - started


def image_to_png_bytes(image: Image.Image) -> bytes:
    """Encode ``image`` as PNG with no metadata, so identical pixels give identical bytes."""
    if image.mode not in {"RGB", "RGBA", "L"}:
        image = image.convert("RGB")
    # A fresh image carries no info/ICC/EXIF that PIL might otherwise copy into the file.
    bare = Image.frombytes(image.mode, image.size, image.tobytes())
    buffer = io.BytesIO()
    bare.save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()
