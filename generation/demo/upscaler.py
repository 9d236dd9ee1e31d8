"""The demo upscaler: a small Real-ESRGAN compact network (spandrel's ``Compact``, an ESRGAN-family
architecture) trained here from scratch to enlarge the demo shapes 4x (64 → 256 px), and its
evaluation against bicubic interpolation on held-out scenes.

Pairs come from the procedural dataset: the same scene drawn at 256 px (the target) and at
64 px (the input, drawn exactly as the demo model's training images are), so the network
learns what the demo pipeline's pictures look like at four times their size. The loss is the
mean squared error on pixels plus a small SSIM term (PSNR-oriented training, the first stage of
ESRGAN's recipe; no adversarial stage: the targets are flat shapes, where a GAN loss would only
add texture). Not L1, which
ESRGAN's first stage uses: on these mostly flat pictures L1 rewards the blocky nearest-neighbour
enlargement the network starts from (measured: L1 0.0038 for nearest against 0.0043 for
bicubic, where the squared error is 0.00077 against 0.00045), and training stalled there.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

from generation.demo.dataset import render, scenes

SCALE = 4
LOW = 64
HIGH = LOW * SCALE
WEIGHTS_NAME = "upscaler-x4.safetensors"


@dataclass
class UpscalerTrainConfig:
    steps: int = 3000
    batch_size: int = 16
    #: Distinct scenes drawn once and cropped, flipped and turned at random for every batch.
    pool: int = 128
    learning_rate: float = 2e-3
    num_feat: int = 16
    num_conv: int = 4
    seed: int = 20261203
    #: Crops of the 64 px input per pair (and the matching 4x crop of the target).
    crop: int = 24
    #: Weight of (1 - SSIM) beside the squared error in the loss.
    ssim_weight: float = 0.01


def pair(scene) -> tuple[np.ndarray, np.ndarray]:
    """(input 64 px, target 256 px) of one scene, float32 in [0, 1], HWC. The input is the
    target reduced by a box filter, which is how ``render`` draws the demo model's 64 px
    training images (a box-filtered supersampled canvas)."""
    high_image = render(scene, HIGH)
    low = np.asarray(high_image.resize((LOW, LOW), Image.Resampling.BOX), dtype=np.float32)
    return low / 255.0, np.asarray(high_image, dtype=np.float32) / 255.0


def pairs(split: str, seed: int, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    stream = scenes(split, seed)
    return [pair(next(stream)) for _ in range(count)]


def _network(config: UpscalerTrainConfig) -> torch.nn.Module:
    from spandrel.architectures.Compact import Compact

    return Compact(num_feat=config.num_feat, num_conv=config.num_conv, upscale=SCALE)


def _batch(rng: np.random.Generator, pool, config: UpscalerTrainConfig):
    lows, highs = [], []
    for index in rng.integers(0, len(pool), size=config.batch_size):
        low, high = pool[index]
        top, left = rng.integers(0, LOW - config.crop + 1, size=2)
        low = low[top : top + config.crop, left : left + config.crop]
        high = high[
            top * SCALE : (top + config.crop) * SCALE, left * SCALE : (left + config.crop) * SCALE
        ]
        turns, flip = int(rng.integers(0, 4)), bool(rng.integers(0, 2))
        low, high = np.rot90(low, turns), np.rot90(high, turns)
        if flip:
            low, high = low[:, ::-1], high[:, ::-1]
        lows.append(np.ascontiguousarray(low))
        highs.append(np.ascontiguousarray(high))
    as_tensor = lambda items: torch.from_numpy(np.stack(items)).permute(0, 3, 1, 2)  # noqa: E731
    return as_tensor(lows), as_tensor(highs)


def _ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of two batches in [0, 1] (Gaussian window 11, sigma 1.5, per channel): the
    measure the evaluation uses, differentiable, so the loss can ask for structure too."""
    coords = torch.arange(11, dtype=a.dtype) - 5
    gauss = torch.exp(-(coords**2) / (2 * 1.5**2))
    gauss = gauss / gauss.sum()
    window = (gauss[:, None] * gauss[None, :]).expand(a.shape[1], 1, 11, 11).contiguous()

    def blur(x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.conv2d(x, window, groups=a.shape[1])

    mean_a, mean_b = blur(a), blur(b)
    var_a = blur(a * a) - mean_a**2
    var_b = blur(b * b) - mean_b**2
    covariance = blur(a * b) - mean_a * mean_b
    c1, c2 = 0.01**2, 0.03**2
    ssim = ((2 * mean_a * mean_b + c1) * (2 * covariance + c2)) / (
        (mean_a**2 + mean_b**2 + c1) * (var_a + var_b + c2)
    )
    return ssim.mean()


def train_upscaler(
    out_dir: Path,
    config: UpscalerTrainConfig | None = None,
    *,
    progress: Callable[[int, int, float], None] | None = None,
    start_from: Path | None = None,
) -> Path:
    """Train the network and write ``out_dir/upscaler-x4.safetensors`` and ``TRAINING.json``;
    ``start_from`` continues from an earlier run's weights (same size of network)."""
    config = config or UpscalerTrainConfig()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    pool = pairs("train", config.seed, config.pool)
    network = _network(config).train()
    if start_from is not None:
        from safetensors.torch import load_file

        network.load_state_dict(load_file(str(start_from)))
    optimiser = torch.optim.Adam(network.parameters(), lr=config.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config.steps)
    started = time.monotonic()
    loss_value = float("nan")
    for step in range(config.steps):
        low, high = _batch(rng, pool, config)
        output = network(low)
        loss = torch.nn.functional.mse_loss(output, high) + config.ssim_weight * (
            1 - _ssim(output, high)
        )
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        loss_value = loss.item()
        if progress is not None:
            progress(step + 1, config.steps, loss_value)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / WEIGHTS_NAME
    state = {name: tensor.detach().contiguous() for name, tensor in network.state_dict().items()}
    save_file(state, str(weights))
    record = {
        "config": asdict(config),
        "final_loss": round(loss_value, 6),
        "seconds": round(time.monotonic() - started, 1),
        "parameters": sum(p.numel() for p in network.parameters()),
    }
    (out_dir / "TRAINING.json").write_text(json.dumps(record, indent=2) + "\n")
    return weights


@dataclass
class UpscalerScores:
    images: int
    psnr_model: float
    psnr_bicubic: float
    ssim_model: float
    ssim_bicubic: float

    @property
    def beats_bicubic(self) -> bool:
        return self.psnr_model > self.psnr_bicubic and self.ssim_model > self.ssim_bicubic


def evaluate_upscaler(weights: Path, *, count: int = 48, seed: int = 7) -> UpscalerScores:
    """PSNR and SSIM of the network's 4x enlargement and of bicubic, each against the scene drawn
    at 256 px, on ``count`` held-out scenes (combinations the network never saw)."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    from generation.engine.upscale import upscale

    totals = {"psnr_model": 0.0, "psnr_bicubic": 0.0, "ssim_model": 0.0, "ssim_bicubic": 0.0}
    for low, high in pairs("held_out", seed, count):
        source = Image.fromarray((low * 255).round().astype(np.uint8), "RGB")
        truth = (high * 255).round().astype(np.uint8)
        candidates = {
            "model": np.asarray(upscale(source, model_path=weights, scale=SCALE)),
            "bicubic": np.asarray(source.resize((HIGH, HIGH), Image.Resampling.BICUBIC)),
        }
        for name, image in candidates.items():
            totals[f"psnr_{name}"] += peak_signal_noise_ratio(truth, image, data_range=255)
            totals[f"ssim_{name}"] += structural_similarity(
                truth, image, channel_axis=2, data_range=255
            )
    return UpscalerScores(
        images=count, **{name: round(float(value) / count, 4) for name, value in totals.items()}
    )
