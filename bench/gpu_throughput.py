"""Images per second of the engine on a GPU: the tiny test pipeline and a full-size
Stable Diffusion 1.5 *architecture* with random weights (no real weights can be had here;
speed depends on the architecture, not on the values of the weights).

Runs the engine's real code path (`generation.engine.pipelines.generate`, fp16 on CUDA), so
the numbers are what a GPU worker gets per job, minus the platform's bookkeeping.

    python bench/gpu_throughput.py [--quick]

Prints one line per case: model, size, batch, compile, images_per_s, s_per_image, peak_gib.
"""

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from generation.engine import pipelines
from generation.engine.pipelines import GenerationParams, generate
from generation.engine.tiny import build_tiny_pipeline


def build_sd15_architecture(path: Path) -> Path:
    """A Stable Diffusion 1.5-shaped pipeline (860M-parameter UNet, CLIP ViT-L/14 text
    encoder, the SD VAE) with random weights, saved in diffusers format."""
    from diffusers import (
        AutoencoderKL,
        PNDMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    tiny = build_tiny_pipeline(path.parent / "tokenizer-source", seed=0)
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=64,
        block_out_channels=(320, 640, 1280, 1280),
        layers_per_block=2,
        cross_attention_dim=768,
        attention_head_dim=8,
    )
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        layers_per_block=2,
        sample_size=512,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            hidden_size=768,
            intermediate_size=3072,
            num_hidden_layers=12,
            num_attention_heads=12,
            vocab_size=49408,
            max_position_embeddings=77,
            hidden_act="quick_gelu",
        )
    )
    pipeline = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=CLIPTokenizer.from_pretrained(tiny / "tokenizer"),
        scheduler=PNDMScheduler(skip_prk_steps=True),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(path, safe_serialization=True)
    return path


def measure(model: Path, *, size: int, batch: int, steps: int, rounds: int) -> dict:
    params = GenerationParams(
        prompt="a red star on a navy background",
        negative_prompt="",
        width=size,
        height=size,
        steps=steps,
        guidance_scale=7.5,
        seed=1,
        num_images=batch,
    )
    generate(model_path=model, params=params)  # warm-up: load, kernels, compile
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        generate(model_path=model, params=params)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {
        "size": size,
        "batch": batch,
        "steps": steps,
        "s_per_job": round(median, 4),
        "images_per_s": round(batch / median, 2),
        "s_per_image": round(median / batch, 4),
        "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Fewer rounds and cases.")
    parser.add_argument("--steps", type=int, default=25)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("No CUDA device: this benchmark is for GPU workers.")
    rounds = 3 if args.quick else 5
    print(f"device={torch.cuda.get_device_name()} torch={torch.__version__}", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        tiny = build_tiny_pipeline(scratch / "tiny", seed=0)
        started = time.perf_counter()
        sd15 = build_sd15_architecture(scratch / "sd15-arch")
        print(f"built sd15-architecture in {time.perf_counter() - started:.1f}s", flush=True)
        cases = [(tiny, "tiny", 64, 1, False), (sd15, "sd15-arch", 512, 1, False)]
        cases += [(sd15, "sd15-arch", 512, 4, False), (sd15, "sd15-arch", 512, 1, True)]
        if not args.quick:
            cases += [(tiny, "tiny", 64, 4, False), (sd15, "sd15-arch", 512, 4, True)]
        for path, name, size, batch, compile_unet in cases:
            pipelines.configure_cache(2, compile_unet=compile_unet)
            pipelines.clear_model_cache()
            result = measure(path, size=size, batch=batch, steps=args.steps, rounds=rounds)
            print(json.dumps({"model": name, "compile": compile_unet, **result}), flush=True)
            pipelines.clear_model_cache()


if __name__ == "__main__":
    main()
