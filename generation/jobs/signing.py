"""Provenance inside the platform: the signer from settings, the manifest of each generated
image, the approval manifest, and finding an image's asset again (verification).

The C2PA work itself is plain Python (``generation.provenance``); this module turns requests,
check results and review decisions into its claims, and keeps what identifies an asset after
its metadata is stripped (watermark id, perceptual hash).
"""

import hashlib
import io
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from PIL import Image

from generation.jobs.events import request_styles_data
from generation.jobs.models import UPSCALE
from generation.jobs.upscaling import parent_ingredient_bytes, upscaler_info

logger = logging.getLogger(__name__)


class ProvenanceNotConfigured(RuntimeError):
    """No signer is configured and the development one may not be made (DEBUG off)."""


@dataclass(frozen=True)
class SignerPaths:
    chain: Path
    key: Path
    anchors: Path | None


def dev_pki_dir() -> Path:
    return Path(settings.VAR_DIR) / "provenance"


def signer_paths() -> SignerPaths:
    """The configured signer, or the development one under var/ (made on first use when
    ``IMPRIMATUR_DEV_SIGNER`` allows it: by default while DEBUG is on)."""
    chain, key = settings.IMPRIMATUR_SIGNER_CHAIN, settings.IMPRIMATUR_SIGNER_KEY
    anchors = settings.IMPRIMATUR_TRUST_ANCHORS
    if chain and key:
        return SignerPaths(Path(chain), Path(key), Path(anchors) if anchors else None)
    if not settings.IMPRIMATUR_DEV_SIGNER:
        raise ProvenanceNotConfigured(
            "No C2PA signer is configured: set IMPRIMATUR_SIGNER_CHAIN and IMPRIMATUR_SIGNER_KEY "
            "(PEM files), or run `manage.py provenance_init` for a development signer."
        )
    from generation.provenance import create_development_pki

    pki = create_development_pki(dev_pki_dir())
    return SignerPaths(Path(pki.signer_chain), Path(pki.signer_key), Path(pki.root))


_signer_cache: dict[tuple, object] = {}
_lock = threading.Lock()


def signer_load():
    """The signer (a ``LocalSigner``), validated against the C2PA certificate profile once
    per process and file version."""
    from generation.provenance import LocalSigner

    paths = signer_paths()
    key = (str(paths.chain), paths.chain.stat().st_mtime, str(paths.key), paths.key.stat().st_mtime)
    with _lock:
        signer = _signer_cache.get(key)
        if signer is None:
            signer = LocalSigner(
                paths.chain.read_bytes(),
                paths.key.read_bytes(),
                trust_anchors_pem=trust_anchors(),
            )
            _signer_cache.clear()
            _signer_cache[key] = signer
    return signer


def trust_anchors() -> bytes | None:
    """The roots that local verification trusts: the configured ones, else the dev root."""
    anchors = settings.IMPRIMATUR_TRUST_ANCHORS
    if anchors:
        return Path(anchors).read_bytes()
    root = dev_pki_dir() / "root.pem"
    return root.read_bytes() if root.exists() else None


# --- Generation ------------------------------------------------------------------------------


def _checks_summary(result: dict | None) -> dict:
    """What the manifest says of the checks: verdicts and scores, not boxes or swatches."""
    if not result:
        return {}
    brand = result.get("brand") or {}
    return {
        "suite": result.get("version"),
        "verdict": result.get("verdict"),
        "reasons": list(result.get("reasons", []))[:10],
        "has_face": result.get("has_face"),
        "brand_score": brand.get("score"),
        "concepts": {
            c["name"]: round(c["score"], 4) for c in result.get("safety", {}).get("concepts", [])
        },
    }


def _upscale_claim(request, image: Image.Image) -> dict | None:
    """What the manifest says of the upscaler: its factor, the network and its weights' digest."""
    if request.upscale <= 1:
        return None
    return {
        "factor": request.upscale,
        **upscaler_info(),
        "width": image.width,
        "height": image.height,
    }


def image_sign(request, *, index: int, image: Image.Image, result: dict | None) -> dict:
    """Watermark (where the image is large enough), sign and fingerprint one generated image.
    Returns ``png`` (the signed bytes) and the ``watermark_id``, ``phash`` and ``provenance``
    fields of its asset."""
    from generation.provenance import GenerationClaim, sign_generated
    from generation.provenance.fingerprint import (
        can_watermark,
        embed_watermark,
        perceptual_hash,
        watermark_id_for,
    )

    watermark_id = ""
    if can_watermark(image.size):
        watermark_id = watermark_id_for(f"{settings.SECRET_KEY[:16]}:{request.pk}:{index}")
        image, embedded = embed_watermark(image, watermark_id)
        watermark_id = watermark_id if embedded else ""
    from generation.engine.pipelines import image_to_png_bytes

    png = image_to_png_bytes(image)
    project = request.project
    profile = request.model_profile
    signer = signer_load()
    claim = GenerationClaim(
        request_id=str(request.pk),
        project=project.slug,
        organization=project.organization.slug,
        model=request.model_name,
        checkpoint_sha256=getattr(profile, "checkpoint_sha256", None) or None,
        scheduler=request.scheduler or ((profile.scheduler or None) if profile else None),
        prompt=request.prompt,
        negative_prompt=request.negative_prompt,
        include_prompt=project.provenance_include_prompt,
        training_mining=project.provenance_training_mining,
        steps=request.steps,
        guidance_scale=request.guidance_scale,
        seed=request.seed + index,
        width=request.width,
        height=request.height,
        mode=request.mode,
        strength=request.strength if request.mode in ("image-to-image", "inpainting") else None,
        upscale=_upscale_claim(request, image),
        # As texts: c2pa stores a JSON list of small integers as a CBOR byte string.
        policy_versions={"ids": [str(pk) for pk in request.policy_versions]},
        decision=request.policy_outcome or "allow",
        checks=_checks_summary(result),
        created_at=request.created_at,
        title=f"Imprimatur request {request.pk}, image {index + 1}",
        # The asset row is written after signing: the image is named by request and index.
        asset_id=f"{request.pk}:{index}",
        assertion_label=settings.IMPRIMATUR_C2PA_LABEL,
        styles=request_styles_data(request),
    )
    ingredient = None
    if request.mode == UPSCALE:
        from generation.provenance import Ingredient

        ingredient = Ingredient(
            data=parent_ingredient_bytes(request), title="parent image", relationship="parentOf"
        )
    elif request.init_image:
        from generation.provenance import Ingredient

        with request.init_image.open("rb") as handle:
            ingredient = Ingredient(data=handle.read(), title="init image")
    signed = sign_generated(png, signer=signer, claim=claim, image=image, ingredient=ingredient)
    return {
        "png": signed,
        "watermark_id": watermark_id,
        "phash": perceptual_hash(image),
        "provenance": {
            "signed": True,
            "signer": signer.profile.subject,
            "algorithm": signer.profile.algorithm,
            "label": settings.IMPRIMATUR_C2PA_LABEL,
            "prompt_included": project.provenance_include_prompt,
        },
    }


# --- Approval --------------------------------------------------------------------------------


def asset_publish(asset_id: int) -> None:
    """Sign the approved image's published file: a new manifest whose parent is the generated
    one and whose action records the approval. Runs in a worker (queue "default")."""
    from django.core.files.base import ContentFile
    from django.db import transaction

    from generation.jobs import events
    from generation.jobs.destinations import push_queue
    from generation.jobs.models import Asset
    from generation.provenance import ApprovalClaim, sign_approved
    from governance.reviews.selectors import review_last_decision, reviews_of

    asset = Asset.objects.select_related("request__project").get(pk=asset_id)
    if asset.status != Asset.Status.APPROVED or asset.published_image:
        return
    review = next(iter(reviews_of(target=asset)), None)
    last = review_last_decision(review)
    project = asset.request.project
    claim = ApprovalClaim(
        approved_at=review.decided_at if review else asset.created_at,
        approver_role=last.task.role if last else "reviewer",
        approver_name=last.user.get_username() if last else None,
        disclose_name=project.provenance_disclose_approver,
        stages=[task.name for task in review.tasks.all()] if review else [],
        request_id=str(asset.request_id),
        asset_id=str(asset.pk),
        workflow=f"v{review.workflow.version}" if review else None,
    )
    with asset.image.open("rb") as handle:
        signed = sign_approved(handle.read(), signer=signer_load(), approval=claim)
    with transaction.atomic():
        locked = Asset.objects.select_for_update().get(pk=asset.pk)
        if locked.published_image:
            return
        locked.published_image.save(
            f"asset{asset.pk}-approved.png", ContentFile(signed), save=False
        )
        locked.save(update_fields=["published_image"])
        events.asset_published(
            asset=locked,
            sha256=hashlib.sha256(signed).hexdigest(),
            stages=list(claim.stages),
            approver_role=claim.approver_role,
        )
        push_queue(asset=locked)  # the project's destination, if it has one


# --- Finding an image's asset again -------------------------------------------------------------


def asset_find(image: Image.Image, *, report: dict | None = None, assets=None):
    """The asset an image was made as, among ``assets`` (default: all): by the manifest's
    request and image when its signature is trusted (an untrusted signer can name any
    request), by the watermark, else by the nearest perceptual hash (within the
    fingerprint's threshold). Returns (asset or None, how it was found)."""
    from generation.jobs.models import Asset
    from generation.provenance.fingerprint import (
        match_perceptual_hash,
        perceptual_hash,
        read_watermark,
    )

    assets = Asset.objects.all() if assets is None else assets
    generation = (report or {}).get("generation") or {}
    request_id, _, index = str(generation.get("asset_id") or "").partition(":")
    if report and report.get("status") == "trusted" and request_id.isdigit() and index.isdigit():
        found = assets.filter(request_id=int(request_id), index=int(index)).first()
        if found:
            return found, "manifest"
    watermark = read_watermark(image) if min(image.size) >= 256 else None
    if watermark:
        found = assets.filter(watermark_id=watermark).first()
        if found:
            return found, "watermark"
    candidates = dict(assets.exclude(phash="").values_list("pk", "phash"))
    key = match_perceptual_hash(perceptual_hash(image), {str(k): v for k, v in candidates.items()})
    if key:
        return assets.get(pk=int(key)), "perceptual hash"
    return None, ""


MAX_VERIFY_BYTES = 20 * 1024 * 1024


def verify_allowed(user) -> bool:
    """Members verify; anyone does when IMPRIMATUR_PUBLIC_VERIFY is on."""
    return settings.IMPRIMATUR_PUBLIC_VERIFY or user.is_authenticated


def verify_rate_exceeded(request) -> bool:
    """At most IMPRIMATUR_VERIFY_PER_MINUTE verifications a minute per client address (the
    page and the API share the count; the address as ``client_address`` tells it)."""
    from imprimatur.ratelimit import counters
    from imprimatur.ratelimit.addresses import address_bucket, client_address

    name = f"verify:{address_bucket(client_address(request))}"
    return counters.hit(name, counters.Window(60)) > settings.IMPRIMATUR_VERIFY_PER_MINUTE


def _verifiable_image(data: bytes) -> Image.Image:
    """The upload decoded as RGB, with the limits uploads have: its size is read from the
    header and checked before a single pixel is decoded."""
    from generation.engine.images import MAX_UPLOAD_SIDE

    if len(data) > MAX_VERIFY_BYTES:
        raise ValueError(f"The file is larger than {MAX_VERIFY_BYTES // (1024 * 1024)} MB.")
    try:
        image = Image.open(io.BytesIO(data))
        width, height = image.size
    except Exception:
        raise ValueError("This is not an image that can be read (PNG, JPEG or WebP).") from None
    if max(width, height) > MAX_UPLOAD_SIDE:
        raise ValueError(
            f"The image is {width} x {height} pixels; the limit is {MAX_UPLOAD_SIDE} a side."
        )
    try:
        image.load()
        return image.convert("RGB")
    except Exception:
        raise ValueError("This is not an image that can be read (PNG, JPEG or WebP).") from None


def image_verify(data: bytes, *, user=None) -> dict:
    """What anyone can learn about an image: its C2PA manifest (present, signature valid and
    trusted, hard binding intact, what it says). Which of this platform's assets it is (by a
    trusted manifest, the watermark or the perceptual hash) is told only to ``user`` when
    they may see that asset: a member of its organisation (and for a quarantined image,
    compliance or an admin); everyone else learns what the manifest itself proves."""
    from generation.jobs.models import Asset
    from generation.provenance import verify
    from imprimatur.tenancy.permissions import Action, user_may

    image = _verifiable_image(data)
    report = verify(
        data, trust_anchors_pem=trust_anchors(), generation_label=settings.IMPRIMATUR_C2PA_LABEL
    ).to_dict()
    asset, found_by = asset_find(
        image, report=report, assets=Asset.objects.restrict(user, Action.VIEW)
    )
    if (
        asset is not None
        and asset.quarantined
        and not user_may(user, Action.SEE_QUARANTINED, asset)
    ):
        asset = None
    match = None
    if asset is not None:
        request = asset.request
        match = {
            "asset": asset.pk,
            "request": request.pk,
            "project": request.project.name,
            "organization": request.project.organization.name,
            "found_by": found_by,
            "status": asset.status,
            "created_at": asset.created_at.isoformat(),
        }
    return {"report": report, "asset": match, "summary": _summary(report, match)}


def _summary(report: dict, match: dict | None) -> str:
    status = report["status"]
    words = {
        "trusted": "It has a valid C2PA manifest, signed by a certificate this platform trusts.",
        "untrusted": "It has a validly signed C2PA manifest, but its signer is not trusted here.",
        "invalid": "It carries a C2PA manifest that does not validate.",
        "tampered": "It carries a C2PA manifest, but the image was changed after signing "
        "(the hard binding does not match): tampered.",
        "absent": "It carries no C2PA manifest (it may have been stripped or re-encoded).",
    }[status]
    if match is None:
        # Not "not issued here": an image of another organisation must look the same.
        return (
            f"{words} It matches no image of your organisations, as far as its fingerprints tell."
        )
    approved = " It was approved." if match["status"] == "approved" else ""
    return (
        f"{words} It is image {match['asset']} of request {match['request']} in project "
        f"{match['project']} ({match['organization']}), found by its {match['found_by']}."
        f"{approved}"
    )


#: IPTC's digital source types (https://cv.iptc.org/newscodes/digitalsourcetype/), by the
#: last part of their URL, in the vocabulary's own words.
IPTC_SOURCE_TYPES = {
    "digitalCapture": "Original digital capture of a real-life scene",
    "negativeFilm": "Digitised from a negative on film",
    "positiveFilm": "Digitised from a positive on film",
    "print": "Digitised from a print on non-transparent medium",
    "minorHumanEdits": "Original media with minor human edits",
    "humanEdits": "Human-edited media",
    "compositeCapture": "Composite of captured elements",
    "algorithmicallyEnhanced": "Algorithmically enhanced media",
    "dataDrivenMedia": "Data-driven media",
    "digitalArt": "Digital art",
    "virtualRecording": "Virtual recording",
    "compositeSynthetic": "Composite including synthetic elements",
    "trainedAlgorithmicMedia": "Trained algorithmic media",
    "compositeWithTrainedAlgorithmicMedia": "Composite with trained algorithmic media",
    "algorithmicMedia": "Pure algorithmic media",
    "screenCapture": "Screen capture",
    "digitalCreation": "Digital creation",
    "softwareImage": "Created by software",
}


def source_type_words(url: str | None) -> dict | None:
    """An IPTC digital source type URL → its words and the URL (to link to); an unknown one
    keeps its last part, split into words."""
    if not url:
        return None
    code = str(url).rstrip("/").rsplit("/", 1)[-1]
    label = IPTC_SOURCE_TYPES.get(code)
    if label is None:
        label = "".join(f" {c.lower()}" if c.isupper() else c for c in code).strip().capitalize()
    return {"label": label, "url": str(url) if str(url).startswith("http") else ""}


#: The longer side of the preview shown beside a verification's result.
PREVIEW_SIDE = 320


def image_preview(data: bytes) -> str:
    """A small WebP of an uploaded image as a data: URL, to show beside its verification
    (the upload itself is not kept); empty when it cannot be read."""
    import base64

    try:
        image = _verifiable_image(data)
    except ValueError:
        return ""
    image.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", quality=80)
    return "data:image/webp;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
