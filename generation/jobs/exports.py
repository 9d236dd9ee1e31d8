"""Signed exports of a generated image, for the request page and the API alike.

An export is the image (its approved version once approved) re-encoded as JPEG or WebP (or
kept as PNG), then signed: re-encoding changes every byte the C2PA hard binding covers, so
the export gets a manifest of its own whose parent ingredient is the signed source, and the
source's history travels along inside it (``generation.provenance.export_signed``). Each
export is recorded in the audit log: which file left the platform, from which image.
"""

import hashlib
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from generation.jobs import events
from generation.jobs.models import Asset
from imprimatur.tenancy.permissions import Action, user_may

#: The formats an image is exported as, with their content types.
EXPORT_FORMATS = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
#: Those re-encoded on export: what the API offers (the PNG itself is ``assets/<id>/file/``).
REENCODED_FORMATS = ("jpeg", "webp")


@dataclass(frozen=True)
class ExportedFile:
    content: bytes
    content_type: str
    filename: str


def may_export(*, user, asset: Asset) -> bool:
    """Whoever may have the image's file: members of its organisation, and for a quarantined
    image (it failed the checks) only those who may see quarantined images."""
    if not user_may(user, Action.VIEW, asset):
        return False
    return not asset.quarantined or user_may(user, Action.SEE_QUARANTINED, asset)


def asset_export(*, asset: Asset, user, fmt: str) -> ExportedFile:
    """The image as ``fmt`` (png, jpeg or webp), signed after the re-encoding with the stored
    image as parent ingredient; recorded as ``generation.asset.export``.

    Signing takes a while, so it happens before the transaction that records the export: the
    audit event is written only for a file that was made.
    """
    from generation.jobs.signing import signer_load
    from generation.provenance import export_signed

    if fmt not in EXPORT_FORMATS:
        raise ValidationError({"format": f"Export as {', '.join(EXPORT_FORMATS)}, not {fmt!r}."})
    if not may_export(user=user, asset=asset):
        raise PermissionDenied("Only members who may see this image export it.")
    approved = bool(asset.published_image)
    stored = asset.published_image or asset.image
    with stored.open("rb") as handle:
        source = handle.read()
    name = f"imprimatur-request{asset.request_id}-{asset.index + 1}"
    content = export_signed(source, fmt, signer=signer_load(), title=f"{name}.{fmt}")
    with transaction.atomic():
        events.asset_exported(
            asset=asset,
            user=user,
            fmt=fmt,
            sha256=hashlib.sha256(content).hexdigest(),
            size=len(content),
            approved=approved,
        )
    suffix = "-approved" if approved else ""
    return ExportedFile(
        content=content, content_type=EXPORT_FORMATS[fmt], filename=f"{name}{suffix}.{fmt}"
    )
