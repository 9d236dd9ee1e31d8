"""Train the demo model pack (tiny SD pipeline and tiny open_clip model) on procedural images."""

from pathlib import Path

import torch
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Train the demo model pack on the procedural shapes dataset and export it: a tiny "
        "Stable-Diffusion-architecture pipeline (diffusers format) and a tiny open_clip model. "
        "Seeded and resumable: checkpoints go to --work-dir every few minutes, and running the "
        "same command again continues where it stopped (finished stages are skipped). Each "
        "stage runs for its time budget in minutes."
    )

    def add_arguments(self, parser):
        from generation.demo.training import DEMO_MODELS_DIR, Budget

        parser.add_argument(
            "--model",
            choices=["pipeline", "clip", "all"],
            default="all",
            help="Which model to train (default: all, the pipeline first).",
        )
        parser.add_argument(
            "--output",
            type=Path,
            default=DEMO_MODELS_DIR,
            help="Directory the pack is exported to, as tiny-sd/ and tiny-clip/ "
            "(default: generation/demo_models in the repository).",
        )
        parser.add_argument(
            "--work-dir",
            type=Path,
            default=None,
            help="Checkpoints and caches (default: <IMPRIMATUR_VAR_DIR>/demo_training/seed-N).",
        )
        parser.add_argument("--seed", type=int, default=0, help="Seed for data and weights.")
        parser.add_argument("--vae-minutes", type=float, default=Budget.vae)
        parser.add_argument("--unet-minutes", type=float, default=Budget.unet)
        parser.add_argument(
            "--decoder-minutes",
            type=float,
            default=Budget.decoder,
            help="Decoder-only VAE fine-tuning after the UNet.",
        )
        parser.add_argument("--clip-minutes", type=float, default=Budget.clip)
        parser.add_argument(
            "--bank-size",
            type=int,
            default=32_000,
            help="Training images rendered once and reused (default 32000).",
        )
        parser.add_argument(
            "--continue-from",
            type=Path,
            default=None,
            help="Train an exported pipeline's UNet and text encoder further from their own "
            "weights (for instance generation/demo_models/tiny-sd, when the scratch "
            "checkpoints are on another machine): its VAE is kept, the VAE and decoder stages "
            "are skipped, the UNet trains --unet-minutes more at a lower peak rate. "
            "Checkpoints go to <work-dir>/continue, so this resumes too. Only with "
            "--model pipeline.",
        )
        parser.add_argument(
            "--device",
            default="cpu",
            help="Where --continue-from encodes and trains: cpu (default) or a torch device "
            "such as cuda (a GPU machine trains in minutes what takes hours here).",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=64,
            help="Images per UNet step with --continue-from (default 64, as the pack was "
            "trained; a GPU is used better by larger batches).",
        )
        parser.add_argument(
            "--threads",
            type=int,
            default=None,
            help="CPU threads for torch (default: torch's choice).",
        )

    def handle(self, *args, **options):
        from generation.demo.training import Budget, train_clip, train_pipeline

        for name in ("vae_minutes", "unet_minutes", "decoder_minutes", "clip_minutes"):
            if options[name] < 0:
                raise CommandError(f"--{name.replace('_', '-')} must not be negative")
        if options["bank_size"] < 256:
            raise CommandError("--bank-size must be at least 256")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        for name, default in (("device", "cpu"), ("batch_size", 64)):
            if options[name] != default and not options["continue_from"]:
                raise CommandError(
                    f"--{name.replace('_', '-')} needs --continue-from (scratch training runs "
                    "on the CPU with its own batch sizes)"
                )
        try:
            device = torch.device(options["device"])
            torch.empty(0, device=device)
        except (RuntimeError, AssertionError) as error:
            raise CommandError(f"--device {options['device']}: {error}") from error
        if options["threads"]:
            torch.set_num_threads(options["threads"])
        seed = options["seed"]
        work_dir = options["work_dir"] or Path(settings.VAR_DIR) / "demo_training"
        work_dir = Path(work_dir) / f"seed-{seed}"
        output = Path(options["output"])
        budget = Budget(
            vae=options["vae_minutes"],
            unet=options["unet_minutes"],
            decoder=options["decoder_minutes"],
            clip=options["clip_minutes"],
        )
        if options["continue_from"]:
            from generation.demo.continuation import continue_pipeline

            if options["model"] != "pipeline":
                raise CommandError("--continue-from needs --model pipeline")
            try:
                path = continue_pipeline(
                    work_dir / "continue",
                    options["continue_from"],
                    output / "tiny-sd",
                    budget.unet,
                    seed,
                    bank_size=options["bank_size"],
                    device=options["device"],
                    batch_size=options["batch_size"],
                )
            except FileNotFoundError as error:
                raise CommandError(str(error)) from error
            self.stdout.write(self.style.SUCCESS(f"Pipeline trained further, exported to {path}"))
            return
        if options["model"] in ("pipeline", "all"):
            path = train_pipeline(
                work_dir, output / "tiny-sd", budget, seed, bank_size=options["bank_size"]
            )
            self.stdout.write(self.style.SUCCESS(f"Pipeline exported to {path}"))
        if options["model"] in ("clip", "all"):
            path = train_clip(
                work_dir, output / "tiny-clip", budget.clip, seed, bank_size=options["bank_size"]
            )
            self.stdout.write(self.style.SUCCESS(f"CLIP model exported to {path}"))
