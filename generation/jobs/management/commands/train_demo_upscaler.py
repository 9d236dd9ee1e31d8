"""Train the demo pack's 4x upscaler on the procedural shapes and measure it against bicubic."""

import json
from dataclasses import asdict
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Train the demo pack's super-resolution network (a Real-ESRGAN compact network, 4x: "
        "64 -> 256 px) on the procedural shapes dataset, write it to --output as "
        "upscaler-x4.safetensors with TRAINING.json, then report PSNR and SSIM of the network "
        "and of bicubic interpolation on held-out scenes. With --evaluate-only, only measure "
        "the file already there."
    )

    def add_arguments(self, parser):
        from generation.demo.upscaler import UpscalerTrainConfig

        defaults = UpscalerTrainConfig()
        parser.add_argument(
            "--output",
            type=Path,
            default=settings.IMPRIMATUR_DEMO_MODELS_DIR / "upscaler",
            help="Folder of the network (default: generation/demo_models/upscaler).",
        )
        parser.add_argument("--steps", type=int, default=defaults.steps)
        parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
        parser.add_argument("--features", type=int, default=defaults.num_feat)
        parser.add_argument("--convolutions", type=int, default=defaults.num_conv)
        parser.add_argument("--seed", type=int, default=defaults.seed)
        parser.add_argument(
            "--eval-images", type=int, default=48, help="Held-out scenes measured (default 48)."
        )
        parser.add_argument("--evaluate-only", action="store_true")

    def handle(self, *args, **options):
        from generation.demo.upscaler import (
            WEIGHTS_NAME,
            UpscalerTrainConfig,
            evaluate_upscaler,
            train_upscaler,
        )

        out: Path = options["output"]
        weights = out / WEIGHTS_NAME
        if options["evaluate_only"]:
            if not weights.is_file():
                raise CommandError(f"No network to evaluate at {weights}.")
        else:
            config = UpscalerTrainConfig(
                steps=options["steps"],
                batch_size=options["batch_size"],
                num_feat=options["features"],
                num_conv=options["convolutions"],
                seed=options["seed"],
            )

            def progress(step: int, total: int, loss: float) -> None:
                if step % 100 == 0 or step == total:
                    self.stdout.write(f"step {step}/{total}: loss {loss:.5f}")

            weights = train_upscaler(out, config, progress=progress)
        scores = evaluate_upscaler(weights, count=options["eval_images"])
        record_path = out / "TRAINING.json"
        record = json.loads(record_path.read_text()) if record_path.is_file() else {}
        record["evaluation"] = {**asdict(scores), "beats_bicubic": scores.beats_bicubic}
        record_path.write_text(json.dumps(record, indent=2) + "\n")
        self.stdout.write(
            f"psnr_model={scores.psnr_model:.2f} psnr_bicubic={scores.psnr_bicubic:.2f} "
            f"ssim_model={scores.ssim_model:.4f} ssim_bicubic={scores.ssim_bicubic:.4f} "
            f"images={scores.images}"
        )
        if not scores.beats_bicubic:
            raise CommandError("The network does not beat bicubic on both PSNR and SSIM.")
