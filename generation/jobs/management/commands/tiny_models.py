"""Build a tiny random-weight pipeline of each model family (images are noise)."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Build a tiny random-weight pipeline of each model family from config, nothing "
        "downloaded: Stable Diffusion 1.x/2.x, SDXL, Stable Diffusion 3, PixArt-Alpha, "
        "PixArt-Sigma and Flux, each at OUT/<family>-tiny (diffusers format, safetensors, a few "
        "MB). They generate noise, but through the loading and running code of real "
        "checkpoints of their family. Register one with `model_register --path`."
    )

    def add_arguments(self, parser):
        from generation.engine.tiny_families import TINY_FAMILIES

        parser.add_argument(
            "--family",
            action="append",
            choices=TINY_FAMILIES,
            help="A family to build (repeat for several; default: all of them).",
        )
        parser.add_argument(
            "--out",
            type=Path,
            default=None,
            help="Folder to build them in (default: the tiny model's folder, var/models).",
        )
        parser.add_argument("--seed", type=int, default=0, help="Seed for the random weights.")
        parser.add_argument(
            "--force", action="store_true", help="Rebuild a family's pipeline that exists."
        )

    def handle(self, *args, family=None, out=None, seed=0, force=False, **options):
        import shutil

        from transformers.utils import logging as transformers_logging

        from generation.engine.tiny_families import TINY_FAMILIES, build_tiny_family

        transformers_logging.disable_progress_bar()
        out = Path(out or Path(settings.IMPRIMATUR_TINY_MODEL_PATH).parent)
        for name in family or TINY_FAMILIES:
            target = out / f"{name}-tiny"
            if target.exists():
                if not force:
                    self.stdout.write(f"{name}: already at {target} (--force rebuilds it).")
                    continue
                if not (target / "model_index.json").is_file():
                    raise CommandError(f"{target} exists and is not a pipeline; not deleting it.")
                shutil.rmtree(target)
            build_tiny_family(name, target, seed=seed)
            self.stdout.write(self.style.SUCCESS(f"{name}: written to {target}."))
