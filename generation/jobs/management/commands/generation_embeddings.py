from django.core.management.base import BaseCommand, CommandError

from generation.jobs.checking import clip_model_name
from generation.jobs.set_measures import embeddings_backfill


class Command(BaseCommand):
    help = (
        "Store the configured CLIP model's embedding of approved images checked before the "
        "checks kept embeddings, and of brand reference images that lack it (after a change "
        "of CLIP model, say), so that the set measure (CMMD on the calibration page and in "
        "the reports) counts them. Loads the CLIP model; run it where a worker could. New "
        "images get theirs when they are checked. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--limit", type=int, default=None, help="Stop after this many images (default: all)."
        )

    def handle(self, *args, limit=None, **options):
        if limit is not None and limit < 1:
            raise CommandError("--limit must be at least 1.")
        done = embeddings_backfill(limit=limit)
        self.stdout.write(
            f"Embedded {_count(done.images, 'approved image')} and "
            f"{_count(done.references, 'reference image')} with {clip_model_name()}."
        )
        if done.other_model:
            verb = "was" if done.other_model == 1 else "were"
            self.stdout.write(
                f"{_count(done.other_model, 'approved image')} {verb} checked by another CLIP "
                "model: run their checks again to count them in the set measure."
            )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
