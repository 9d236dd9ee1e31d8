"""Train the demo model pack on the procedural dataset: a tiny Stable-Diffusion-architecture
pipeline (VAE, then UNet with text encoder) and a tiny open_clip model.

Why: a fresh install must generate real pictures and the checks need a real CLIP model, with
nothing downloaded. Every stage is seeded, runs for a time budget, shows progress, and saves a
checkpoint every few minutes and at the end, so an interrupted run resumes where it stopped
(a finished stage is skipped). The exported models load through the same loaders as real
SD 1.5 and open_clip checkpoints.

Recipe (what each choice is for):
- VAE: 64x64 pixels to 16x16x4 latents, L1 + MSE with a tiny KL term; latents are scaled to
  unit variance (``scaling_factor``) as SD's are.
- UNet: v-prediction on a zero-terminal-SNR schedule (the last training step is pure noise,
  as sampling starts from pure noise, so colours do not drift), 10 % empty captions for
  classifier-free guidance, EMA weights, balanced rounds over every training combination.
- Text encoder: a CLIP text transformer trained with the UNet, on a CLIP tokenizer cut to the
  first merges of CLIP's BPE vocabulary (the embedding table is most of a tiny model's size).
- CLIP: contrastive, with soft targets: a caption is a positive for every image it is true of
  ("a star" matches every star in the batch), not only for its own image.
"""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from itertools import islice, repeat
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from generation.demo.dataset import (
    BACKGROUND_STYLES,
    COLOURS,
    SHAPES,
    Scene,
    caption_variants,
    render_batch,
    scenes,
)

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Where the shipped pack lives.
DEMO_MODELS_DIR = REPO_ROOT / "generation" / "demo_models"
DEMO_PIPELINE_DIR = DEMO_MODELS_DIR / "tiny-sd"
DEMO_CLIP_DIR = DEMO_MODELS_DIR / "tiny-clip"
CLIP_ARCHITECTURE = "imprimatur-demo-clip"
CLIP_CONFIG_FILE = DEMO_CLIP_DIR / f"{CLIP_ARCHITECTURE}.json"
CLIP_CHECKPOINT = DEMO_CLIP_DIR / "open_clip_model.safetensors"

IMAGE_SIZE = 64
#: Merges of CLIP's BPE kept by the demo pipeline's tokenizer; rarer words split into pieces.
TOKENIZER_MERGES = 10_000
#: Classifier-free guidance the demo pipeline is registered with (chosen by the evaluation).
RECOMMENDED_GUIDANCE = 5.0
#: Small batches: on a CPU, more steps of fewer images train this VAE faster.
VAE_BATCH = 16
#: Seconds between checkpoints.
CHECKPOINT_EVERY = 180.0

#: The tiny open_clip architecture (an open_clip model config; the file name is its name).
CLIP_MODEL_CONFIG = {
    "embed_dim": 96,
    "quick_gelu": True,
    "vision_cfg": {
        "image_size": IMAGE_SIZE,
        "layers": 3,
        "width": 96,
        "patch_size": 8,
        "head_width": 32,
    },
    "text_cfg": {"context_length": 24, "vocab_size": 49408, "width": 64, "heads": 4, "layers": 3},
}


@dataclass
class Budget:
    """Wall-clock minutes for each stage (a resumed stage counts the time it already had)."""

    vae: float = 24.0
    unet: float = 66.0
    #: Decoder-only fine-tuning after the UNet (the encoder, hence the latents, stay fixed).
    decoder: float = 10.0
    clip: float = 36.0


# --- shared machinery --------------------------------------------------------------------------


class Stage:
    """A resumable training stage: keeps elapsed time and step, saves and restores state."""

    def __init__(self, name: str, work_dir: Path, budget_minutes: float, seed: int) -> None:
        self.name = name
        self.path = work_dir / f"{name}.pt"
        self.budget = budget_minutes * 60
        self.seed = seed
        self.step = 0
        self.elapsed = 0.0
        self.done = False
        self._started = time.monotonic()
        self._last_save = time.monotonic()

    def restore(self, modules: dict[str, object]) -> bool:
        """Load a saved state into ``modules`` (name -> object with load_state_dict)."""
        if not self.path.exists():
            return False
        # weights_only: tensors, numbers and tuples only; a checkpoint file runs no code.
        state = torch.load(self.path, map_location="cpu", weights_only=True)
        if state["seed"] != self.seed:
            raise ValueError(f"{self.path} was trained with seed {state['seed']}, not {self.seed}")
        for key, module in modules.items():
            module.load_state_dict(state["modules"][key])
        self.step, self.elapsed = state["step"], state["elapsed"]
        # A finished stage runs on when given a larger budget than it had.
        self.done = state["done"] and self.elapsed >= self.budget
        torch.set_rng_state(state["torch_rng"])
        self.rng_state = state["py_rng"]
        logger.info("%s: resumed at step %d (%.1f min)", self.name, self.step, self.elapsed / 60)
        return True

    def save(self, modules: dict[str, object], rng: random.Random) -> None:
        state = {
            "seed": self.seed,
            "step": self.step,
            "elapsed": self.elapsed,
            "done": self.done,
            "modules": {key: module.state_dict() for key, module in modules.items()},
            "torch_rng": torch.get_rng_state(),
            "py_rng": rng.getstate(),
        }
        scratch = self.path.with_suffix(".pt.tmp")
        torch.save(state, scratch)
        scratch.replace(self.path)  # a crash mid-save keeps the previous checkpoint
        self._last_save = time.monotonic()

    def tick(self, seconds: float) -> None:
        self.elapsed += seconds
        self.step += 1

    @property
    def progress(self) -> float:
        return min(1.0, self.elapsed / self.budget) if self.budget else 1.0

    def due(self) -> bool:
        return time.monotonic() - self._last_save >= CHECKPOINT_EVERY


class EMA:
    """Exponential moving average of parameters, with the usual warm-up of the decay."""

    def __init__(self, module: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.shadow = {k: v.detach().clone() for k, v in module.state_dict().items()}

    @torch.no_grad()
    def update(self, module: torch.nn.Module) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for key, value in module.state_dict().items():
            if value.dtype.is_floating_point:
                self.shadow[key].lerp_(value, 1 - decay)
            else:
                self.shadow[key].copy_(value)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "updates": self.updates, "shadow": self.shadow}

    def load_state_dict(self, state: dict) -> None:
        self.decay, self.updates = state["decay"], state["updates"]
        # Checkpoints load onto the CPU; the shadow stays where the model it follows is.
        self.shadow = {k: v.to(self.shadow[k].device) for k, v in state["shadow"].items()}


def _lr(base: float, progress: float, step: int, warmup: int = 200) -> float:
    """Linear warm-up, then cosine decay to a tenth over the time budget."""
    warm = min(1.0, (step + 1) / warmup)
    return base * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def image_bank(work_dir: Path, seed: int, count: int) -> tuple[np.ndarray, list[Scene]]:
    """``count`` training scenes drawn from ``seed`` and rendered, cached in ``work_dir``."""
    items = list(islice(scenes("train", seed), count))
    cache = work_dir / f"bank-{seed}-{count}.npy"
    if cache.exists():
        return np.load(cache), items
    pixels = np.empty((count, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    chunk = 1000
    starts = range(0, count, chunk)
    parts = [items[start : start + chunk] for start in starts]
    workers = min(len(parts), os.cpu_count() or 1)
    # Each chunk renders alone (the scenes are drawn above), so processes share the work;
    # spawned, not forked: a fork of a process running torch's thread pools can hang.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        rendered = pool.map(render_batch, parts, repeat(IMAGE_SIZE)) if workers > 1 else None
        for start, part in tqdm(
            zip(starts, rendered or map(render_batch, parts, repeat(IMAGE_SIZE)), strict=True),
            total=len(starts),
            desc="render dataset",
            unit="k images",
        ):
            pixels[start : start + chunk] = part
    np.save(cache, pixels)
    return pixels, items


def _to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """uint8 NHWC to float NCHW in [-1, 1], as SD's VAE expects."""
    return torch.from_numpy(pixels).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def _atomic_export(target: Path, write: Callable[[Path], None]) -> None:
    """Write into a scratch directory beside ``target``, then swap it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=target.parent))
    try:
        write(scratch)
        scratch.chmod(0o755)
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
            scratch.rename(target)
            shutil.rmtree(old)
        else:
            scratch.rename(target)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def _loop(stage: Stage, step_fn: Callable[[], float], save: Callable[[], None], desc: str) -> None:
    """Call ``step_fn`` until the stage's budget is spent, with a progress bar and checkpoints."""
    bar = tqdm(total=round(stage.budget), initial=round(stage.elapsed), desc=desc, unit="s")
    try:
        while stage.elapsed < stage.budget:
            started = time.monotonic()
            loss = step_fn()
            spent = time.monotonic() - started
            stage.tick(spent)
            bar.update(round(stage.elapsed) - bar.n)
            bar.set_postfix_str(f"step {stage.step}, loss {loss:.4f}")
            if stage.due():
                save()
        stage.done = True
        save()
    finally:
        bar.close()


# --- the text-to-image pipeline ----------------------------------------------------------------


def build_tokenizer(directory: Path):
    from transformers import CLIPTokenizer

    from generation.engine.tokenizer import write_clip_tokenizer

    write_clip_tokenizer(directory, num_merges=TOKENIZER_MERGES)
    # bandit: a local directory (local_files_only=True): nothing is downloaded.
    return CLIPTokenizer.from_pretrained(directory, local_files_only=True)  # nosec B615


def build_vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(32, 64, 64),
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        latent_channels=4,
        layers_per_block=1,
        # Few, wide groups: a group norm per channel would erase the absolute colour of a flat
        # image (every channel of a uniform image normalises to zero); SD's 32 groups of 4+
        # channels are for real photographs.
        norm_num_groups=4,
        sample_size=IMAGE_SIZE,
    )


def build_unet_and_text_encoder(tokenizer):
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    hidden = 96
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=hidden,
            intermediate_size=4 * hidden,
            num_hidden_layers=3,
            num_attention_heads=4,
            max_position_embeddings=tokenizer.model_max_length,
            projection_dim=hidden,
            hidden_act="quick_gelu",
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    unet = UNet2DConditionModel(
        sample_size=IMAGE_SIZE // 4,
        in_channels=4,
        out_channels=4,
        block_out_channels=(48, 96, 96),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=hidden,
        attention_head_dim=(2, 4, 4),
        norm_num_groups=8,  # wide groups keep a latent's mean (its colour); see build_vae
    )
    return unet, text_encoder


def noise_schedule_config() -> dict:
    """SD 1.5's betas, rescaled to zero terminal SNR, predicting v."""
    return {
        "num_train_timesteps": 1000,
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "rescale_betas_zero_snr": True,
        "prediction_type": "v_prediction",
        "clip_sample": False,
    }


def train_vae(work_dir: Path, pixels: np.ndarray, budget: float, seed: int):
    """Train (or resume) the VAE; return it and the steps it has had."""
    vae = build_vae()
    opt = torch.optim.AdamW(vae.parameters(), lr=1e-3, weight_decay=0.0)
    stage = Stage("vae", work_dir, budget, seed)
    # bandit: seeded randomness of procedural demo data, not a secret.
    rng = random.Random(seed)  # nosec B311
    modules = {"vae": vae, "opt": opt}
    if stage.restore(modules):
        rng.setstate(stage.rng_state)
    if stage.done:
        return vae, stage.step
    vae.train()

    def step() -> float:
        for group in opt.param_groups:
            group["lr"] = _lr(1e-3, stage.progress, stage.step, warmup=50)
        index = rng.sample(range(len(pixels)), VAE_BATCH)
        batch = _to_tensor(pixels[index])
        if rng.random() < 0.5:
            batch = batch.flip(3)
        posterior = vae.encode(batch).latent_dist
        recon = vae.decode(posterior.sample()).sample
        loss = F.l1_loss(recon, batch) + F.mse_loss(recon, batch) + 1e-6 * posterior.kl().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    _loop(stage, step, lambda: stage.save(modules, rng), "VAE")
    return vae, stage.step


def train_decoder(work_dir: Path, vae, pixels: np.ndarray, budget: float, seed: int):
    """Sharpen the VAE's decoder on posterior means, with the encoder frozen.

    The UNet learned the encoder's latent space, so only the decoder may change (the same
    trick as Stable Diffusion's fine-tuned "ft-MSE" VAE decoder).
    """
    params = list(vae.decoder.parameters()) + list(vae.post_quant_conv.parameters())
    opt = torch.optim.AdamW(params, lr=5e-4, weight_decay=0.0)
    stage = Stage("decoder", work_dir, budget, seed)
    # bandit: seeded randomness of procedural demo data, not a secret.
    rng = random.Random(seed + 3)  # nosec B311
    modules = {"decoder": vae.decoder, "post_quant_conv": vae.post_quant_conv, "opt": opt}
    if stage.restore(modules):
        rng.setstate(stage.rng_state)
    if stage.done or budget <= 0:
        return vae, stage.step
    vae.train()

    def step() -> float:
        for group in opt.param_groups:
            group["lr"] = _lr(5e-4, stage.progress, stage.step, warmup=20)
        index = rng.sample(range(len(pixels)), VAE_BATCH)
        batch = _to_tensor(pixels[index])
        with torch.no_grad():
            latents = vae.encode(batch).latent_dist.mean
        recon = vae.decode(latents).sample
        loss = F.l1_loss(recon, batch) + F.mse_loss(recon, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    _loop(stage, step, lambda: stage.save(modules, rng), "VAE decoder")
    vae.eval()
    return vae, stage.step


@torch.no_grad()
def encode_latents(
    vae, pixels: np.ndarray, work_dir: Path, seed: int, vae_step: int, device: str = "cpu"
) -> torch.Tensor:
    """Posterior means of the whole bank (on the CPU), cached; also sets the VAE's
    ``scaling_factor``. ``device``: where the encoder runs (the VAE is moved back after)."""
    # Keyed by the VAE's training step: a VAE trained further encodes differently.
    cache = work_dir / f"latents-{seed}-{len(pixels)}-vae{vae_step}.pt"
    vae.eval()
    if cache.exists():
        latents = torch.load(cache, weights_only=True)
    else:
        parts = []
        vae.to(device)
        for start in tqdm(range(0, len(pixels), 256), desc="encode latents", unit="batch"):
            batch = _to_tensor(pixels[start : start + 256]).to(device)
            parts.append(vae.encode(batch).latent_dist.mean.cpu())
        vae.to("cpu")
        latents = torch.cat(parts)
        torch.save(latents, cache)
    vae.register_to_config(scaling_factor=float(1.0 / latents.std()))
    return latents * vae.config.scaling_factor


def train_unet(
    work_dir: Path,
    latents: torch.Tensor,
    items: list[Scene],
    tokenizer,
    budget: float,
    seed: int,
    batch_size: int = 64,
    start: tuple | None = None,
    base_lr: float = 5e-4,
    device: str = "cpu",
):
    """Train (or resume) the UNet with its text encoder; ``start``: the (UNet, text encoder) to
    begin from (an exported pipeline's) instead of new random weights. ``device``: where the
    models and latents train ("cuda" on a GPU); they come back on the CPU. On a GPU the noise
    comes from the device's generator, whose state checkpoints do not keep: a resumed GPU run
    draws other noise than an uninterrupted one would have."""
    from diffusers import DDPMScheduler

    unet, text_encoder = start or build_unet_and_text_encoder(tokenizer)
    device = torch.device(device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True  # TF32 matmuls: the speed a GPU is for
        torch.backends.cudnn.allow_tf32 = True
    unet.to(device)
    text_encoder.to(device)
    latents = latents.to(device)
    params = list(unet.parameters()) + list(text_encoder.parameters())
    opt = torch.optim.AdamW(params, lr=base_lr, weight_decay=1e-2)
    ema_unet, ema_text = EMA(unet, 0.999), EMA(text_encoder, 0.999)
    scheduler = DDPMScheduler(**noise_schedule_config())
    stage = Stage("unet", work_dir, budget, seed)
    # bandit: seeded randomness of procedural demo data, not a secret.
    rng = random.Random(seed + 1)  # nosec B311
    modules = {
        "unet": unet,
        "text": text_encoder,
        "opt": opt,
        "ema_unet": ema_unet,
        "ema_text": ema_text,
    }
    if stage.restore(modules):
        rng.setstate(stage.rng_state)
    token_cache: dict[str, torch.Tensor] = {}

    def tokens(texts: list[str]) -> torch.Tensor:
        missing = [t for t in set(texts) if t not in token_cache]
        if missing:
            ids = tokenizer(
                missing,
                padding="max_length",
                max_length=tokenizer.model_max_length,
                truncation=True,
                return_tensors="pt",
            ).input_ids
            token_cache.update(zip(missing, ids, strict=True))
        return torch.stack([token_cache[t] for t in texts]).to(device)

    def step() -> float:
        for group in opt.param_groups:
            group["lr"] = _lr(base_lr, stage.progress, stage.step)
        index = rng.sample(range(len(latents)), batch_size)
        x0 = latents[index]
        texts = [
            "" if rng.random() < 0.1 else rng.choice(caption_variants(items[i])) for i in index
        ]
        noise = torch.randn_like(x0)
        # Drawn on the CPU whatever the device: a CPU run's random stream stays what it was.
        t = torch.randint(0, scheduler.config.num_train_timesteps, (batch_size,)).to(device)
        noisy = scheduler.add_noise(x0, noise, t)
        target = scheduler.get_velocity(x0, noise, t)
        hidden = text_encoder(tokens(texts))[0]
        loss = F.mse_loss(unet(noisy, t, hidden).sample, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        ema_unet.update(unet)
        ema_text.update(text_encoder)
        return loss.item()

    if not stage.done:
        unet.train()
        text_encoder.train()
        _loop(stage, step, lambda: stage.save(modules, rng), "UNet + text encoder")
    unet.load_state_dict(ema_unet.shadow)
    text_encoder.load_state_dict(ema_text.shadow)
    return unet.eval().to("cpu"), text_encoder.eval().to("cpu"), stage.step


def export_pipeline(target: Path, vae, unet, text_encoder, tokenizer_dir: Path, meta: dict):
    from diffusers import DDIMScheduler, StableDiffusionPipeline
    from transformers import CLIPTokenizer

    config = noise_schedule_config()
    del config["num_train_timesteps"]
    scheduler = DDIMScheduler(
        **config, timestep_spacing="trailing", set_alpha_to_one=False, steps_offset=1
    )
    pipeline = StableDiffusionPipeline(
        vae=vae,
        unet=unet,
        text_encoder=text_encoder,
        # bandit: a local directory (local_files_only=True): nothing is downloaded.
        tokenizer=CLIPTokenizer.from_pretrained(tokenizer_dir, local_files_only=True),  # nosec B615
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )

    def write(directory: Path) -> None:
        pipeline.save_pretrained(directory, safe_serialization=True)
        (directory / "TRAINING.json").write_text(json.dumps(meta, indent=2) + "\n")

    _atomic_export(target, write)


def train_pipeline(
    work_dir: Path, target: Path, budget: Budget, seed: int = 0, bank_size: int = 32_000
) -> Path:
    """Train (or resume) the VAE and the UNet with its text encoder, and export the pipeline."""
    work_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    pixels, items = image_bank(work_dir, seed, bank_size)
    tokenizer_dir = work_dir / "tokenizer"
    tokenizer = build_tokenizer(tokenizer_dir)
    vae, vae_steps = train_vae(work_dir, pixels, budget.vae, seed)
    latents = encode_latents(vae, pixels, work_dir, seed, vae_steps)
    unet, text_encoder, unet_steps = train_unet(
        work_dir, latents, items, tokenizer, budget.unet, seed
    )
    vae, decoder_steps = train_decoder(work_dir, vae, pixels, budget.decoder, seed)
    steps = {"vae": vae_steps, "unet": unet_steps}
    if decoder_steps:
        steps["decoder"] = decoder_steps
    meta = {"seed": seed, "bank_size": bank_size, "budget_minutes": asdict(budget), "steps": steps}
    export_pipeline(target, vae, unet, text_encoder, tokenizer_dir, meta)
    return target


# --- the CLIP model ----------------------------------------------------------------------------

_ANY = None


def _caption_facts(scene: Scene, variant: int) -> tuple[str | None, ...]:
    """What a caption variant (an index into ``caption_variants``) says about its scene."""
    s, c, b, st = scene.shape, scene.colour, scene.background, scene.style
    return [
        (s, c, b, st),
        (s, c, b, st),
        (s, c, _ANY, _ANY),
        (_ANY, c, b, st),
        (s, _ANY, b, st),
        (_ANY, c, _ANY, _ANY),
        (s, _ANY, _ANY, _ANY),
    ][variant]


def _soft_targets(facts: list[tuple], batch: list[Scene]) -> torch.Tensor:
    """targets[i, j] = 1 where caption i is true of image j, rows normalised."""
    truth = torch.zeros(len(facts), len(batch))
    for i, fact in enumerate(facts):
        for j, scene in enumerate(batch):
            values = (scene.shape, scene.colour, scene.background, scene.style)
            truth[i, j] = all(f is None or f == v for f, v in zip(fact, values, strict=True))
    return truth


def train_clip(
    work_dir: Path,
    target: Path,
    budget_minutes: float,
    seed: int = 0,
    bank_size: int = 32_000,
    batch_size: int = 128,
) -> Path:
    import open_clip

    work_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    pixels, items = image_bank(work_dir, seed, bank_size)
    config_file = work_dir / f"{CLIP_ARCHITECTURE}.json"
    config_file.write_text(json.dumps(CLIP_MODEL_CONFIG, indent=2) + "\n")
    open_clip.add_model_config(config_file)
    model = open_clip.create_model(CLIP_ARCHITECTURE)
    tokenizer = open_clip.get_tokenizer(CLIP_ARCHITECTURE)
    mean = torch.tensor(model.visual.image_mean or open_clip.OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(model.visual.image_std or open_clip.OPENAI_DATASET_STD).view(1, 3, 1, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    stage = Stage("clip", work_dir, budget_minutes, seed)
    # bandit: seeded randomness of procedural demo data, not a secret.
    rng = random.Random(seed + 2)  # nosec B311
    modules = {"clip": model, "opt": opt}
    if stage.restore(modules):
        rng.setstate(stage.rng_state)

    def step() -> float:
        for group in opt.param_groups:
            group["lr"] = _lr(1e-3, stage.progress, stage.step, warmup=50)
        index = rng.sample(range(len(pixels)), batch_size)
        batch = [items[i] for i in index]
        images = torch.from_numpy(pixels[index]).permute(0, 3, 1, 2).float().div(255)
        if rng.random() < 0.5:
            images = images.flip(3)
        images = (images - mean) / std
        variants = [rng.randrange(7) for _ in batch]
        texts = [caption_variants(scene)[v] for scene, v in zip(batch, variants, strict=True)]
        facts = [_caption_facts(scene, v) for scene, v in zip(batch, variants, strict=True)]
        truth = _soft_targets(facts, batch)  # texts x images
        image_features, text_features, scale = model(images, tokenizer(texts))
        logits = scale * text_features @ image_features.T
        loss_text = -(truth / truth.sum(1, keepdim=True) * logits.log_softmax(1)).sum(1).mean()
        cols = truth.T
        loss_image = -(cols / cols.sum(1, keepdim=True) * logits.T.log_softmax(1)).sum(1).mean()
        loss = (loss_text + loss_image) / 2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        return loss.item()

    if not stage.done:
        model.train()
        _loop(stage, step, lambda: stage.save(modules, rng), "CLIP")

    def write(directory: Path) -> None:
        from safetensors.torch import save_file

        # Half precision on disk halves the size; open_clip loads it into a float32 model.
        weights = {k: v.detach().half().contiguous() for k, v in model.state_dict().items()}
        save_file(weights, directory / CLIP_CHECKPOINT.name)
        (directory / CLIP_CONFIG_FILE.name).write_text(
            json.dumps(CLIP_MODEL_CONFIG, indent=2) + "\n"
        )
        meta = {
            "seed": seed,
            "bank_size": bank_size,
            "budget_minutes": budget_minutes,
            "steps": stage.step,
            "batch_size": batch_size,
        }
        (directory / "TRAINING.json").write_text(json.dumps(meta, indent=2) + "\n")

    _atomic_export(target, write)
    return target


__all__ = [
    "BACKGROUND_STYLES",
    "CLIP_ARCHITECTURE",
    "CLIP_CHECKPOINT",
    "CLIP_CONFIG_FILE",
    "COLOURS",
    "DEMO_CLIP_DIR",
    "DEMO_PIPELINE_DIR",
    "SHAPES",
    "Budget",
    "train_clip",
    "train_pipeline",
]
