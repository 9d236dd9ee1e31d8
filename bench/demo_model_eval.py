"""Evaluate the demo model pack on prompts and images it never saw in training.

The text-to-image pipeline draws one image for each of ``--prompts`` held-out prompts (fixed
seeds), through the same engine the workers use. Each image is read back by pixel statistics
alone (``generation.demo.measure``: no learned model): the background is the palette colour
nearest the border, the shape's colour the one nearest its interior, and its kind the dataset
template with the best IoU. The CLIP model is scored zero-shot on rendered held-out images:
"a <colour> shape" over the palette and "a <shape>" over the shapes.

The last line is machine-readable:
shape_colour_acc=<x> background_acc=<x> shape_acc=<x> clip_colour_acc=<x> clip_shape_acc=<x>
gen_s_per_image=<x>

Usage: .venv/bin/python bench/demo_model_eval.py [--prompts 200] [--steps 25] [--grid out.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from generation.demo.evaluation import evaluate_clip, evaluate_pipeline
from generation.demo.training import DEMO_PIPELINE_DIR, RECOMMENDED_GUIDANCE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEMO_PIPELINE_DIR)
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--clip-images", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument(
        "--guidance",
        type=float,
        default=None,
        help="Guidance scale (default: the pack's recommended one).",
    )
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--grid", type=Path, default=None, help="Save the first 100 images here.")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    guidance = args.guidance if args.guidance is not None else RECOMMENDED_GUIDANCE
    print(f"torch threads: {torch.get_num_threads()}, steps {args.steps}, guidance {guidance}")
    gen, seconds, confusion = evaluate_pipeline(
        args.model, args.prompts, args.steps, guidance, args.grid
    )
    print(
        "most common colour errors:",
        ", ".join(f"{k} ({v})" for k, v in confusion.most_common(5)) or "none",
    )
    clip = evaluate_clip(args.clip_images)
    print(
        f"shape_colour_acc={gen['colour']:.3f} background_acc={gen['background']:.3f} "
        f"shape_acc={gen['shape']:.3f} clip_colour_acc={clip['colour']:.3f} "
        f"clip_shape_acc={clip['shape']:.3f} gen_s_per_image={seconds:.3f}"
    )


if __name__ == "__main__":
    main()
