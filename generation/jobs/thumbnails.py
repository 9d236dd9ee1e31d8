"""Thumbnails: one small WebP per asset, for galleries and the review queue.

Made once, when the worker stores the image (``worker.asset_store``: it holds the PNG in
memory, so pages never decode a full image on the request path). Assets stored before
thumbnails existed get theirs from ``manage.py generation_thumbnails`` (a backfill), or, if
a page asks first, from the thumbnail view, which makes and stores it under the asset's row
lock so that two requests at once still make one file. The file goes through Django's
storage (a local folder or the S3 bucket), beside the asset's image.
"""

from __future__ import annotations

import io

from django.core.files.base import ContentFile
from django.db import transaction

from generation.jobs.models import Asset

#: Longest side of a thumbnail in pixels; smaller images keep their size (no upscaling).
THUMBNAIL_MAX_SIDE = 256
WEBP_QUALITY = 80


def thumbnail_bytes(data: bytes, *, max_side: int = THUMBNAIL_MAX_SIDE) -> bytes:
    """A WebP of the image in ``data``, its longer side at most ``max_side`` pixels."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image = image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB")
        image.thumbnail((max_side, max_side))  # keeps the aspect ratio, never enlarges
        out = io.BytesIO()
        image.save(out, format="WEBP", quality=WEBP_QUALITY, method=4)
    return out.getvalue()


def _name(asset: Asset) -> str:
    return f"job{asset.job_id}-{asset.index}-thumb.webp"


def thumbnail_attach(asset: Asset, png: bytes) -> None:
    """Give an unsaved (or thumbnail-less) asset its thumbnail file, made from ``png``; the
    caller saves the row (the worker, inside its store transaction)."""
    asset.thumbnail.save(_name(asset), ContentFile(thumbnail_bytes(png)), save=False)


def thumbnail_ensure(asset: Asset) -> Asset:
    """The asset with its thumbnail, made now if it has none (once: under its row lock)."""
    if asset.thumbnail:
        return asset
    with transaction.atomic():
        locked = Asset.objects.select_for_update().get(pk=asset.pk)
        if not locked.thumbnail:
            with locked.image.open("rb") as stored:
                png = stored.read()
            thumbnail_attach(locked, png)
            locked.save(update_fields=["thumbnail"])
    asset.thumbnail = locked.thumbnail
    return asset


def thumbnails_backfill(*, batch: int = 200, limit: int | None = None) -> int:
    """Make the missing thumbnails of every asset, oldest first; returns how many were made.
    Safe to run again (and while workers store images): each is made once."""
    made = 0
    last = 0
    while limit is None or made < limit:
        assets = list(
            Asset.objects.filter(thumbnail="", pk__gt=last).exclude(image="").order_by("pk")[:batch]
        )
        if not assets:
            break
        for asset in assets:
            last = asset.pk
            thumbnail_ensure(asset)
            made += 1
            if limit is not None and made >= limit:
                break
    return made
