"""The files of a LoRA training run: the adapter in diffusers' format, and the checkpoint.

Why: a style's training job may be cancelled, run out of its time budget or have its worker
killed; the next run continues from the last checkpoint. Both files are written to a scratch
name and renamed into place, so a crash mid-write keeps the previous ones; the checkpoint is
renamed last, so the adapter on disk is never older than the step the checkpoint records.
"""

from __future__ import annotations

import hashlib
import json
import logging
import struct
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger(__name__)

#: The adapter's file name, as diffusers' ``load_lora_weights(folder, weight_name=...)`` reads it.
WEIGHTS_FILE = "pytorch_lora_weights.safetensors"
#: The resumable training state beside it.
CHECKPOINT_FILE = "lora_checkpoint.pt"
#: Attention projections LoRA adapts: the UNet's (diffusers) and the CLIP text encoder's.
UNET_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
#: With ``LoraTrainConfig.convolutions``: the UNet's resnet convolutions and the attention
#: blocks' input and output projections too (spatial patterns, not only what attends to what).
UNET_CONV_TARGETS = ("conv1", "conv2", "proj_in", "proj_out")
TEXT_ENCODER_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj")
#: Settings that must match for a checkpoint to be continued (``steps`` may grow).
_RESUME_KEYS = (
    "rank",
    "alpha",
    "learning_rate",
    "batch_size",
    "resolution",
    "train_text_encoder",
    "seed",
    "flip",
    "prior_weight",
    "caption_dropout",
    "convolutions",
    "lr_schedule",
    "snr_gamma",
    "noise_offset",
)


def unet_targets(config: Any) -> tuple[str, ...]:
    """The UNet modules a run's LoRA adapts (the metadata names them, so loading matches)."""
    return UNET_TARGETS + (UNET_CONV_TARGETS if config.convolutions else ())


def _adapter_state(unet: torch.nn.Module, text_encoder: torch.nn.Module | None) -> dict:
    from peft.utils import get_peft_model_state_dict

    state = {
        "unet": {k: v.detach().cpu().clone() for k, v in get_peft_model_state_dict(unet).items()}
    }
    if text_encoder is not None:
        state["text_encoder"] = {
            k: v.detach().cpu().clone() for k, v in get_peft_model_state_dict(text_encoder).items()
        }
    return state


def _save_weights(out_dir: Path, unet: Any, text_encoder: Any | None, config: Any) -> Path:
    """Write the adapter in diffusers' LoRA format (with its rank and alpha), atomically."""
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict

    scratch_name = f".{WEIGHTS_FILE}.tmp"
    metadata = {"r": config.rank, "lora_alpha": config.lora_alpha}
    unet_metadata = {**metadata, "target_modules": list(unet_targets(config))}
    text_metadata = {**metadata, "target_modules": list(TEXT_ENCODER_TARGETS)}
    StableDiffusionPipeline.save_lora_weights(
        save_directory=out_dir,
        # peft's own key names for a convolution adapter: diffusers' older names ("lora.down")
        # for a mix of convolution and attention layers load back without the attention ones.
        unet_lora_layers=(
            get_peft_model_state_dict(unet)
            if config.convolutions
            else convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
        ),
        text_encoder_lora_layers=(
            convert_state_dict_to_diffusers(get_peft_model_state_dict(text_encoder))
            if text_encoder is not None
            else None
        ),
        weight_name=scratch_name,
        safe_serialization=True,
        unet_lora_adapter_metadata=unet_metadata,
        text_encoder_lora_adapter_metadata=text_metadata if text_encoder is not None else None,
    )
    _canonical_header(out_dir / scratch_name)
    target = out_dir / WEIGHTS_FILE
    (out_dir / scratch_name).replace(target)
    return target


def _canonical_header(path: Path) -> None:
    """Rewrite a safetensors file's header with its keys sorted, in place.

    safetensors writes the ``__metadata__`` map in a hash map's order, which differs from one
    save to the next: the same weights would get another SHA-256 (the digest manifests and the
    audit log name a style by). The header is JSON of the same length once sorted (same keys,
    same values, compact), so only its bytes change; the tensors' offsets are relative to its
    end and stay valid.
    """
    with path.open("r+b") as file:
        (length,) = struct.unpack("<Q", file.read(8))
        header = json.loads(file.read(length))
        canonical = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
        if len(canonical) > length:  # not the compact form this expects: leave it as written
            return
        file.seek(8)
        file.write(canonical.ljust(length, b" "))


def save_checkpoint(
    out_dir: Path,
    *,
    unet: Any,
    text_encoder: Any | None,
    optimizer: torch.optim.Optimizer,
    step: int,
    generator: torch.Generator,
    losses: list[float],
    config: Any,
    completed: bool,
) -> None:
    state = {
        "config": {key: getattr(config, key) for key in _RESUME_KEYS},
        "step": step,
        "completed": completed,
        "losses": list(losses),
        "adapter": _adapter_state(unet, text_encoder),
        "optimizer": optimizer.state_dict(),
        "generator": generator.get_state(),
    }
    scratch = out_dir / f".{CHECKPOINT_FILE}.tmp"
    torch.save(state, scratch)
    _save_weights(out_dir, unet, text_encoder, config)
    scratch.replace(out_dir / CHECKPOINT_FILE)  # last: weights on disk are at least this new


def restore_checkpoint(
    out_dir: Path,
    *,
    unet: Any,
    text_encoder: Any | None,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    config: Any,
) -> tuple[int, list[float]]:
    """Load the folder's checkpoint into the modules; return (step, losses), or (0, [])."""
    path = out_dir / CHECKPOINT_FILE
    if not path.is_file():
        return 0, []
    from peft.utils import set_peft_model_state_dict

    # weights_only: tensors, numbers and containers only; a checkpoint file runs no code.
    state = torch.load(path, map_location="cpu", weights_only=True)
    wanted = {key: getattr(config, key) for key in _RESUME_KEYS}
    # A checkpoint older than a setting was made with that setting's default.
    defaults = type(config)()
    saved = {key: state["config"].get(key, getattr(defaults, key)) for key in wanted}
    changed = [key for key in _RESUME_KEYS if saved[key] != wanted[key]]
    if changed:
        raise ValueError(
            f"{out_dir} holds a checkpoint trained with other settings ({', '.join(changed)}); "
            "resume with the same settings or train into an empty folder"
        )
    set_peft_model_state_dict(unet, state["adapter"]["unet"])
    if text_encoder is not None:
        set_peft_model_state_dict(text_encoder, state["adapter"]["text_encoder"])
    optimizer.load_state_dict(state["optimizer"])
    generator.set_state(state["generator"])
    logger.info("Resuming LoRA training in %s at step %d", out_dir, state["step"])
    return int(state["step"]), [float(x) for x in state["losses"]]


def file_digest(path: Path) -> tuple[str, int]:
    data = path.read_bytes()
    return hashlib.sha256(data).hexdigest(), len(data)
