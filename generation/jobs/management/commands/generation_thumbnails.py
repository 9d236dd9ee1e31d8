from django.core.management.base import BaseCommand

from generation.jobs.thumbnails import THUMBNAIL_MAX_SIDE, thumbnails_backfill


class Command(BaseCommand):
    help = (
        "Make the missing thumbnails (WebP, at most "
        f"{THUMBNAIL_MAX_SIDE} px on the longer side) of images stored before thumbnails "
        "existed. New images get theirs when the worker stores them. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--limit", type=int, default=None, help="Stop after this many (default: all)."
        )

    def handle(self, *args, limit=None, **options):
        made = thumbnails_backfill(limit=limit)
        self.stdout.write(f"Made {made} thumbnail{'' if made == 1 else 's'}.")
