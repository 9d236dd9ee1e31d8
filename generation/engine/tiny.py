"""Build a tiny random-weight pipeline with the Stable Diffusion 1.x architecture.

Why: tests, CI and development need a real diffusers pipeline directory that loads and runs
through exactly the same code path as a real SD 1.5 checkpoint, but weighs a few MB, runs in
milliseconds on a CPU and needs no download. Its images are noise, not pictures.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from generation.engine.tokenizer import MODEL_MAX_LENGTH, write_clip_tokenizer

_HIDDEN = 32
_CLIP_VOCAB_SIZE = 49408
_BOS_ID = 49406
_EOS_ID = 49407


def _components(tokenizer_dir: Path) -> dict[str, object]:
    """Create the pipeline components; weights come from torch's global RNG (seeded by caller)."""
    unet = UNet2DConditionModel(
        sample_size=32,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=_HIDDEN,
        attention_head_dim=8,
        norm_num_groups=32,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(32, 64),
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=32,
        sample_size=64,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=_CLIP_VOCAB_SIZE,
            hidden_size=_HIDDEN,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=MODEL_MAX_LENGTH,
            projection_dim=_HIDDEN,
            hidden_act="quick_gelu",
            layer_norm_eps=1e-5,
            bos_token_id=_BOS_ID,
            eos_token_id=_EOS_ID,
            pad_token_id=_EOS_ID,
        )
    )
    # Same noise schedule as SD 1.5; DDIM with eta=0 is deterministic given the initial latents.
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    return {
        "unet": unet,
        "vae": vae,
        "text_encoder": text_encoder,
        # bandit: a local directory (local_files_only=True): nothing is downloaded.
        "tokenizer": CLIPTokenizer.from_pretrained(tokenizer_dir, local_files_only=True),  # nosec B615
        "scheduler": scheduler,
    }


def build_tiny_pipeline(path: Path, *, seed: int = 0) -> Path:
    """Save a tiny random-weight SD-architecture pipeline at ``path`` and return ``path``.

    Weights are a pure function of ``seed``. The pipeline is built in a temporary directory
    beside ``path`` and renamed into place, so a crash never leaves a half-written model.
    Raises ``FileExistsError`` if ``path`` already exists.
    """

    def make(scratch: Path) -> Any:
        write_clip_tokenizer(scratch / "tokenizer")
        torch.manual_seed(seed)
        return StableDiffusionPipeline(
            **_components(scratch / "tokenizer"),
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )

    return build_atomically(path, make)


def build_atomically(path: Path, make: Callable[[Path], Any]) -> Path:
    """Save the pipeline ``make(scratch)`` returns at ``path``, all or nothing.

    ``make`` may write files (tokenizers) into ``scratch``, a temporary directory beside
    ``path`` that is renamed into place once the pipeline is saved there.
    """
    path = Path(path).absolute()
    if path.exists():
        raise FileExistsError(f"Refusing to overwrite existing path {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{path.name}.building-", dir=path.parent))
    try:
        pipeline = make(scratch)
        pipeline.save_pretrained(scratch, safe_serialization=True)
        scratch.chmod(0o755)  # mkdtemp makes it 0700; workers may run as another user.
        try:
            scratch.rename(path)
        except OSError as exc:
            raise FileExistsError(f"{path} appeared while the tiny pipeline was built") from exc
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return path
