"""GPU worker throughput: cross-request batching and checks kept off the generation path.

Eight concurrent one-image requests for the same model (the demo pack's tiny-sd, or the
SD 1.5 architecture with random weights via ``--model``), each with its own prompt and seed:

  serial    eight ``generate`` calls of one image each (what one-by-one serving does);
  batched   one ``generate_batch`` call with the eight requests (the worker's batching);
  batch_speedup = serial seconds / batched seconds (images/s ratio).

End to end, over ``--batches`` batches of eight: generation alone, versus generation with
every image's checks (``run_checks``: NudeNet, CLIP concepts, brand fit) and signing
(watermark, C2PA ``sign_generated``) done in a second thread while the next batch generates
(the worker's ``IMPRIMATUR_FINISH_IN_BACKGROUND``):
  pipeline_ratio = end-to-end images/s / generation-alone images/s.

Serial and batched rounds alternate; medians and the spread (min, max) are printed. Last line:

  batch_speedup=<median> pipeline_ratio=<median>

    python bench/throughput.py [--size 64] [--steps 20] [--rounds 5] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import torch

from generation.checks import ChecksConfig, ConceptSpec, run_checks
from generation.demo.training import CLIP_ARCHITECTURE, CLIP_CHECKPOINT, CLIP_CONFIG_FILE
from generation.engine import pipelines
from generation.engine.clip import load_clip
from generation.engine.pipelines import BatchItem, GenerationParams, generate, generate_batch
from generation.provenance import GenerationClaim, create_development_pki, sign_generated
from generation.provenance.fingerprint import embed_watermark, watermark_id_for

DEMO_MODEL = Path(__file__).resolve().parent.parent / "generation" / "demo_models" / "tiny-sd"
PROMPTS = [
    f"a {colour} {shape} on a navy background"
    for colour, shape in [
        ("red", "star"),
        ("green", "circle"),
        ("blue", "square"),
        ("yellow", "ring"),
        ("white", "triangle"),
        ("orange", "star"),
        ("purple", "circle"),
        ("black", "square"),
    ]
]


def shared_params(args) -> GenerationParams:
    return GenerationParams(
        prompt="",
        negative_prompt="",
        width=args.size,
        height=args.size,
        steps=args.steps,
        guidance_scale=5.0,
        seed=0,
        num_images=1,
    )


def serial(args, model: str) -> list:
    images = []
    for index, prompt in enumerate(PROMPTS[: args.requests]):
        params = GenerationParams(**{**shared_params(args).__dict__, "prompt": prompt})
        params = GenerationParams(**{**params.__dict__, "seed": 100 + index})
        images += generate(model_path=model, params=params)
    return images


def batched(args, model: str) -> list:
    items = [
        BatchItem(prompt=prompt, negative_prompt="", seed=100 + index)
        for index, prompt in enumerate(PROMPTS[: args.requests])
    ]
    generate_batch(model_path=model, params=shared_params(args), items=items)
    return [image for item in items for image in item.images]


class Finisher:
    """Checks and signs images in a second thread, as the worker does after a batch."""

    def __init__(self, clip, config, signer):
        self.clip, self.config, self.signer = clip, config, signer
        self.threads: list[threading.Thread] = []

    def finish(self, images: list) -> None:
        results = run_checks(images, prompt=PROMPTS[0], config=self.config, clip=self.clip)
        for index, (image, result) in enumerate(zip(images, results, strict=True)):
            marked, _ = embed_watermark(image, watermark_id_for(f"bench:{index}"))
            buffer = io.BytesIO()
            marked.save(buffer, "PNG", compress_level=6)
            sign_generated(
                buffer.getvalue(),
                signer=self.signer,
                claim=GenerationClaim(
                    request_id=f"req-{index}",
                    project="bench",
                    model="tiny-sd",
                    prompt=PROMPTS[index % len(PROMPTS)],
                    steps=20,
                    guidance_scale=5.0,
                    seed=index,
                    width=image.width,
                    height=image.height,
                    checks={"verdict": result.verdict},
                ),
                image=marked,
            )

    def submit(self, images: list) -> None:
        self.wait()  # one batch finishing at a time, as in the worker
        thread = threading.Thread(target=self.finish, args=(images,))
        thread.start()
        self.threads.append(thread)

    def wait(self) -> None:
        for thread in self.threads:
            thread.join()
        self.threads.clear()


def timed(function, *args) -> tuple[float, object]:
    started = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - started, result


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.3f} (min {min(values):.3f}, max {max(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(DEMO_MODEL), help="pipeline folder (demo tiny-sd)")
    parser.add_argument("--size", type=int, default=64, help="image side in px (default 64)")
    parser.add_argument("--steps", type=int, default=20, help="denoising steps (default 20)")
    parser.add_argument("--requests", type=int, default=8, help="concurrent requests (8)")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds (default 5)")
    parser.add_argument("--batches", type=int, default=3, help="batches per end-to-end round")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = args.model
    pipelines.load_pipeline(model).set_progress_bar_config(disable=True)
    clip = load_clip(CLIP_ARCHITECTURE, CLIP_CHECKPOINT, config_file=CLIP_CONFIG_FILE)
    config = ChecksConfig(concepts=(ConceptSpec("weapons", action="fail"),))
    device = pipelines.load_pipeline(model).device
    print(f"model {model} on {device}, {args.size} px, {args.steps} steps", file=sys.stderr)

    with tempfile.TemporaryDirectory() as tmp:
        signer = create_development_pki(tmp).signer()
        finisher = Finisher(clip, config, signer)
        # Warm-up: first-call costs of both paths, NudeNet's session, the c2pa library.
        finisher.finish(batched(args, model)[:2])
        serial(args, model)

        speedups, ratios, differences = [], [], []
        for round_number in range(1, args.rounds + 1):
            serial_s, one_by_one = timed(serial, args, model)
            batched_s, together = timed(batched, args, model)
            differences.append(
                max(
                    int(np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).max())
                    for a, b in zip(one_by_one, together, strict=True)
                )
            )

            def generation_only():
                for _ in range(args.batches):
                    batched(args, model)

            def end_to_end():
                for _ in range(args.batches):
                    finisher.submit(batched(args, model))
                finisher.wait()

            alone_s, _ = timed(generation_only)
            whole_s, _ = timed(end_to_end)
            speedups.append(serial_s / batched_s)
            ratios.append(alone_s / whole_s)
            images = args.requests * args.batches
            print(
                f"round {round_number}: serial {serial_s:.3f} s, batched {batched_s:.3f} s "
                f"(x{speedups[-1]:.2f}); {images} images: generation alone {alone_s:.3f} s, "
                f"with checks and signing {whole_s:.3f} s (ratio {ratios[-1]:.2f})",
                file=sys.stderr,
            )
    print(
        f"same seeds, batched against one by one: max abs pixel difference {max(differences)}"
        " (of 255)",
        file=sys.stderr,
    )
    print(f"batch_speedup: {spread(speedups)}", file=sys.stderr)
    print(f"pipeline_ratio: {spread(ratios)}", file=sys.stderr)
    print(
        f"batch_speedup={statistics.median(speedups):.2f} "
        f"pipeline_ratio={statistics.median(ratios):.2f}"
    )


if __name__ == "__main__":
    main()
