"""Train the demo brand's style (white-outlined shapes) as a LoRA on the demo pack, and measure it.

What it does, on the demo text-to-image model (``generation/demo_models/tiny-sd``):
1. Renders the brand kit: ``--train + --held-out`` shapes with a thick white outline
   (``generation.demo.brand_style``), a trait the base model never draws; the held-out ones
   are not trained on.
2. Trains a LoRA on the training images with ``generation.engine.lora.lora_train`` (wall and
   CPU time reported; the machine may be shared, so wall time is an upper bound).
3. Generates ``--images`` images for prompts of brand scenes twice, interleaved: base model,
   then with the style (``GenerationParams.adapters``), same seeds.
4. Measures CMMD (the demo CLIP model) of each set to references (outlined renders of the
   same scenes, and the held-out kit images), the share of images with the outline (pixel
   measure), the share whose shape keeps the colour asked for, and the style switch time
   (style A, style B, none, on the warm pipeline) against one image's generation time.

The last line is machine-readable:
train_s=<wall s> switch_ms=<median ms> cmmd_base=<x> cmmd_style=<x> trait_rate=<x>

Usage: .venv/bin/python bench/styles.py [--steps 800] [--rank 16] [--trigger outlined]
    [--text-encoder | --no-text-encoder] [--flip] [--prior none|base|render] [--prior-weight 1]
    [--caption-dropout 0.3] [--convolutions | --no-convolutions] [--kit random|balanced]
    [--members 1] [--lr-schedule cosine|constant] [--snr-gamma G] [--noise-offset X]
    [--weight 1.0] [--guidance 5.0] [--seed 0] [--grid out.png]
(the defaults are run 58 of bench/README.md: run 24 (run 8, the trigger word and the text
encoder's LoRA, plus caption dropout 0.3 and LoRA on the UNet's convolutions) with the cosine
rate over 800 steps, on the demo pack as trained further on a GPU)
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from PIL import Image

from generation.checks.cmmd import cmmd_images
from generation.demo.brand_style import brand_kit, brand_scenes, read_outline, render_outlined
from generation.demo.dataset import render
from generation.demo.training import (
    CLIP_ARCHITECTURE,
    CLIP_CHECKPOINT,
    CLIP_CONFIG_FILE,
    DEMO_PIPELINE_DIR,
    RECOMMENDED_GUIDANCE,
)
from generation.engine.adapters import StyleAdapter, adapters_apply
from generation.engine.clip import load_clip
from generation.engine.lora import LR_SCHEDULES, LoraTrainConfig
from generation.engine.lora_ensemble import lora_train_members
from generation.engine.pipelines import GenerationParams, generate, load_pipeline

KIT_SEED, EVAL_SEED = 7, 8


def one_image(prompt: str, seed: int, args: argparse.Namespace) -> GenerationParams:
    """One 64 px image of ``prompt`` at the run's steps and guidance."""
    return GenerationParams(
        prompt=prompt,
        negative_prompt="",
        width=64,
        height=64,
        steps=args.gen_steps,
        guidance_scale=args.guidance,
        seed=seed,
        num_images=1,
    )


def save_grid(rows: list[list[Image.Image]], path: Path) -> None:
    width = max(len(row) for row in rows)
    grid = Image.new("RGB", (64 * width, 64 * len(rows)), (255, 255, 255))
    for y, row in enumerate(rows):
        for x, image in enumerate(row):
            grid.paste(image.resize((64, 64)), (64 * x, 64 * y))
    grid.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEMO_PIPELINE_DIR)
    parser.add_argument("--train", type=int, default=12, help="Brand images trained on.")
    parser.add_argument("--held-out", type=int, default=4, help="Brand images kept out.")
    parser.add_argument("--images", type=int, default=32, help="Images per set evaluated.")
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--gen-steps", type=int, default=20)
    parser.add_argument(
        "--trigger", default="outlined", help="Word appended to captions and prompts ('': none)."
    )
    switches = {
        "--text-encoder": (True, "Train the text encoder's LoRA too."),
        "--flip": (False, "Train on mirrored views too."),
        "--convolutions": (True, "Adapt the UNet's convolutions too, not only its attention."),
    }
    for flag, (default, text) in switches.items():
        parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=text)
    parser.add_argument(
        "--prior",
        choices=("none", "base", "render"),
        default="none",
        help="Prior preservation: the kit's scenes without the style, as the base model draws "
        "them for their captions (base) or as the dataset renders them (render), trained on "
        "beside the kit without the trigger word.",
    )
    parser.add_argument("--prior-weight", type=float, default=1.0)
    parser.add_argument(
        "--caption-dropout",
        type=float,
        default=0.3,
        help="Share of training captions replaced by the empty one.",
    )
    parser.add_argument(
        "--kit",
        choices=("balanced", "random"),
        default="random",
        help="The kit's scenes: every colour and shape in turn (balanced), or drawn at random.",
    )
    parser.add_argument(
        "--members",
        type=int,
        default=1,
        help="Train this many runs (seeds --seed on) and average them into one adapter.",
    )
    parser.add_argument("--lr-schedule", choices=LR_SCHEDULES, default="cosine")
    parser.add_argument(
        "--snr-gamma", type=float, default=None, help="Min-SNR loss weighting (default: none)."
    )
    parser.add_argument("--noise-offset", type=float, default=0.0)
    parser.add_argument("--weight", type=float, default=1.0, help="Adapter weight at use.")
    parser.add_argument("--guidance", type=float, default=RECOMMENDED_GUIDANCE)
    parser.add_argument("--seed", type=int, default=0, help="Training seed.")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="Training folder (resumes).")
    parser.add_argument("--grid", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    suffix = f", {args.trigger}" if args.trigger else ""

    count = args.train + args.held_out
    if args.kit == "balanced":
        kit = brand_kit(KIT_SEED, count)
    else:
        kit = list(islice(brand_scenes(KIT_SEED), count))
    train, held_out = kit[: args.train], kit[args.train :]
    out = args.out or Path(tempfile.mkdtemp(prefix="style-lora-"))
    config = LoraTrainConfig(
        rank=args.rank,
        steps=args.steps,
        learning_rate=args.lr,
        batch_size=args.batch,
        train_text_encoder=args.text_encoder,
        seed=args.seed,
        flip=args.flip,
        prior_weight=args.prior_weight,
        caption_dropout=args.caption_dropout,
        convolutions=args.convolutions,
        lr_schedule=args.lr_schedule,
        snr_gamma=args.snr_gamma,
        noise_offset=args.noise_offset,
    )
    print(f"torch threads {torch.get_num_threads()}; training into {out}; {config}", flush=True)
    wall, cpu = time.perf_counter(), time.process_time()  # the prior's images count as training
    prior = None
    if args.prior == "render":
        prior = ([render(scene) for scene in train], [scene.caption for scene in train])
    elif args.prior == "base":
        prior = ([], [scene.caption for scene in train])
        for index, scene in enumerate(train):
            params = one_image(scene.caption, 9000 + index, args)
            prior[0].extend(generate(model_path=args.model, params=params))
    result = lora_train_members(
        args.model,
        [render_outlined(scene) for scene in train],
        [scene.caption + suffix for scene in train],
        out,
        config,
        progress=lambda step, total, loss: (
            print(f"  step {step}/{total} loss {loss:.4f}", flush=True) if step % 25 == 0 else None
        ),
        prior=prior,
        members=args.members,
    )
    train_s, train_cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"trained {result.steps_done} steps in {train_s:.0f} s wall, {train_cpu:.0f} s CPU; "
        f"adapter {result.bytes:,} bytes; loss first 25 {statistics.mean(result.losses[:25]):.4f}"
        f", last 25 {statistics.mean(result.losses[-25:]):.4f}",
        flush=True,
    )
    style = StyleAdapter("demo-outline-v1", result.weights_path, args.weight, result.sha256)

    scenes = list(islice(brand_scenes(EVAL_SEED), args.images))
    base_images, style_images, seconds = [], [], []
    for index, scene in enumerate(scenes):
        params = one_image(scene.caption + suffix, 5000 + index, args)
        for adapters, bucket in (((), base_images), ((style,), style_images)):
            started = time.perf_counter()
            bucket += generate(
                model_path=args.model, params=dataclasses.replace(params, adapters=adapters)
            )
            seconds.append(time.perf_counter() - started)
        if (index + 1) % 8 == 0:
            print(f"  generated {index + 1}/{len(scenes)} pairs", flush=True)
    gen_s = statistics.median(seconds[2:])  # the first two pay for loading and the first load

    # Switch time on the warm pipeline: a second style (the same weights under another name),
    # then style A, style B, none, repeated.
    pipeline = load_pipeline(args.model)
    other = dataclasses.replace(style, name="demo-outline-copy")
    adapters_apply(pipeline, [other])  # first load of B, not a switch
    switches = []
    for _ in range(10):
        for chosen in ([style], [other], []):
            started = time.perf_counter()
            adapters_apply(pipeline, chosen)
            switches.append((time.perf_counter() - started) * 1000)
    adapters_apply(pipeline, [])
    switch_ms = statistics.median(switches)

    clip = load_clip(CLIP_ARCHITECTURE, CLIP_CHECKPOINT, config_file=CLIP_CONFIG_FILE)
    references = [render_outlined(scene) for scene in scenes]
    kept_out = [render_outlined(scene) for scene in held_out]
    plain = [render(scene) for scene in scenes]
    cmmd_base = cmmd_images(clip, base_images, references)
    cmmd_style = cmmd_images(clip, style_images, references)
    print(
        f"CMMD to outlined renders of the same scenes: base {cmmd_base:.3f}, style "
        f"{cmmd_style:.3f}, plain renders {cmmd_images(clip, plain, references):.3f}"
    )
    if len(kept_out) >= 2:
        print(
            f"CMMD to the {len(kept_out)} held-out kit images: base "
            f"{cmmd_images(clip, base_images, kept_out):.3f}, style "
            f"{cmmd_images(clip, style_images, kept_out):.3f}"
        )
    # Each image read once: whether it has the outline, and its shape's colour.
    base_read, style_read, reference_read = (
        [read_outline(image) for image in images]
        for images in (base_images, style_images, references)
    )
    trait_rate = statistics.mean(reading.present for reading in style_read)
    print(
        f"outline present: base {statistics.mean(r.present for r in base_read):.2f}, style "
        f"{trait_rate:.2f}, references {statistics.mean(r.present for r in reference_read):.2f}"
    )
    # The outline is the trait; the colour asked for should stay inside it.
    kept = [
        statistics.mean(
            r.core_colour == scene.colour for r, scene in zip(read, scenes, strict=True)
        )
        for read in (base_read, style_read)
    ]
    print(f"shape colour as asked (the core's): base {kept[0]:.2f}, style {kept[1]:.2f}")
    for shape in sorted({scene.shape for scene in scenes}):
        chosen = [i for i, scene in enumerate(scenes) if scene.shape == shape]
        found = sum(style_read[i].present for i in chosen)
        print(f"  {shape}: outline in {found} of {len(chosen)} styled images")
    print(
        f"one image: median {gen_s * 1000:.0f} ms (spread {min(seconds[2:]) * 1000:.0f}-"
        f"{max(seconds[2:]) * 1000:.0f}); switch median {switch_ms:.2f} ms (spread "
        f"{min(switches):.2f}-{max(switches):.2f}), {100 * switch_ms / (gen_s * 1000):.2f} % "
        f"of one image"
    )
    for label, images in (
        ("reference", references),
        ("base", base_images),
        ("style", style_images),
    ):
        for index, image in enumerate(images):
            image.save(out / f"{label}-{index:02d}.png")
    if args.grid:
        save_grid([references[:16], base_images[:16], style_images[:16]], args.grid)
    print(
        f"train_s={train_s:.0f} switch_ms={switch_ms:.2f} cmmd_base={cmmd_base:.3f} "
        f"cmmd_style={cmmd_style:.3f} trait_rate={trait_rate:.2f}"
    )


if __name__ == "__main__":
    main()
