"""Set measures: how close a project's approved images are, as a set, to its brand references.

Why: the brand check scores one image at a time; whether a period's approved output drifts
from the brand as a whole is a property of the set. CMMD (``generation.checks.cmmd``) between
the approved images' CLIP embeddings and the reference images' answers it; both are stored
(the check keeps each image's embedding, the kit each reference's), so the measure is numpy
over stored vectors: no model is loaded and no image is read in a web request.

Only embeddings of the CLIP model now configured are compared (an embedding of another
model lives in another space); the counts of what was left out are reported with the value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import OuterRef, Subquery

from generation.jobs.checking import clip_model_name
from generation.jobs.models import Asset, AssetCheck
from imprimatur.tenancy.models import BrandProject

#: The newest approved images a measure reads at most.
MAX_IMAGES = 500
#: CMMD's unbiased estimate needs two of each.
MIN_SET = 2
#: Under this many images (or a fifth as many references) the figure is said to be rough.
STEADY_SET = 10


@dataclass(frozen=True)
class SetMeasure:
    """CMMD of one project's approved images to its references, or why there is none."""

    project: BrandProject
    value: float | None
    images: int
    references: int
    #: Approved images (in the window) without an embedding of the configured model: checked
    #: before embeddings were kept, by another CLIP model, or without one.
    images_left_out: int
    references_left_out: int
    reason: str = ""

    @property
    def label(self) -> str:
        return "—" if self.value is None else f"{self.value:.3f}"

    @property
    def note(self) -> str:
        """What a reader should know about this figure, or ''."""
        if self.value is None:
            return ""
        notes = []
        if self.images < STEADY_SET or self.references < STEADY_SET // 2:
            notes.append("few images: a rough figure")
        if self.value < 0:
            notes.append("below 0: no difference this estimate can tell from chance")
        return "; ".join(notes)


def approved_cmmd(
    project: BrandProject,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = MAX_IMAGES,
) -> SetMeasure:
    """CMMD between the project's approved images (made in ``[since, until)``, the newest
    ``limit``) and its brand reference images, by the configured CLIP model."""
    from generation.checks.cmmd import cmmd

    model = clip_model_name()
    assets = Asset.objects.filter(request__project=project, status=Asset.Status.APPROVED)
    if since is not None:
        assets = assets.filter(created_at__gte=since)
    if until is not None:
        assets = assets.filter(created_at__lt=until)
    latest = AssetCheck.objects.filter(asset=OuterRef("pk")).order_by("-created_at", "-pk")
    rows = list(
        assets.order_by("-created_at", "-id")
        .annotate(
            check_model=Subquery(latest.values("clip_model")[:1]),
            check_embedding=Subquery(latest.values("embedding")[:1]),
        )
        .values_list("check_model", "check_embedding")[:limit]
    )
    images = [embedding for name, embedding in rows if name == model and embedding]
    kit = list(project.reference_images.values_list("embedding", "embedding_model"))
    references = [embedding for embedding, name in kit if embedding and name == model]
    total_references = len(kit)
    facts = {
        "project": project,
        "images": len(images),
        "references": len(references),
        "images_left_out": len(rows) - len(images),
        "references_left_out": total_references - len(references),
    }
    if len(references) < MIN_SET:
        why = (
            "the brand kit has no reference images"
            if not total_references
            else f"{len(references)} of the {total_references} reference images are embedded "
            "by the current CLIP model"
        )
        return SetMeasure(value=None, reason=f"Needs at least 2 reference images: {why}.", **facts)
    if len(images) < MIN_SET:
        return SetMeasure(
            value=None,
            reason=f"Needs at least 2 approved images with a CLIP embedding; {len(images)} here.",
            **facts,
        )
    return SetMeasure(value=cmmd(images, references), **facts)


@dataclass(frozen=True)
class EmbeddingBackfill:
    """What ``embeddings_backfill`` did."""

    images: int
    references: int
    #: Approved images whose current check was made by another CLIP model: only running their
    #: checks again measures them (an embedding beside another model's scores would mislead).
    other_model: int


def embeddings_backfill(*, batch: int = 16, limit: int | None = None, clip=None):
    """Store the configured CLIP model's embedding of every approved image whose current check
    has none (checked before checks kept embeddings), oldest first, and embed the reference
    images that lack this model's embedding; returns an ``EmbeddingBackfill``. The vector is
    of the stored image file, as the check's is of the image it stored. Safe to run again (and
    while workers check images): each is embedded once."""
    from PIL import Image

    from generation.checks.embeddings import encode_images
    from generation.jobs.checking import clip_load, reference_embed
    from imprimatur.tenancy.models import BrandReferenceImage

    model = clip_model_name()
    latest = AssetCheck.objects.filter(asset=OuterRef("asset")).order_by("-created_at", "-pk")
    current = AssetCheck.objects.filter(
        asset__status=Asset.Status.APPROVED, pk=Subquery(latest.values("pk")[:1])
    )
    missing = current.filter(embedding__isnull=True, clip_model=model).exclude(asset__image="")
    done, last = 0, 0
    while limit is None or done < limit:
        size = batch if limit is None else min(batch, limit - done)
        checks = list(missing.filter(pk__gt=last).select_related("asset").order_by("pk")[:size])
        if not checks:
            break
        clip = clip or clip_load()
        images = []
        for check in checks:
            with check.asset.image.open("rb") as handle, Image.open(handle) as image:
                images.append(image.convert("RGB"))
        for check, vector in zip(checks, encode_images(clip, images).tolist(), strict=True):
            AssetCheck.objects.filter(pk=check.pk).update(embedding=vector)
        done += len(checks)
        last = checks[-1].pk
    references = 0
    stale = BrandReferenceImage.objects.exclude(embedding_model=model, embedding__isnull=False)
    for reference in stale.order_by("pk"):
        clip = clip or clip_load()
        reference_embed(reference, clip)
        references += 1
    return EmbeddingBackfill(
        images=done, references=references, other_model=current.exclude(clip_model=model).count()
    )
