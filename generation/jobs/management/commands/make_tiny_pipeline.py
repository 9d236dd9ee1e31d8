"""Build the tiny random-weight Stable Diffusion pipeline the tests use (images are noise)."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Build a tiny random-weight Stable-Diffusion-architecture pipeline (diffusers format, "
        "safetensors) at IMPRIMATUR_TINY_MODEL_PATH (default var/models/tiny-sd). It "
        "generates noise-like images, but through the same loading code as SD 1.5. Tests use it; "
        "`make run` uses the trained demo pack in generation/demo_models instead."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--path", type=Path, default=None, help="Where to write it (default: the model path)."
        )
        parser.add_argument("--seed", type=int, default=0, help="Seed for the random weights.")
        parser.add_argument(
            "--if-missing",
            action="store_true",
            help="Do nothing when a pipeline already exists there.",
        )

    def handle(self, *args, path=None, seed=0, if_missing=False, **options):
        from generation.engine.tiny import build_tiny_pipeline

        target = Path(path or settings.IMPRIMATUR_TINY_MODEL_PATH)
        if if_missing and (target / "model_index.json").exists():
            self.stdout.write(f"Tiny pipeline already at {target}.")
            return
        if target.exists():
            raise CommandError(
                f"{target} already exists. Delete it first, or pass --if-missing to keep it."
            )
        build_tiny_pipeline(target, seed=seed)
        self.stdout.write(self.style.SUCCESS(f"Tiny pipeline written to {target}."))
