"""Output checks inside the platform: the configuration of a request's checks, recording
their results on assets (with history and quarantine), and running them again.

The checks themselves are plain Python (``generation.checks``); this module turns the
project's brand kit and the request's policy concepts into their configuration, and stores
what they found. Workers call ``request_checks_run`` right after generating, before the
images are stored, so no image is ever shown unchecked.
"""

import logging

from django.conf import settings
from django.db import transaction

from generation.jobs import dispatch, events
from generation.jobs.models import Asset, AssetCheck, GenerationRequest
from imprimatur.metrics import verdict_recorded
from imprimatur.tenancy.models import BrandProject, BrandReferenceImage

logger = logging.getLogger(__name__)


def clip_model_name() -> str:
    """What names the configured CLIP model in stored embeddings and results."""
    return f"{settings.IMPRIMATUR_CLIP_ARCHITECTURE}:{settings.IMPRIMATUR_CLIP_CHECKPOINT}"


def clip_load():
    """The configured CLIP model, loaded once per worker process (``load_clip`` caches)."""
    from generation.engine.clip import load_clip

    return load_clip(
        settings.IMPRIMATUR_CLIP_ARCHITECTURE,
        settings.IMPRIMATUR_CLIP_CHECKPOINT,
        config_file=settings.IMPRIMATUR_CLIP_CONFIG or None,
    )


# --- Reference images: embedded once ----------------------------------------------------------


def reference_embed(reference: BrandReferenceImage, clip=None) -> BrandReferenceImage:
    """Compute and store the reference image's CLIP embedding for the configured model."""
    from PIL import Image

    from generation.checks import reference_embeddings

    clip = clip or clip_load()
    with reference.image.open("rb") as handle, Image.open(handle) as image:
        [embedding] = reference_embeddings(clip, [image.convert("RGB")])
    reference.embedding = embedding
    reference.embedding_model = clip_model_name()
    reference.save(update_fields=["embedding", "embedding_model"])
    return reference


def reference_image_saved(sender, instance, created, **kwargs) -> None:
    """A new brand reference image: a worker embeds it once, so checks never pay for it."""
    if created:
        dispatch.send_on_commit(dispatch.EMBED_REFERENCE_IMAGE, args=[instance.pk])


def project_reference_embeddings(project: BrandProject, clip) -> tuple[list[int], list]:
    """The ids and stored embeddings of the project's reference images for the configured
    model; any missing (an upload whose embedding task has not run yet, or a changed CLIP
    model) are computed now and stored, so each is computed once."""
    model = clip_model_name()
    ids, embeddings = [], []
    for reference in project.reference_images.order_by("pk"):
        if reference.embedding is None or reference.embedding_model != model:
            reference = reference_embed(reference, clip)
        ids.append(reference.pk)
        embeddings.append(reference.embedding)
    return ids, embeddings


# --- Configuration ----------------------------------------------------------------------------


def checks_config(request: GenerationRequest, clip, reference_embeddings=()):
    """The checks of one request: the NudeNet rules and the concepts its policy versions set
    (stored on the request at submission), and the project's brand kit (with the given
    reference embeddings) and thresholds."""
    from generation.checks import (
        BrandKit,
        BrandThresholds,
        ChecksConfig,
        ConceptSpec,
        nudenet_rules,
    )

    project = request.project
    concepts = tuple(
        ConceptSpec(
            name=concept["concept"],
            action=concept.get("action", "flag"),
            **({"threshold": concept["threshold"]} if concept.get("threshold") else {}),
        )
        for concept in request.policy_output_concepts
    )
    on_brand = tuple(project.on_brand_descriptors)
    off_brand = tuple(project.off_brand_descriptors)
    if not (on_brand and off_brand):
        on_brand = off_brand = ()  # the descriptor score needs both sides
    brand = BrandKit(
        palette=tuple(colour.upper() for colour in project.palette),
        reference_embeddings=tuple(map(tuple, reference_embeddings)),
        on_brand=on_brand,
        off_brand=off_brand,
    )
    safety = request.policy_safety_classes
    return ChecksConfig(
        nudenet_rules=nudenet_rules(
            {name: rule["threshold"] for name, rule in safety.items() if "threshold" in rule},
            {name: rule["action"] for name, rule in safety.items() if "action" in rule},
        ),
        concepts=concepts,
        brand=brand,
        brand_thresholds=BrandThresholds(**project.brand_thresholds),
    )


def images_check(request: GenerationRequest, images) -> list[dict]:
    """Run every check on a request's images (one batch per model); plain results."""
    from generation.checks import run_checks

    clip = clip_load()
    _ids, references = project_reference_embeddings(request.project, clip)
    config = checks_config(request, clip, references)
    results = run_checks(images, prompt=request.prompt, config=config, clip=clip)
    return [result.to_dict() for result in results]


# --- Recording --------------------------------------------------------------------------------


def asset_checks_record(
    *, asset: Asset, result: dict, trigger: str = AssetCheck.Trigger.GENERATION, user=None
) -> AssetCheck:
    """Store one run of the checks on an asset and make it the asset's current verdict; a
    failed image is quarantined (and a later passing run lifts the quarantine). The image's
    CLIP embedding, when the result has one, is kept beside the result, not in it (nor in the
    audit event)."""
    result = dict(result)
    embedding = result.pop("embedding", None)
    check = AssetCheck.objects.create(
        asset=asset,
        verdict=result["verdict"],
        result=result,
        suite_version=result["version"],
        clip_model=clip_model_name(),
        embedding=embedding,
        trigger=trigger,
        created_by=user,
    )
    asset.check_verdict = result["verdict"]
    asset.quarantined = result["verdict"] == Asset.Verdict.FAIL
    asset.has_face = bool(result.get("has_face"))
    asset.save(update_fields=["check_verdict", "quarantined", "has_face"])
    events.asset_checked(asset=asset, result=result, trigger=trigger, user=user)
    verdict_recorded(result["verdict"], trigger)
    return check


def asset_review_facts(asset: Asset, result: dict) -> set[str]:
    """The conditions a workflow stage may ask for, as this asset's checks met them."""
    facts = set()
    if result["verdict"] == Asset.Verdict.FLAG:
        facts.add("check_flagged")
    if result["verdict"] == Asset.Verdict.FAIL:
        facts.add("check_failed")
    brand = result.get("brand")
    if brand and brand.get("score") is not None and brand["score"] < brand["threshold"]:
        facts.add("brand_below")
    if asset.has_face and asset.request.project.likeness_review:
        facts.add("face_detected")
    return facts


# --- Running again ----------------------------------------------------------------------------


def asset_checks_rerun(*, asset_id: int, user_id: int | None = None) -> AssetCheck:
    """Run the checks again on a stored asset (after thresholds or the brand kit changed);
    the earlier results stay in its history. Runs in a worker."""
    from django.contrib.auth import get_user_model
    from PIL import Image

    asset = Asset.objects.select_related("request__project__organization").get(pk=asset_id)
    with asset.image.open("rb") as handle, Image.open(handle) as image:
        [result] = images_check(asset.request, [image.convert("RGB")])
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    result["index"] = asset.index
    with transaction.atomic():
        return asset_checks_record(
            asset=asset, result=result, trigger=AssetCheck.Trigger.RERUN, user=user
        )
