"""Train an exported demo pipeline's UNet further, from its own weights.

Why: the pack's scratch checkpoints live on the machine that trained it (``var/``, never
committed), so "train the UNet further" on another machine has to start from what was shipped:
the exported UNet and text encoder (EMA weights) and the VAE, whose encoder made the latents
the UNet learned. The VAE is kept as it is (encoder and fine-tuned decoder); only the UNet and
the text encoder train, with the scratch recipe (``training.train_unet``: v-prediction, empty
captions for guidance, EMA) at a lower peak rate, as a warm restart of the cosine schedule.
The run is resumable like the others: checkpoints go to its own work folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from generation.demo.training import (
    encode_latents,
    export_pipeline,
    image_bank,
    train_unet,
)

#: Peak learning rate of the continued run (the scratch run's was 5e-4, decayed to 5e-5).
CONTINUE_LR = 2e-4


def continue_pipeline(
    work_dir: Path,
    source: Path,
    target: Path,
    minutes: float,
    seed: int = 0,
    bank_size: int = 32_000,
    base_lr: float = CONTINUE_LR,
    device: str = "cpu",
    batch_size: int = 64,
) -> Path:
    """Train the UNet and text encoder of the pipeline in ``source`` for ``minutes`` more and
    export the result to ``target`` (which may be ``source``: the export swaps it in whole).
    ``device``: where the bank is encoded and the models train ("cuda" on a GPU machine)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    source = Path(source)
    missing = [
        part
        for part in ("vae", "unet", "text_encoder", "tokenizer", "TRAINING.json")
        if not (source / part).exists()
    ]
    if missing:
        raise FileNotFoundError(
            f"{source} is not an exported demo pipeline: no {', '.join(missing)}"
        )
    before = json.loads((source / "TRAINING.json").read_text())
    work_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    # bandit: local directories (local_files_only=True): nothing is downloaded.
    load = {"local_files_only": True}
    vae = AutoencoderKL.from_pretrained(source / "vae", **load)  # nosec B615
    unet = UNet2DConditionModel.from_pretrained(source / "unet", **load)  # nosec B615
    text_encoder = CLIPTextModel.from_pretrained(source / "text_encoder", **load)  # nosec B615
    tokenizer_dir = work_dir / "tokenizer"
    CLIPTokenizer.from_pretrained(source / "tokenizer", **load).save_pretrained(tokenizer_dir)  # nosec B615
    tokenizer = CLIPTokenizer.from_pretrained(tokenizer_dir, **load)  # nosec B615

    pixels, items = image_bank(work_dir, seed, bank_size)
    shipped_scale = vae.config.scaling_factor
    # encode_latents scales to unit variance; the UNet learned the shipped scale (the same
    # encoder on the same seeded bank gives the same figure, but the shipped one is the rule).
    latents = encode_latents(vae, pixels, work_dir, seed, "shipped", device=device)
    latents = latents * (shipped_scale / vae.config.scaling_factor)
    vae.register_to_config(scaling_factor=shipped_scale)
    unet, text_encoder, steps = train_unet(
        work_dir,
        latents,
        items,
        tokenizer,
        minutes,
        seed,
        start=(unet, text_encoder),
        base_lr=base_lr,
        device=device,
        batch_size=batch_size,
    )
    meta = dict(before)
    # One entry per continued run, oldest first (a pack continued once kept a single one).
    earlier = before.get("continued", [])
    meta["continued"] = [
        *(earlier if isinstance(earlier, list) else [earlier]),
        {
            "unet_minutes": minutes,
            "unet_steps": steps,
            "batch_size": batch_size,
            "peak_lr": base_lr,
            "device": torch.device(device).type,
            "bank_size": bank_size,
            "from_steps": before.get("steps", {}),
        },
    ]
    export_pipeline(target, vae, unet, text_encoder, tokenizer_dir, meta)
    return target
