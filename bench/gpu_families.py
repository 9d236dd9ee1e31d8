"""Images per second of every model family on a GPU: each family's tiny model, and the Stable
Diffusion 1.5 and SDXL *architectures* with random weights, at their native sizes, with and
without ``torch.compile`` of the denoiser.

Nothing is downloaded. The tiny models are the suite's (``tiny_families.py``); the two full-size
architectures are built here from their configs (the real checkpoints' shapes: an 860M-parameter
UNet and CLIP ViT-L/14 for SD 1.5; a 2.6B-parameter UNet, CLIP ViT-L/14 and OpenCLIP bigG for
SDXL) with random weights: speed depends on the shapes, not on the values of the weights.
Tokenizers are written locally, as the tiny models' are.

Each case runs the engine's own path (``generation.engine.pipelines.generate``: fp16 on CUDA, fp32
on the CPU; ``configure_cache(compile_unet=...)`` is the workers' compile switch), warms up once
(loading, kernel selection, compilation), then times ``--rounds`` jobs of ``--batch`` images and
reports the median. One JSON line per case as it finishes, a table, and a last line with
images/s per case.

    python bench/gpu_families.py                        # everything, on CUDA
    python bench/gpu_families.py --device cpu --tiny-only --steps 2   # a check on a CPU
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from generation.engine import pipelines
from generation.engine.catalog import inspect_model
from generation.engine.pipelines import GenerationParams, generate
from generation.engine.tiny import build_atomically
from generation.engine.tiny_families import TINY_FAMILIES, build_tiny_family
from generation.engine.tokenizer import write_clip_tokenizer

_CLIP_VOCAB = 49408
_BOS, _EOS = 49406, 49407
_SCALED_LINEAR = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear"}


def _clip_text_config(
    hidden: int, layers: int, heads: int, *, act: str = "quick_gelu", projection: int = 768
) -> Any:
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=_CLIP_VOCAB,
        hidden_size=hidden,
        intermediate_size=4 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        max_position_embeddings=77,
        projection_dim=projection,
        hidden_act=act,
        bos_token_id=_BOS,
        eos_token_id=_EOS,
        pad_token_id=_EOS,
    )


def _vae(sample_size: int, **extra: Any) -> Any:
    """The Stable Diffusion VAE (SD 1.x/2.x and SDXL share it): 8x downscale, 4 channels."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        layers_per_block=2,
        sample_size=sample_size,
        **extra,
    )


def sd15_components() -> dict[str, Any]:
    """The modules of ``stable-diffusion-v1-5`` (UNet, CLIP ViT-L/14 text encoder, VAE), random
    weights, on torch's default device."""
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel

    return {
        "unet": UNet2DConditionModel(
            sample_size=64,
            in_channels=4,
            out_channels=4,
            block_out_channels=(320, 640, 1280, 1280),
            down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
            up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
            layers_per_block=2,
            cross_attention_dim=768,
            attention_head_dim=8,
        ),
        "vae": _vae(512),
        "text_encoder": CLIPTextModel(_clip_text_config(768, 12, 12)),
    }


def sdxl_components() -> dict[str, Any]:
    """The modules of ``stable-diffusion-xl-base-1.0``: the UNet (transformer depth 1/2/10,
    cross-attention 2048 = 768 + 1280, the text-and-time added embedding), CLIP ViT-L/14 and
    OpenCLIP ViT-bigG/14 (with projection) text encoders, the VAE (which, as shipped, decodes in
    fp32: ``force_upcast``), random weights, on torch's default device."""
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    return {
        "unet": UNet2DConditionModel(
            sample_size=128,
            in_channels=4,
            out_channels=4,
            block_out_channels=(320, 640, 1280),
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            layers_per_block=2,
            transformer_layers_per_block=(1, 2, 10),
            attention_head_dim=(5, 10, 20),
            cross_attention_dim=2048,
            use_linear_projection=True,
            addition_embed_type="text_time",
            addition_embed_type_num_heads=64,
            addition_time_embed_dim=256,
            # 6 time ids x 256 + the bigG encoder's 1280-wide pooled projection.
            projection_class_embeddings_input_dim=2816,
        ),
        "vae": _vae(1024, scaling_factor=0.13025, force_upcast=True),
        "text_encoder": CLIPTextModel(_clip_text_config(768, 12, 12)),
        "text_encoder_2": CLIPTextModelWithProjection(
            _clip_text_config(1280, 32, 20, act="gelu", projection=1280)
        ),
    }


def _tokenizer(directory: Path) -> Any:
    from transformers import CLIPTokenizer

    write_clip_tokenizer(directory)  # the full 49,408-token CLIP vocabulary, written locally
    # bandit: a local directory (local_files_only=True): nothing is downloaded.
    return CLIPTokenizer.from_pretrained(directory, local_files_only=True)  # nosec B615


def build_architecture(name: str, path: Path, *, device: str, dtype: torch.dtype) -> Path:
    """Save the ``sd15-arch`` or ``sdxl-arch`` pipeline with random weights at ``path``.

    The weights are created on ``device`` (fast on a GPU) and saved in ``dtype``.
    """
    from diffusers import (
        EulerDiscreteScheduler,
        PNDMScheduler,
        StableDiffusionPipeline,
        StableDiffusionXLPipeline,
    )

    def make(scratch: Path) -> Any:
        torch.manual_seed(0)
        with torch.device(device):  # only the modules: schedulers keep their tensors on the CPU
            modules = sd15_components() if name == "sd15-arch" else sdxl_components()
        if name == "sd15-arch":
            pipeline = StableDiffusionPipeline(
                **modules,
                tokenizer=_tokenizer(scratch / "tokenizer"),
                scheduler=PNDMScheduler(**_SCALED_LINEAR, skip_prk_steps=True, steps_offset=1),
                safety_checker=None,
                feature_extractor=None,
                requires_safety_checker=False,
            )
        else:
            pipeline = StableDiffusionXLPipeline(
                **modules,
                tokenizer=_tokenizer(scratch / "tokenizer"),
                tokenizer_2=_tokenizer(scratch / "tokenizer_2"),
                scheduler=EulerDiscreteScheduler(
                    **_SCALED_LINEAR, steps_offset=1, timestep_spacing="leading"
                ),
            )
        return pipeline.to(dtype=dtype)

    return build_atomically(path, make)


ARCHITECTURES = ("sd15-arch", "sdxl-arch")


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def measure(
    model: Path, *, device: str, size: tuple[int, int], batch: int, steps: int, rounds: int
) -> dict[str, Any]:
    """Warm up once, then time ``rounds`` jobs of ``batch`` images; the median job's figures."""
    width, height = size
    params = GenerationParams(
        prompt="a red star on a navy background",
        negative_prompt="blurry",
        width=width,
        height=height,
        steps=steps,
        guidance_scale=5.0,  # > 1: classifier-free guidance, as every real request runs
        seed=1,
        num_images=batch,
    )
    started = time.perf_counter()
    generate(model_path=model, params=params)  # load, kernels, compilation
    _sync(device)
    warm_s = time.perf_counter() - started
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        images = generate(model_path=model, params=params)
        _sync(device)
        times.append(time.perf_counter() - started)
        if len(images) != batch:
            raise RuntimeError(f"asked for {batch} images, got {len(images)}")
    median = statistics.median(times)
    return {
        "size": f"{width}x{height}",
        "batch": batch,
        "steps": steps,
        "warmup_s": round(warm_s, 2),
        "s_per_job": round(median, 4),
        "s_min": round(min(times), 4),
        "s_max": round(max(times), 4),
        "images_per_s": round(batch / median, 3),
        "peak_gib": (
            round(torch.cuda.max_memory_allocated() / 2**30, 2) if device == "cuda" else None
        ),
    }


def _parser() -> argparse.ArgumentParser:
    cuda = torch.cuda.is_available()
    parser = argparse.ArgumentParser(
        prog="python bench/gpu_families.py",
        description="Images/s of each family's tiny model and of the SD 1.5 and SDXL "
        "architectures (random weights, native sizes), with and without torch.compile.",
    )
    parser.add_argument(
        "--device",
        choices=("cuda", "cpu"),
        default="cuda" if cuda else "cpu",
        help="cuda (fp16; the default when a GPU is present) or cpu (fp32; for checking "
        "the script where there is no GPU)",
    )
    parser.add_argument("--tiny-only", action="store_true", help="skip the full-size cases")
    parser.add_argument(
        "--cases",
        help="comma-separated subset of: " + ", ".join((*ARCHITECTURES, *TINY_FAMILIES)),
    )
    parser.add_argument(
        "--compile",
        choices=("both", "off", "on"),
        default="both",
        help="run each case without and with torch.compile (both), or one of them",
    )
    parser.add_argument("--steps", type=int, default=25, help="denoising steps (default 25)")
    parser.add_argument("--rounds", type=int, default=3, help="timed jobs per case (default 3)")
    parser.add_argument("--batch4", action="store_true", help="also time batches of 4 images")
    parser.add_argument(
        "--budget-s",
        type=float,
        help="start no new case after this many seconds (the rest is reported as skipped)",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    return parser


def _selected(args: argparse.Namespace) -> list[str]:
    names = [] if args.tiny_only else list(ARCHITECTURES)
    names += list(TINY_FAMILIES)
    if args.cases:
        wanted = [name.strip() for name in args.cases.split(",") if name.strip()]
        unknown = sorted(set(wanted) - set(ARCHITECTURES) - set(TINY_FAMILIES))
        if unknown:
            raise SystemExit(f"unknown case(s): {', '.join(unknown)}")
        names = [name for name in names if name in wanted]
    if not names:
        raise SystemExit("no case selected")
    return names


def _table(results: list[dict[str, Any]]) -> str:
    rows = [
        "| case | size | batch | compile | warm-up s | s per job (min-max) | images/s | peak GiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        compiled = "yes" if r["compile"] else "no"
        if "error" in r or "skipped" in r:
            reason = r.get("error") or r["skipped"]
            rows.append(f"| {r['case']} | | {r['batch']} | {compiled} | {reason} | | | |")
            continue
        spread = f"{r['s_per_job']} ({r['s_min']}-{r['s_max']})"
        rows.append(
            f"| {r['case']} | {r['size']} | {r['batch']} | {compiled} | {r['warmup_s']} | "
            f"{spread} | {r['images_per_s']} | {r['peak_gib'] if r['peak_gib'] else '-'} |"
        )
    return "\n".join(rows)


def _summary(results: list[dict[str, Any]]) -> str:
    parts = []
    for r in results:
        label = f"{r['case']}[b{r['batch']}{',compiled' if r['compile'] else ''}]"
        parts.append(f"{label}={r.get('images_per_s', 'n/a')}")
    return "images/s: " + " ".join(parts)


def _build(
    name: str, path: Path, device: str, dtype: torch.dtype, out: Callable[[str], None]
) -> str | None:
    """Build case ``name``'s model at ``path``; the error, if that fails."""
    started = time.perf_counter()
    try:
        if name in ARCHITECTURES:
            build_architecture(name, path, device=device, dtype=dtype)
        else:
            build_tiny_family(name, path, seed=0)
    except Exception as error:
        return f"building: {type(error).__name__}: {error}"[:300]
    finally:
        if device == "cuda":
            torch.cuda.empty_cache()  # the builder's copy of the weights
    out(f"built {name} in {time.perf_counter() - started:.1f}s")
    return None


def _run_case(path: Path, args: argparse.Namespace, *, batch: int, compile_unet: bool) -> dict:
    """One case from a fresh load: its figures, or its error (the other cases still run)."""
    pipelines.configure_cache(1, compile_unet=compile_unet)
    pipelines.clear_model_cache()
    # Fresh compilation caches: one UNet class's forward is compiled for several models, and
    # past dynamo's recompile limit it would silently run uncompiled.
    torch._dynamo.reset()
    try:
        size = inspect_model(path).default_size or (512, 512)
        return measure(
            path, device=args.device, size=size, batch=batch, steps=args.steps, rounds=args.rounds
        )
    except Exception as error:
        return {"error": f"{type(error).__name__}: {error}"[:300]}
    finally:
        pipelines.clear_model_cache()


def main(argv: Sequence[str] | None = None, *, out: Callable[[str], None] | None = None) -> list:
    """Run the cases ``argv`` selects; print and return one result dict per case.

    A case that fails is reported with its error and the others still run.
    """
    out = out or functools.partial(print, flush=True)  # lines survive a run killed at its limit
    args = _parser().parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device here (use --device cpu --tiny-only)")
    if args.device == "cpu" and torch.cuda.is_available():
        # The engine puts models on the GPU whenever there is one.
        raise SystemExit("--device cpu with a GPU present: run with CUDA_VISIBLE_DEVICES=")
    dtype = torch.float16 if args.device == "cuda" else torch.float32
    names = _selected(args)
    compiles = {"both": (False, True), "off": (False,), "on": (True,)}[args.compile]
    batches = (1, 4) if args.batch4 else (1,)
    gpu = torch.cuda.get_device_name() if args.device == "cuda" else "none"
    precision = str(dtype).removeprefix("torch.")
    out(f"device={args.device} gpu={gpu} dtype={precision} torch={torch.__version__}")
    begun = time.perf_counter()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="gpu-families-") as scratch:
        for name in names:
            path = Path(scratch) / name
            build_error = None
            for compile_unet, batch in itertools.product(compiles, batches):
                result: dict[str, Any] = {"case": name, "compile": compile_unet, "batch": batch}
                if args.budget_s is not None and time.perf_counter() - begun > args.budget_s:
                    result["skipped"] = "out of time budget"
                elif build_error is None and not path.exists():
                    build_error = _build(name, path, args.device, dtype, out)
                if build_error is not None:
                    result["error"] = build_error
                elif "skipped" not in result:
                    result |= _run_case(path, args, batch=batch, compile_unet=compile_unet)
                results.append(result)
                out(json.dumps(result))
                if args.json:
                    args.json.write_text(json.dumps(results, indent=2))
            shutil.rmtree(path, ignore_errors=True)  # SDXL takes 7 GB of disk in fp16
    pipelines.configure_cache(compile_unet=False)
    out(f"total {time.perf_counter() - begun:.0f}s, {args.steps} steps, median of {args.rounds}")
    out(_table(results))
    out(_summary(results))
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
