"""Writes for tenancy: organisations, roles, projects, brand kits and API tokens. Each writes
its audit event in the same transaction."""

import io
import struct
import uuid

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.text import slugify
from PIL import Image, ImageOps
from rest_framework.authtoken.models import Token

from imprimatur.tenancy import events
from imprimatur.tenancy.models import BrandProject, BrandReferenceImage, Membership, Organization
from imprimatur.tenancy.permissions import Action, Role, user_may

User = get_user_model()


@transaction.atomic
def organization_create(*, name: str, slug: str = "", actor=None) -> Organization:
    organization = Organization(name=name, slug=slug or slugify(name))
    organization.full_clean()
    organization.save()
    events.organization_created(organization=organization, actor=actor)
    return organization


@transaction.atomic
def membership_grant(*, organization: Organization, user, role: str, actor=None) -> Membership:
    """Give `user` the `role` in `organization`; granting a role twice changes nothing."""
    if role not in Role.values:
        raise ValueError(f"Unknown role {role!r}; roles are {', '.join(Role.values)}.")
    membership, created = Membership.objects.get_or_create(
        user=user, organization=organization, role=role
    )
    if created:
        events.membership_granted(membership=membership, actor=actor)
    return membership


@transaction.atomic
def project_create(
    *,
    organization: Organization,
    name: str,
    slug: str = "",
    description: str = "",
    palette: list[str] | None = None,
    on_brand_descriptors: list[str] | None = None,
    off_brand_descriptors: list[str] | None = None,
    actor=None,
) -> BrandProject:
    project = BrandProject(
        organization=organization,
        name=name,
        slug=slug or slugify(name),
        description=description,
        palette=palette or [],
        on_brand_descriptors=on_brand_descriptors or [],
        off_brand_descriptors=off_brand_descriptors or [],
    )
    project.full_clean()
    project.save()
    events.project_created(project=project, actor=actor)
    return project


@transaction.atomic
def api_token_create(*, user) -> Token:
    """A new API token for `user`, replacing any earlier one (one token per user)."""
    Token.objects.filter(user=user).delete()
    token = Token.objects.create(user=user)
    events.api_token_created(user=user)
    return token


@transaction.atomic
def api_token_revoke(*, user) -> bool:
    deleted, _ = Token.objects.filter(user=user).delete()
    if deleted:
        events.api_token_revoked(user=user)
    return bool(deleted)


# -- Brand kits --------------------------------------------------------------------------------

#: Reference image limits, the same as for request uploads: 10 MB and 4096 pixels a side.
MAX_REFERENCE_BYTES = 10 * 1024 * 1024
MAX_REFERENCE_SIDE = 4096
_REFERENCE_FORMATS = ("PNG", "JPEG", "WEBP")
# What Pillow raises for malformed or truncated data while parsing or decoding.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, TypeError)

BRAND_KIT_FIELDS = (
    "description",
    "palette",
    "on_brand_descriptors",
    "off_brand_descriptors",
    "brand_thresholds",
    "likeness_review",
)


def _ensure_may_manage(*, user, project: BrandProject) -> None:
    if not user_may(user, Action.MANAGE, project):
        raise PermissionDenied("Only admins of the project's organisation edit its brand kit.")


@transaction.atomic
def project_brand_update(
    *,
    project: BrandProject,
    user,
    palette: list[str] | None = None,
    on_brand_descriptors: list[str] | None = None,
    off_brand_descriptors: list[str] | None = None,
    brand_thresholds: dict | None = None,
    likeness_review: bool | None = None,
    description: str | None = None,
    via: str = "",
) -> BrandProject:
    """Change the brand kit fields given (None leaves a field as it is); admins only.

    Writes one `tenancy.project.update` event naming the fields that changed, with before and
    after for the thresholds and the likeness review; nothing is written when nothing changed.
    """
    _ensure_may_manage(user=user, project=project)
    project = BrandProject.objects.select_for_update().get(pk=project.pk)
    given = {
        "description": description,
        "palette": palette,
        "on_brand_descriptors": on_brand_descriptors,
        "off_brand_descriptors": off_brand_descriptors,
        "brand_thresholds": brand_thresholds,
        "likeness_review": likeness_review,
    }
    before = {name: getattr(project, name) for name in BRAND_KIT_FIELDS}
    changed = []
    for name, value in given.items():
        if value is not None and value != before[name]:
            setattr(project, name, value)
            changed.append(name)
    if not changed:
        return project
    project.full_clean()
    on_brand, off_brand = project.on_brand_descriptors, project.off_brand_descriptors
    if bool(on_brand) != bool(off_brand):
        missing = "off_brand_descriptors" if on_brand else "on_brand_descriptors"
        raise ValidationError(
            {
                missing: "Give descriptors on both sides or on neither: the check scores which "
                "of the two sides an image is closer to."
            }
        )
    project.save()
    changes = {
        name: {"before": before[name], "after": getattr(project, name)}
        for name in ("brand_thresholds", "likeness_review")
        if name in changed
    }
    events.project_updated(project=project, actor=user, fields=changed, changes=changes, via=via)
    return project


@transaction.atomic
def brand_threshold_set(*, project: BrandProject, user, name: str, value: float, via: str):
    """Set one brand check threshold (e.g. from the calibration chart): a new version of the
    brand kit, through ``project_brand_update``, so the change is checked and audited alike;
    the other thresholds stay as they are. Admins only."""
    _ensure_may_manage(user=user, project=project)
    locked = BrandProject.objects.select_for_update().get(pk=project.pk)
    thresholds = {**locked.brand_thresholds, name: value}
    return project_brand_update(project=locked, user=user, brand_thresholds=thresholds, via=via)


def _reference_png(data: bytes) -> bytes:
    """The uploaded image re-encoded as a metadata-free RGB PNG, or a ValidationError on
    `image` saying why it was refused. Size and dimensions are checked before decoding."""

    def refuse(reason: str) -> ValidationError:
        return ValidationError({"image": f"This file was refused: {reason}."})

    if not data:
        raise refuse("the file is empty")
    if len(data) > MAX_REFERENCE_BYTES:
        raise refuse(
            f"it is {len(data) / 1024 / 1024:.1f} MB; the limit is "
            f"{MAX_REFERENCE_BYTES // 1024 // 1024} MB"
        )
    try:
        # Reads the header only; only the PNG, JPEG and WebP decoders are tried.
        image = Image.open(io.BytesIO(data), formats=_REFERENCE_FORMATS)
    except (Image.UnidentifiedImageError, Image.DecompressionBombError):
        raise refuse("it is not a PNG, JPEG or WebP image") from None
    except _DECODE_ERRORS:
        raise refuse("the image file is damaged or truncated") from None
    width, height = image.size
    if max(width, height) > MAX_REFERENCE_SIDE:
        raise refuse(
            f"it is {width}\N{MULTIPLICATION SIGN}{height} pixels; the limit is "
            f"{MAX_REFERENCE_SIDE} pixels a side"
        )
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
            rgba = image.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            image = flat
        else:
            image = image.convert("RGB")
    except (Image.DecompressionBombError, *_DECODE_ERRORS):
        raise refuse("the image file is damaged or truncated") from None
    out = io.BytesIO()
    image.save(out, format="PNG")  # a fresh image: no EXIF, ICC or text chunks
    return out.getvalue()


@transaction.atomic
def reference_image_add(
    *, project: BrandProject, user, image_file, caption: str = ""
) -> BrandReferenceImage:
    """Add an on-brand example image to the project's brand kit; admins only.

    The upload is checked (PNG, JPEG or WebP; at most 10 MB and 4096 pixels a side) and stored
    re-encoded as PNG. A worker computes its embedding after the commit.
    """
    _ensure_may_manage(user=user, project=project)
    png = _reference_png(image_file.read())
    reference = BrandReferenceImage(project=project, caption=caption.strip())
    reference.image.save(f"{uuid.uuid4().hex}.png", ContentFile(png), save=False)
    try:
        reference.full_clean()
    except ValidationError:
        reference.image.delete(save=False)
        raise
    reference.save()
    events.reference_added(reference=reference, actor=user)
    return reference


@transaction.atomic
def reference_image_remove(*, reference: BrandReferenceImage, user) -> None:
    """Remove a reference image from its brand kit (and its file, once committed); admins only."""
    project = reference.project
    _ensure_may_manage(user=user, project=project)
    name = reference.image.name
    storage = reference.image.storage
    events.reference_removed(reference=reference, actor=user)
    reference.delete()
    transaction.on_commit(lambda: storage.delete(name))
