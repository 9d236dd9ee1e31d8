"""Write a diffusers Stable Diffusion 1.x directory as one original-layout (LDM) safetensors file.

Why: single-file checkpoints, as shared on model sites, use the key names of the original
latent-diffusion code, and diffusers' ``from_single_file`` converts those back. Tests need such
a file offline, so this inverts diffusers' conversion for the layouts the tiny pipeline uses
(any number of blocks and layers per block; SD 1.x CLIP text encoder).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "time_emb_proj": "emb_layers.1",
    "conv_shortcut": "skip_connection",
}
_UNET_FIXED = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}
_VAE_ATTENTION = {
    "group_norm": "norm",
    "to_q": "q",
    "to_k": "k",
    "to_v": "v",
    "to_out.0": "proj_out",
}


def _resnet(prefix: str, rest: str) -> str:
    """Rename one diffusers UNet resnet parameter to its LDM name under ``prefix``."""
    head, _, tail = rest.partition(".")
    return f"{prefix}.{_RESNET[head]}.{tail}"


def _unet_key(key: str, per_block: int, up_attention: list[bool]) -> str:
    """LDM name of one diffusers UNet parameter (``per_block`` = ``layers_per_block``)."""
    for new, old in _UNET_FIXED.items():
        if key.startswith(new + "."):
            return old + key[len(new) :]
    if m := re.fullmatch(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key):
        index = 1 + int(m[1]) * (per_block + 1) + int(m[3])
        if m[2] == "resnets":
            return _resnet(f"input_blocks.{index}.0", m[4])
        return f"input_blocks.{index}.1.{m[4]}"
    if m := re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
        return f"input_blocks.{1 + int(m[1]) * (per_block + 1) + per_block}.0.op.{m[2]}"
    if m := re.fullmatch(r"mid_block\.resnets\.(\d+)\.(.+)", key):
        return _resnet(f"middle_block.{2 * int(m[1])}", m[2])
    if m := re.fullmatch(r"mid_block\.attentions\.0\.(.+)", key):
        return f"middle_block.1.{m[1]}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key):
        index = int(m[1]) * (per_block + 1) + int(m[3])
        if m[2] == "resnets":
            return _resnet(f"output_blocks.{index}.0", m[4])
        return f"output_blocks.{index}.1.{m[4]}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key):
        block = int(m[1])
        slot = 2 if up_attention[block] else 1
        return f"output_blocks.{block * (per_block + 1) + per_block}.{slot}.conv.{m[2]}"
    raise KeyError(f"no LDM name for UNet parameter {key}")


def _vae_key(key: str, up_blocks: int) -> str:
    """LDM name of one diffusers VAE parameter (the decoder's up blocks run in reverse)."""
    side, _, rest = key.partition(".")
    if m := re.fullmatch(r"(down|up)_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", rest):
        block = int(m[2]) if m[1] == "down" else up_blocks - 1 - int(m[2])
        tail = m[4].replace("conv_shortcut", "nin_shortcut")
        return f"{side}.{m[1]}.{block}.block.{m[3]}.{tail}"
    if m := re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.(.+)", rest):
        return f"{side}.down.{m[1]}.downsample.{m[2]}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.upsamplers\.0\.(.+)", rest):
        return f"{side}.up.{up_blocks - 1 - int(m[1])}.upsample.{m[2]}"
    if m := re.fullmatch(r"mid_block\.resnets\.(\d+)\.(.+)", rest):
        return f"{side}.mid.block_{int(m[1]) + 1}.{m[2]}"
    if m := re.fullmatch(r"mid_block\.attentions\.0\.(.+)", rest):
        for new, old in _VAE_ATTENTION.items():
            if m[1].startswith(new + "."):
                return f"{side}.mid.attn_1.{old}{m[1][len(new) :]}"
    if rest.startswith("conv_norm_out."):
        return f"{side}.norm_out.{rest.removeprefix('conv_norm_out.')}"
    return key  # conv_in, conv_out, quant_conv and post_quant_conv keep their names


def write_ldm_checkpoint(model_dir: Path, target: Path) -> Path:
    """Save the UNet, VAE and CLIP text encoder of ``model_dir`` as one LDM-layout file."""
    unet_config = json.loads((model_dir / "unet" / "config.json").read_text())
    vae_config = json.loads((model_dir / "vae" / "config.json").read_text())
    per_block = unet_config["layers_per_block"]
    up_attention = ["CrossAttn" in kind for kind in unet_config["up_block_types"]]
    tensors: dict[str, torch.Tensor] = {}
    unet = load_file(model_dir / "unet" / "diffusion_pytorch_model.safetensors")
    for key, value in unet.items():
        tensors["model.diffusion_model." + _unet_key(key, per_block, up_attention)] = value
    vae = load_file(model_dir / "vae" / "diffusion_pytorch_model.safetensors")
    for key, value in vae.items():
        tensors["first_stage_model." + _vae_key(key, len(vae_config["up_block_types"]))] = value
    for key, value in load_file(model_dir / "text_encoder" / "model.safetensors").items():
        # transformers >= 5.6 saves CLIPTextModel without its "text_model." wrapper.
        name = key if key.startswith("text_model.") else "text_model." + key
        tensors["cond_stage_model.transformer." + name] = value
    save_file(tensors, target)
    return target


def copy_configs(model_dir: Path, target: Path) -> Path:
    """Copy ``model_dir`` without its weights: the config directory a single file loads with."""
    shutil.copytree(model_dir, target, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    return target
