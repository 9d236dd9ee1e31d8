"""Train a LoRA style adapter on a Stable-Diffusion-style pipeline, resumably, on a budget.

Why: a brand trains a style on a dozen of its own images. A low-rank adapter (peft ``LoraConfig``
on the UNet's attention projections, optionally the text encoder's) is a few hundred kilobytes
to a few megabytes, trains in minutes, and loads onto the warm base pipeline at generation
time (``adapters.py``) without reloading it. Training is the standard noise-prediction loss
(epsilon or v-prediction, whichever the model was trained for) against the model's own noise
schedule, run as a DDPM scheduler.

Checkpoints (adapter weights, optimiser state, step, random state, losses) are written every
``checkpoint_every`` steps and when stopped, atomically, into the output folder; a call with
an output folder that holds one continues from it, so an interruption (cancel, time budget, a
killed process) loses at most ``checkpoint_every`` steps. All randomness (batches, noise,
timesteps) comes from one seeded generator whose state is checkpointed, so on one device an
interrupted and resumed run ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from generation.engine.lora_checkpoint import (
    CHECKPOINT_FILE,
    TEXT_ENCODER_TARGETS,
    UNET_TARGETS,
    WEIGHTS_FILE,
    file_digest,
    restore_checkpoint,
    save_checkpoint,
    unet_targets,
)

__all__ = [
    "CHECKPOINT_FILE",
    "LR_SCHEDULES",
    "TEXT_ENCODER_TARGETS",
    "UNET_TARGETS",
    "WEIGHTS_FILE",
    "LoraTrainConfig",
    "LoraTrainResult",
    "lora_train",
]

logger = logging.getLogger(__name__)

LR_SCHEDULES = ("constant", "cosine")

#: Components a folder needs to be trained here (a Stable Diffusion 1.x/2.x layout).
_SD_COMPONENTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")


@dataclass
class LoraTrainConfig:
    """What to train and for how long."""

    rank: int = 4
    #: LoRA's scaling numerator (the update is scaled by alpha / rank); ``None``: equal to rank.
    alpha: int | None = None
    steps: int = 300
    learning_rate: float = 1e-3
    batch_size: int = 4
    #: Training image side in pixels; ``None``: the model's native size.
    resolution: int | None = None
    train_text_encoder: bool = False
    #: Stop (with a checkpoint) once a call has trained this many seconds.
    time_budget_s: float | None = None
    #: Refuse a configuration whose adapter file would exceed this many bytes.
    max_bytes: int | None = None
    seed: int = 0
    checkpoint_every: int = 50
    #: Gradients are clipped to this norm (as diffusers' training scripts do); None: not at all.
    max_grad_norm: float | None = 1.0
    #: Random horizontal flips of the training images (diffusers' ``--random_flip``): twice
    #: the views of a small set.
    flip: bool = False
    #: Weight of the prior-preservation loss when ``lora_train`` is given prior images.
    prior_weight: float = 1.0
    #: Share of training rows whose caption is replaced by the empty one (as the base model
    #: was trained for classifier-free guidance): the adapter then changes the unconditional
    #: prediction too, so guidance does not amplify the style's difference from it.
    caption_dropout: float = 0.0
    #: Adapt the UNet's convolutions too (``UNET_CONV_TARGETS``), not only its attention.
    convolutions: bool = False
    #: ``constant``, or ``cosine``: the rate falls from ``learning_rate`` to 0 along a half
    #: cosine over ``steps`` (the last steps move the adapter little, so where training stops
    #: matters less). It is a function of the step alone, so a resumed run follows it too.
    lr_schedule: str = "constant"
    #: Min-SNR loss weighting (Hang et al. 2023; diffusers' ``--snr_gamma``, 5 there): each
    #: row's loss weighted by min(SNR, gamma) / SNR, so the nearly clean timesteps, whose
    #: detail the adapter should not fit, count less. None: every timestep alike.
    snr_gamma: float | None = None
    #: Noise offset (diffusers' ``--noise_offset``): a per-image, per-channel constant of this
    #: scale added to the noise, which lets the model change an image's overall brightness.
    noise_offset: float = 0.0

    def __post_init__(self) -> None:
        if self.rank < 1:
            raise ValueError(f"rank must be at least 1, got {self.rank}")
        if self.alpha is not None and self.alpha < 1:
            raise ValueError(f"alpha must be at least 1, got {self.alpha}")
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.resolution is not None and (self.resolution < 8 or self.resolution % 8):
            raise ValueError(f"resolution must be a multiple of 8, got {self.resolution}")
        if not 0 <= self.caption_dropout < 1:
            raise ValueError(f"caption_dropout must be in [0, 1), got {self.caption_dropout}")
        if self.prior_weight < 0:
            raise ValueError(f"prior_weight must not be negative, got {self.prior_weight}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if self.snr_gamma is not None and not self.snr_gamma > 0:
            raise ValueError(f"snr_gamma must be positive, got {self.snr_gamma}")
        if not 0 <= self.noise_offset < 1:
            raise ValueError(f"noise_offset must be in [0, 1), got {self.noise_offset}")
        if self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be at least 1, got {self.checkpoint_every}")

    @property
    def lora_alpha(self) -> int:
        return self.rank if self.alpha is None else self.alpha


@dataclass
class LoraTrainResult:
    """Where the adapter is and how training went."""

    #: ``<out_dir>/pytorch_lora_weights.safetensors``: the final weights, or the latest
    #: checkpoint's when training stopped early.
    weights_path: Path
    steps_done: int
    #: False when stopped by ``should_stop`` or the time budget (call again to resume).
    completed: bool
    #: Loss of every step done so far, across resumptions.
    losses: list[float] = field(default_factory=list)
    sha256: str = ""
    bytes: int = 0
    #: Seconds this call took (loading included).
    seconds: float = 0.0

    @classmethod
    def of(cls, weights: Path, *, started: float, **facts: Any) -> LoraTrainResult:
        """The result for the adapter file ``weights`` (digest and size read from it) of a
        call that began at ``time.perf_counter()`` value ``started``."""
        digest, size = file_digest(weights)
        seconds = time.perf_counter() - started
        return cls(weights_path=weights, sha256=digest, bytes=size, seconds=seconds, **facts)


def _learning_rate(config: LoraTrainConfig, step: int) -> float:
    """The rate of the step after ``step`` steps (the schedule depends on the step alone)."""
    if config.lr_schedule == "cosine":
        return config.learning_rate * 0.5 * (1 + math.cos(math.pi * step / config.steps))
    return config.learning_rate


def _min_snr_weights(alphas: torch.Tensor, gamma: float, prediction: str) -> torch.Tensor:
    """Min-SNR-gamma weights of rows at noise levels ``alphas`` (cumulative products)."""
    snr = alphas / (1 - alphas)
    clipped = torch.clamp(snr, max=gamma)
    if prediction == "v_prediction":
        return clipped / (snr + 1)
    if prediction == "sample":
        return clipped
    return clipped / snr


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _check_sd_folder(model_path: Path) -> dict[str, Any]:
    """The folder's ``model_index.json``, or a ValueError saying why it cannot be trained."""
    index_file = model_path / "model_index.json"
    if not model_path.is_dir() or not index_file.is_file():
        raise ValueError(
            f"{model_path} is not a diffusers pipeline folder (no model_index.json); a style "
            "is trained on a Stable-Diffusion-style pipeline folder"
        )
    index = json.loads(index_file.read_text())
    missing = [name for name in _SD_COMPONENTS if not index.get(name)]
    if missing:
        raise ValueError(
            f"{model_path} ({index.get('_class_name', 'unknown pipeline')}) is not a "
            f"Stable-Diffusion-style pipeline: it has no {', '.join(missing)}"
        )
    return index


def _load_components(model_path: Path, device: torch.device) -> dict[str, Any]:
    """UNet, VAE, text encoder, tokenizer and a DDPM scheduler with the model's schedule."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    local = {"local_files_only": True}
    try:
        unet = UNet2DConditionModel.from_pretrained(model_path, subfolder="unet", **local)
        vae = AutoencoderKL.from_pretrained(model_path, subfolder="vae", **local)
        # bandit: local folders (local_files_only=True): nothing is downloaded.
        text_encoder = CLIPTextModel.from_pretrained(  # nosec B615
            model_path, subfolder="text_encoder", **local
        )
        tokenizer = CLIPTokenizer.from_pretrained(  # nosec B615
            model_path, subfolder="tokenizer", **local
        )
        # DDPM is the training-time view of any of SD's schedulers: the same betas, prediction
        # type and zero-terminal-SNR rescaling, read from the model's scheduler config.
        scheduler = DDPMScheduler.from_pretrained(model_path, subfolder="scheduler", **local)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"{model_path} does not load as a Stable-Diffusion-style pipeline: "
            f"{type(error).__name__}: {error}"
        ) from error
    for module in (unet, vae, text_encoder):
        module.requires_grad_(False)
        module.to(device)
        module.eval()
    return {
        "unet": unet,
        "vae": vae,
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "scheduler": scheduler,
    }


def _pixels(images: list[Image.Image], side: int) -> torch.Tensor:
    """Images centre-cropped to squares, resized to ``side``, as NCHW floats in [-1, 1]."""
    rows = []
    for image in images:
        image = image.convert("RGB")
        width, height = image.size
        crop = min(width, height)
        left, top = (width - crop) // 2, (height - crop) // 2
        image = image.crop((left, top, left + crop, top + crop))
        if image.size != (side, side):
            image = image.resize((side, side), Image.Resampling.LANCZOS)
        rows.append(np.asarray(image, dtype=np.float32))
    return torch.from_numpy(np.stack(rows)).permute(0, 3, 1, 2).div(127.5).sub(1.0)


def _tokens(tokenizer: Any, captions: list[str]) -> torch.Tensor:
    return tokenizer(
        captions,
        padding="max_length",
        max_length=tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    ).input_ids


def _lora_config(rank: int, alpha: int, targets: tuple[str, ...]) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=rank,
        lora_alpha=alpha,
        init_lora_weights="gaussian",
        target_modules=list(targets),
    )


def _add_text_encoder_adapter(text_encoder: Any, lora_config: Any) -> None:
    """peft's own injection (as diffusers does for the UNet): transformers' ``add_adapter``
    insists on newer peft releases than diffusers needs."""
    from peft import inject_adapter_in_model

    inject_adapter_in_model(lora_config, text_encoder, adapter_name="default")
    text_encoder.peft_config = {"default": lora_config}  # what peft's state-dict helpers read


def _lora_parameters(module: torch.nn.Module) -> list[torch.nn.Parameter]:
    return [p for name, p in module.named_parameters() if "lora_" in name]


def _estimated_bytes(modules: list[torch.nn.Module]) -> int:
    """The adapter file's size: its float32 LoRA tensors (the safetensors header is small)."""
    return sum(p.numel() * 4 for module in modules for p in _lora_parameters(module))


def lora_train(
    model_path: str | Path,
    images: list[Image.Image],
    captions: list[str],
    out_dir: Path,
    config: LoraTrainConfig,
    *,
    progress: Callable[[int, int, float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    prior: tuple[list[Image.Image], list[str]] | None = None,
) -> LoraTrainResult:
    """Train (or continue training) a LoRA adapter of ``model_path`` on ``images``/``captions``.

    ``images[i]`` is described by ``captions[i]``. The adapter is written to
    ``out_dir/pytorch_lora_weights.safetensors`` in diffusers' LoRA format (load it with
    ``pipeline.load_lora_weights(out_dir, weight_name=WEIGHTS_FILE, adapter_name=...)``).
    ``progress(step, steps, loss)`` is called after every step; ``should_stop()`` is asked
    before every step and, when true, the run checkpoints and returns ``completed=False``, as
    it does when ``config.time_budget_s`` is spent. Raises ValueError for no images, images and
    captions of different counts, a folder that is not a Stable-Diffusion-style pipeline, an
    adapter over ``config.max_bytes``, or a checkpoint in ``out_dir`` made with other settings.

    ``prior`` (images, captions): DreamBooth's prior preservation. Images of the same subjects
    without the style (typically the base model's own, for the captions without the trigger
    word) are trained on beside the style's, each step a batch of each, their loss weighted
    by ``config.prior_weight``: the adapter then learns what the style adds, and keeps drawing
    the subjects the way the base model does.
    """
    started = time.perf_counter()
    images, captions = list(images), list(captions)
    if not images:
        raise ValueError("a style needs at least one training image; none were given")
    if len(images) != len(captions):
        raise ValueError(
            f"every training image needs one caption: got {len(images)} images and "
            f"{len(captions)} captions"
        )
    prior_images, prior_captions = (list(part) for part in (prior or ([], [])))
    if len(prior_images) != len(prior_captions):
        raise ValueError(
            f"every prior image needs one caption: got {len(prior_images)} images and "
            f"{len(prior_captions)} captions"
        )
    model_path = Path(model_path)
    _check_sd_folder(model_path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = _device()
    parts = _load_components(model_path, device)
    unet, vae, text_encoder = parts["unet"], parts["vae"], parts["text_encoder"]
    scheduler = parts["scheduler"]
    vae_scale = 2 ** (len(vae.config.block_out_channels) - 1)
    side = config.resolution or int(unet.config.sample_size) * vae_scale

    trained_encoder = None
    # peft draws the LoRA "A" matrices from torch's global generator: seed it, and leave the
    # caller's random state as it was.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        unet.add_adapter(_lora_config(config.rank, config.lora_alpha, unet_targets(config)))
        if config.train_text_encoder:
            _add_text_encoder_adapter(
                text_encoder, _lora_config(config.rank, config.lora_alpha, TEXT_ENCODER_TARGETS)
            )
            trained_encoder = text_encoder
    modules = [unet] + ([text_encoder] if trained_encoder is not None else [])
    estimate = _estimated_bytes(modules)
    if config.max_bytes is not None and estimate > config.max_bytes:
        raise ValueError(
            f"a rank-{config.rank} adapter of this model takes about {estimate:,} bytes, over "
            f"the limit of {config.max_bytes:,}; choose a lower rank"
        )
    parameters = [p for module in modules for p in _lora_parameters(module)]
    for parameter in parameters:
        parameter.requires_grad_(True)
        parameter.data = parameter.data.float()

    with torch.no_grad():
        # The style's images first, then the prior's; rows of the same index in every tensor.
        pixels = _pixels(images + prior_images, side).to(device)
        if config.flip:  # the mirrored views follow, in the same order
            pixels = torch.cat([pixels, pixels.flip(3)])
        # The mean of the VAE's posterior: fixed latents make runs reproducible and cheap.
        latents = torch.cat(
            [vae.encode(pixels[i : i + 8]).latent_dist.mean for i in range(0, len(pixels), 8)]
        )
        latents = latents * vae.config.scaling_factor
        # The empty caption is the last row, drawn by caption dropout.
        tokens = _tokens(parts["tokenizer"], captions + prior_captions + [""]).to(device)
        fixed_states = None if trained_encoder is not None else text_encoder(tokens)[0]
    del vae, pixels

    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=1e-2)
    generator = torch.Generator(device="cpu").manual_seed(config.seed)
    step, losses = restore_checkpoint(
        out_dir,
        unet=unet,
        text_encoder=trained_encoder,
        optimizer=optimizer,
        generator=generator,
        config=config,
    )
    prediction = scheduler.config.prediction_type
    alphas = scheduler.alphas_cumprod.to(device)
    count, prior_count = len(images), len(prior_images)

    def draw(first: int, size: int) -> torch.Tensor:
        """Indices of a batch of ``size`` rows from ``first`` on (latents and tokens)."""
        index = torch.randperm(size, generator=generator)[: min(config.batch_size, size)]
        if config.batch_size > size:
            extra = torch.randint(0, size, (config.batch_size - size,), generator=generator)
            index = torch.cat([index, extra])
        return index + first

    completed = step >= config.steps
    last_saved = step
    # What every checkpoint of this run saves; only the step and whether it is the end differ.
    checkpoint = functools.partial(
        save_checkpoint,
        out_dir,
        unet=unet,
        text_encoder=trained_encoder,
        optimizer=optimizer,
        generator=generator,
        losses=losses,
        config=config,
    )
    unet.train()
    if trained_encoder is not None:
        trained_encoder.train()
    while step < config.steps:
        if should_stop is not None and should_stop():
            break
        if (
            config.time_budget_s is not None
            and time.perf_counter() - started > config.time_budget_s
        ):
            break
        # Every random draw of the step comes from the checkpointed generator, on the CPU.
        index = draw(0, count)
        if prior_count:
            index = torch.cat([index, draw(count, prior_count)])
        token_index = index
        if config.caption_dropout:
            dropped = torch.rand(len(index), generator=generator) < config.caption_dropout
            token_index = torch.where(dropped, len(tokens) - 1, index)
        if config.flip:  # each row mirrored or not, by a coin
            mirrored = torch.rand(len(index), generator=generator) < 0.5
            index = index + mirrored.long() * (count + prior_count)
        batch = latents[index.to(device)]
        noise = torch.randn(batch.shape, generator=generator)
        if config.noise_offset:
            noise += config.noise_offset * torch.randn(*batch.shape[:2], 1, 1, generator=generator)
        noise = noise.to(device)
        timesteps = torch.randint(
            0, scheduler.config.num_train_timesteps, (len(index),), generator=generator
        ).to(device)
        noisy = scheduler.add_noise(batch, noise, timesteps)
        if trained_encoder is not None:
            states = trained_encoder(tokens[token_index.to(device)])[0]
        else:
            states = fixed_states[token_index.to(device)]
        predicted = unet(noisy, timesteps, states, return_dict=False)[0]
        if prediction == "v_prediction":
            a = alphas[timesteps].sqrt().view(-1, 1, 1, 1)
            s = (1 - alphas[timesteps]).sqrt().view(-1, 1, 1, 1)
            target = a * noise - s * batch
        elif prediction == "sample":
            target = batch
        else:
            target = noise
        errors = F.mse_loss(predicted.float(), target.float(), reduction="none")
        errors = errors.mean(dim=(1, 2, 3))
        if config.snr_gamma is not None:
            errors = errors * _min_snr_weights(alphas[timesteps], config.snr_gamma, prediction)
        style_rows = len(errors) if not prior_count else len(errors) // 2
        loss = errors[:style_rows].mean()
        if prior_count:
            loss = loss + config.prior_weight * errors[style_rows:].mean()
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(config, step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(parameters, config.max_grad_norm)
        optimizer.step()
        step += 1
        losses.append(float(loss.detach()))
        if progress is not None:
            progress(step, config.steps, losses[-1])
        if step % config.checkpoint_every == 0 and step < config.steps:
            checkpoint(step=step, completed=False)
            last_saved = step
    completed = step >= config.steps
    if step != last_saved or completed or not (out_dir / WEIGHTS_FILE).is_file():
        checkpoint(step=step, completed=completed)
    return LoraTrainResult.of(
        out_dir / WEIGHTS_FILE, started=started, steps_done=step, completed=completed, losses=losses
    )
