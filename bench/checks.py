"""Output-check throughput: every check on a job's images in one batch, against one at a time.

Makes 64 images with the demo pipeline (``generation/demo_models/tiny-sd``) at its native
64x64 px (10 denoising steps by default, ``--steps``; the checks do not care how good the
pictures are, and generating 64 images at 512 px with a 64-px model would take minutes and
mean nothing), from a few on-brand and off-brand prompts, and upscales each to 512x512 with
PIL's bicubic filter, the size a production model would hand over. Then it runs
``generation.checks.run_checks`` with every check on: NudeNet (default rules), three CLIP
concepts (the demo CLIP, ``generation/demo_models/tiny-clip``) and a full brand kit (two
palette colours, 12 reference embeddings, on- and off-brand descriptors, prompt alignment).

Two ways, interleaved round by round after a warm-up (models loaded, texts cached):

- **batched**: one ``run_checks`` call with all 64 images; per-image time = call time / 64.
- **single**: 64 ``run_checks`` calls of one image each; per-image time = round time / 64.

Each number is the median over ``--rounds`` rounds (wall-clock; the process CPU time is
printed too, since the machine may be shared). Both ways must give the same verdicts; the
benchmark stops if they do not. Then one more round of each, taken apart by check (NudeNet,
CLIP image encoding, concepts, brand), shows where the time goes.

Threads: ``--threads`` (default 1) sets both torch's and onnxruntime's. On the shared 2-core
development VM, whenever another process keeps one core busy, a second OpenMP thread makes
torch spin at every barrier waiting for it: the tiny CLIP then takes ~200 ms of CPU for one
image instead of ~3 ms, and the demo pipeline 35 s instead of 2 s for 8 images. One thread
per process is also how a CPU worker pool is run (one process per core).

The last line is always ``per_image_ms=<batched median> single_ms=<single median>
batch_speedup=<single/batched>``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from itertools import islice
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch
from PIL import Image

from generation.checks import (
    BrandKit,
    ChecksConfig,
    ConceptSpec,
    reference_embeddings,
    run_checks,
)
from generation.checks.brand import check_brand_from_embeddings
from generation.checks.concepts import score_concepts_from_embeddings
from generation.checks.embeddings import encode_images
from generation.checks.safety import detect_nudity
from generation.demo.dataset import PALETTE, render, scenes
from generation.demo.training import (
    CLIP_ARCHITECTURE,
    CLIP_CHECKPOINT,
    CLIP_CONFIG_FILE,
    DEMO_PIPELINE_DIR,
    RECOMMENDED_GUIDANCE,
)
from generation.engine.clip import load_clip

PROMPTS = (
    "a red star on a navy background",
    "a red circle on a navy background",
    "a green square on a yellow background",
    "a blue ring on a white background",
)


def _hex(name: str) -> str:
    return "#{:02X}{:02X}{:02X}".format(*PALETTE[name])


def generate_images(count: int, size: int, steps: int, seed: int) -> list[Image.Image]:
    from generation.engine.pipelines import GenerationParams, clear_model_cache, generate

    images: list[Image.Image] = []
    per_call = 8  # larger batches of this tiny model are no faster per image on a CPU
    try:
        for index in range(-(-count // per_call)):
            prompt = PROMPTS[index % len(PROMPTS)]
            params = GenerationParams(
                prompt=prompt,
                negative_prompt="",
                width=64,
                height=64,
                steps=steps,
                guidance_scale=RECOMMENDED_GUIDANCE,
                seed=seed + 1000 * index,
                num_images=per_call,
            )
            images += generate(model_path=DEMO_PIPELINE_DIR, params=params)
    finally:
        clear_model_cache()
    return [image.resize((size, size), Image.Resampling.BICUBIC) for image in images[:count]]


def build_config(clip, threads: int) -> ChecksConfig:
    references = [
        render(scene, 64)
        for scene in islice(
            (s for s in scenes("train", 1) if s.colour == "red" and s.background == "navy"), 12
        )
    ]
    return ChecksConfig(
        nudenet_threads=threads,
        concepts=(
            ConceptSpec("star", prompt="a star", action="flag"),
            ConceptSpec("ring", prompt="a ring", action="flag"),
            ConceptSpec("weapons", action="fail"),
        ),
        brand=BrandKit(
            palette=(_hex("red"), _hex("navy")),
            reference_embeddings=reference_embeddings(clip, references),
            on_brand=("a red shape on a navy background", "a red shape"),
            off_brand=(
                "a green shape on a yellow background",
                "a blue shape on a white background",
            ),
        ),
    )


def timed(function) -> tuple[float, float, object]:
    """(wall seconds, process CPU seconds, result)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def breakdown(images, clip, config, prompt) -> dict[str, float]:
    """Seconds per check for one call on ``images`` (the runner's steps, timed one by one)."""
    parts = {}
    start = time.perf_counter()
    detect_nudity(images, config.nudenet_rules, threads=config.nudenet_threads)
    parts["nudenet"] = time.perf_counter() - start
    start = time.perf_counter()
    embeddings = encode_images(clip, images)
    parts["clip_images"] = time.perf_counter() - start
    start = time.perf_counter()
    score_concepts_from_embeddings(clip, embeddings, config.concepts)
    parts["concepts"] = time.perf_counter() - start
    start = time.perf_counter()
    check_brand_from_embeddings(images, embeddings, kit=config.brand, clip=clip, prompt=prompt)
    parts["brand"] = time.perf_counter() - start
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=64, help="images per job (default 64)")
    parser.add_argument("--size", type=int, default=512, help="upscaled side in px (512)")
    parser.add_argument("--steps", type=int, default=10, help="denoising steps (default 10)")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds (default 5)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch and onnxruntime threads (default 1; see the module docstring)",
    )
    args = parser.parse_args()
    if args.images < 1 or args.rounds < 1:
        parser.error("--images and --rounds must be at least 1")

    if args.threads < 1:
        parser.error("--threads must be at least 1")
    torch.set_num_threads(args.threads)
    print(f"torch and onnxruntime threads: {args.threads}", file=sys.stderr)
    start = time.perf_counter()
    images = generate_images(args.images, args.size, args.steps, args.seed)
    print(
        f"generated {len(images)} images at 64 px ({args.steps} steps), upscaled to "
        f"{args.size} px in {time.perf_counter() - start:.1f} s",
        file=sys.stderr,
    )
    clip = load_clip(CLIP_ARCHITECTURE, CLIP_CHECKPOINT, config_file=CLIP_CONFIG_FILE)
    config = build_config(clip, args.threads)
    prompt = PROMPTS[0]

    def batched():
        return run_checks(images, prompt=prompt, config=config, clip=clip)

    def single():
        return [run_checks([image], prompt=prompt, config=config, clip=clip)[0] for image in images]

    # Warm-up: the NudeNet session, the text embeddings, torch's first-call costs.
    run_checks(images[:2], prompt=prompt, config=config, clip=clip)
    run_checks(images[:1], prompt=prompt, config=config, clip=clip)

    batched_ms, single_ms, batched_cpu, single_cpu = [], [], [], []
    for round_number in range(1, args.rounds + 1):
        wall_b, cpu_b, many = timed(batched)
        wall_s, cpu_s, ones = timed(single)
        if [r.verdict for r in many] != [r.verdict for r in ones]:
            raise SystemExit("batched and one-at-a-time checks disagree on a verdict")
        batched_ms.append(wall_b / len(images) * 1000)
        single_ms.append(wall_s / len(images) * 1000)
        batched_cpu.append(cpu_b / len(images) * 1000)
        single_cpu.append(cpu_s / len(images) * 1000)
        print(
            f"round {round_number}: batched {batched_ms[-1]:.1f} ms/image "
            f"(cpu {batched_cpu[-1]:.1f}), single {single_ms[-1]:.1f} ms/image "
            f"(cpu {single_cpu[-1]:.1f})",
            file=sys.stderr,
        )

    verdicts = [r.verdict for r in many]
    print(
        "verdicts: "
        + ", ".join(f"{v} {verdicts.count(v)}" for v in ("pass", "flag", "fail") if v in verdicts)
    )
    print(
        f"process CPU ms/image (medians): batched {statistics.median(batched_cpu):.1f}, "
        f"single {statistics.median(single_cpu):.1f}"
    )

    whole = breakdown(images, clip, config, prompt)
    one_by_one: dict[str, float] = {}
    for image in images:
        for name, seconds in breakdown([image], clip, config, prompt).items():
            one_by_one[name] = one_by_one.get(name, 0.0) + seconds
    print(f"{'check':<12} {'batched ms/img':>15} {'single ms/img':>14}")
    for name in whole:
        print(
            f"{name:<12} {whole[name] / len(images) * 1000:>15.2f} "
            f"{one_by_one[name] / len(images) * 1000:>14.2f}"
        )

    per_image = statistics.median(batched_ms)
    one = statistics.median(single_ms)
    print(f"per_image_ms={per_image:.1f} single_ms={one:.1f} batch_speedup={one / per_image:.2f}")


if __name__ == "__main__":
    main()
