"""Build a tiny random-weight pipeline of each model family from config: SDXL, SD3, PixArt-Alpha,
PixArt-Sigma and Flux, beside the Stable Diffusion 1.x one of ``tiny.py``.

Why: every family must be tested through exactly the loading and running code a real checkpoint
of it uses, and nothing may be downloaded. Each pipeline here has the family's real classes and
layout (``model_index.json``, two or three text encoders, a UNet or a diffusion transformer, its
scheduler) with a few channels and layers: a few MB, a fraction of a second per image on a CPU.
Its images are noise. Tokenizers are built locally: CLIP's from the BPE vocabulary open_clip
ships (``tokenizer.py``, fewer merges for a small embedding), T5's as a small unigram vocabulary
of common words and single characters, saved as ``tokenizer.json``.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import torch
from transformers import (
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTextModelWithProjection,
    CLIPTokenizer,
    T5Config,
    T5EncoderModel,
    T5Tokenizer,
)

from generation.engine.families import FAMILIES
from generation.engine.tiny import build_atomically, build_tiny_pipeline
from generation.engine.tokenizer import MODEL_MAX_LENGTH, write_clip_tokenizer

#: The families a tiny pipeline can be built of, in the order the command builds them.
TINY_FAMILIES: tuple[str, ...] = tuple(FAMILIES)

_HIDDEN = 32
#: CLIP merges kept: a 1,514-token vocabulary (rarer words split into more pieces).
_CLIP_MERGES = 1000
# Common prompt words, one piece each; other words split into characters.
_WORDS = (  # noqa: SIM905 (a word list reads better as one string)
    "a an the of on in with and or at to by for from red orange yellow green blue navy "
    "purple pink white black grey gold silver star circle square triangle heart shape "
    "background light dark bright soft photo painting drawing poster logo product brand "
    "studio portrait landscape city sky sea mountain tree flower cat dog person car house "
    "blurry ugly"
).split()


def _clip_tokenizer(directory: Path) -> CLIPTokenizer:
    write_clip_tokenizer(directory, num_merges=_CLIP_MERGES)
    # bandit: a local directory (local_files_only=True): nothing is downloaded.
    return CLIPTokenizer.from_pretrained(directory, local_files_only=True)  # nosec B615


def _t5_tokenizer(max_length: int) -> T5Tokenizer:
    """A small unigram T5 tokenizer (``</s>`` ends every prompt, as T5's does)."""
    pieces = ["\u2581" + word for word in _WORDS]
    pieces += ["\u2581", *string.ascii_letters, *string.digits, *string.punctuation]
    pieces += ["\u2581" + c for c in string.ascii_letters + string.digits]
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += [(piece, -1.0 - index / 100) for index, piece in enumerate(dict.fromkeys(pieces))]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=max_length)


def _clip_config(vocab_size: int, **extra: Any) -> CLIPTextConfig:
    return CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=_HIDDEN,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=MODEL_MAX_LENGTH,
        projection_dim=_HIDDEN,
        hidden_act="gelu",
        layer_norm_eps=1e-5,
        bos_token_id=vocab_size - 2,
        eos_token_id=vocab_size - 1,
        pad_token_id=vocab_size - 1,
        **extra,
    )


def _t5_encoder(vocab_size: int) -> T5EncoderModel:
    return T5EncoderModel(
        T5Config(
            vocab_size=vocab_size,
            d_model=_HIDDEN,
            d_kv=8,
            d_ff=64,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=8,
            decoder_start_token_id=0,
            pad_token_id=0,
            eos_token_id=1,
        )
    )


def _vae(*, latent_channels: int = 4, flow: bool = False) -> Any:
    """A two-block VAE (2x downscale); ``flow``: SD3/Flux's, without quantisation convs."""
    from diffusers import AutoencoderKL

    extra = {"use_quant_conv": False, "use_post_quant_conv": False, "shift_factor": 0.06}
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(16, 32),
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=latent_channels,
        layers_per_block=1,
        norm_num_groups=8,
        sample_size=64,
        **(extra if flow else {}),
    )


def _sdxl(scratch: Path) -> Any:
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel

    tokenizer = _clip_tokenizer(scratch / "tokenizer")
    tokenizer_2 = _clip_tokenizer(scratch / "tokenizer_2")
    unet = UNet2DConditionModel(
        sample_size=32,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1),
        # 6 time ids x 8 + the second encoder's pooled projection.
        projection_class_embeddings_input_dim=6 * 8 + _HIDDEN,
        cross_attention_dim=2 * _HIDDEN,
        norm_num_groups=8,
    )
    return StableDiffusionXLPipeline(
        vae=_vae(),
        text_encoder=CLIPTextModel(_clip_config(len(tokenizer))),
        text_encoder_2=CLIPTextModelWithProjection(_clip_config(len(tokenizer_2))),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        unet=unet,
        scheduler=EulerDiscreteScheduler(
            beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
        ),
    )


def _sd3(scratch: Path) -> Any:
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        SD3Transformer2DModel,
        StableDiffusion3Pipeline,
    )

    tokenizer = _clip_tokenizer(scratch / "tokenizer")
    tokenizer_2 = _clip_tokenizer(scratch / "tokenizer_2")
    tokenizer_3 = _t5_tokenizer(FAMILIES["stable-diffusion-3"].prompt_tokens)
    transformer = SD3Transformer2DModel(
        sample_size=32,
        patch_size=2,
        in_channels=16,  # SD3's 16 latent channels: its inpainting pipeline requires them
        num_layers=1,
        attention_head_dim=8,
        num_attention_heads=4,
        joint_attention_dim=_HIDDEN,
        caption_projection_dim=_HIDDEN,
        pooled_projection_dim=2 * _HIDDEN,  # both CLIP encoders' pooled projections
        out_channels=16,
        pos_embed_max_size=32,
    )
    return StableDiffusion3Pipeline(
        transformer=transformer,
        vae=_vae(latent_channels=16, flow=True),
        text_encoder=CLIPTextModelWithProjection(_clip_config(len(tokenizer))),
        text_encoder_2=CLIPTextModelWithProjection(_clip_config(len(tokenizer_2))),
        text_encoder_3=_t5_encoder(len(tokenizer_3)),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        tokenizer_3=tokenizer_3,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
    )


def _pixart(family: str) -> Any:
    import diffusers
    from diffusers import DPMSolverMultistepScheduler, PixArtTransformer2DModel

    tokenizer = _t5_tokenizer(FAMILIES[family].prompt_tokens)
    transformer = PixArtTransformer2DModel(
        sample_size=32,
        num_layers=2,
        patch_size=2,
        attention_head_dim=8,
        num_attention_heads=4,
        caption_channels=_HIDDEN,
        in_channels=4,
        cross_attention_dim=_HIDDEN,
        out_channels=8,  # PixArt learns the variance too: the pipeline keeps the first half
        attention_bias=True,
        activation_fn="gelu-approximate",
        num_embeds_ada_norm=1000,
        norm_type="ada_norm_single",
        norm_elementwise_affine=False,
        norm_eps=1e-6,
        # Only PixArt's 1024 px models (sample_size 128) take resolution conditions.
        use_additional_conditions=False,
    )
    pipeline_class = getattr(diffusers, FAMILIES[family].pipelines["text-to-image"])
    return pipeline_class(
        tokenizer=tokenizer,
        text_encoder=_t5_encoder(len(tokenizer)),
        vae=_vae(),
        transformer=transformer,
        scheduler=DPMSolverMultistepScheduler(),
    )


def _flux(scratch: Path) -> Any:
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel

    tokenizer = _clip_tokenizer(scratch / "tokenizer")
    tokenizer_2 = _t5_tokenizer(FAMILIES["flux"].prompt_tokens)
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=4 * 4,  # 2x2 patches of 4-channel latents, packed
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=_HIDDEN,
        pooled_projection_dim=_HIDDEN,
        guidance_embeds=True,
        axes_dims_rope=(4, 4, 8),
    )
    return FluxPipeline(
        transformer=transformer,
        vae=_vae(flow=True),
        text_encoder=CLIPTextModel(_clip_config(len(tokenizer))),
        text_encoder_2=_t5_encoder(len(tokenizer_2)),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        scheduler=FlowMatchEulerDiscreteScheduler(
            shift=3.0,
            use_dynamic_shifting=True,
            base_shift=0.5,
            max_shift=1.15,
            base_image_seq_len=256,
            max_image_seq_len=4096,
        ),
    )


def build_tiny_family(family: str, path: Path, *, seed: int = 0) -> Path:
    """Save a tiny random-weight pipeline of ``family`` at ``path`` (all or nothing).

    Weights are a pure function of ``seed``. Raises ``FileExistsError`` if ``path`` exists,
    ``ValueError`` for a family not in ``TINY_FAMILIES``.
    """
    if family not in TINY_FAMILIES:
        raise ValueError(f"Unknown family {family!r}; choose one of {', '.join(TINY_FAMILIES)}")
    if family == "stable-diffusion":
        return build_tiny_pipeline(path, seed=seed)

    def make(scratch: Path) -> Any:
        torch.manual_seed(seed)
        if family == "stable-diffusion-xl":
            return _sdxl(scratch)
        if family == "stable-diffusion-3":
            return _sd3(scratch)
        if family == "flux":
            return _flux(scratch)
        return _pixart(family)

    return build_atomically(path, make)
