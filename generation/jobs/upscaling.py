"""Super-resolution in the platform: the "Enlarge" option of a request (its images enlarged after
generation, before the checks) and the upscale of an approved image (a new request of mode
``upscale`` whose one image is the parent enlarged, signed with the parent as its C2PA
ingredient and reviewed like any other image).

The network is the file ``IMPRIMATUR_UPSCALER_PATH`` names (`generation.engine.upscale` loads it
with spandrel); the worker runs it, the web process never loads torch for it.
"""

from __future__ import annotations

import io

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from generation.jobs import dispatch, events
from generation.jobs.models import UPSCALE, Asset, GenerationJob, GenerationRequest
from generation.jobs.params import upscale_factor_error
from imprimatur.tenancy.permissions import Action, user_may


def upscale_permission_check(*, asset: Asset, user) -> None:
    """Refuse (403) whoever may not make requests in the image's project: asked before the
    input is judged, so that a reviewer learns nothing from a 400."""
    if not user_may(user, Action.GENERATE, asset.request.project):
        raise PermissionDenied("Only creators of this project's organisation may upscale images.")


def asset_upscale_request(*, asset: Asset, user, factor: int) -> GenerationRequest:
    """Ask for ``asset`` enlarged ``factor`` times: a new request with its job, queued for the
    parent's model queue. Only an approved image, by a creator of its project; the result has
    its own review, since a network drew its new pixels."""
    parent_request = asset.request
    project = parent_request.project
    upscale_permission_check(asset=asset, user=user)
    if asset.status != Asset.Status.APPROVED:
        raise ValidationError({"asset": "Only an approved image can be upscaled."})
    if error := upscale_factor_error(factor, asset.width, asset.height):
        raise ValidationError({"factor": error})
    profile = parent_request.model_profile
    if profile is None:
        raise ValidationError({"asset": "The image's model is no longer in the catalog."})
    with transaction.atomic():
        request = GenerationRequest.objects.create(
            project=project,
            created_by=user,
            prompt=parent_request.prompt,
            negative_prompt=parent_request.negative_prompt,
            negative_prompt_submitted=parent_request.negative_prompt_submitted,
            # The prompt was judged when the parent was made; the enlarged image is reviewed.
            policy_outcome=parent_request.policy_outcome,
            policy_versions=parent_request.policy_versions,
            policy_matches=parent_request.policy_matches,
            policy_output_concepts=parent_request.policy_output_concepts,
            policy_safety_classes=parent_request.policy_safety_classes,
            model_profile=profile,
            model_name=parent_request.model_name,
            mode=UPSCALE,
            upscale=factor,
            width=asset.width * factor,
            height=asset.height * factor,
            steps=1,
            guidance_scale=parent_request.guidance_scale,
            seed=asset.seed,
            num_images=1,
            parent_asset=asset,
        )
        job = GenerationJob.objects.create(request=request, total_steps=1)
        events.upscale_requested(request=request, user=user, job=job)
        dispatch.job_enqueue(job_id=job.pk, queue=profile.queue)
    return request


def upscaler_info() -> dict:
    """The configured network as the manifest and the audit name it (loads it: worker only)."""
    from generation.engine.upscale import upscaler_inspect

    info = upscaler_inspect(settings.IMPRIMATUR_UPSCALER_PATH)
    return {"network": info.name, "architecture": info.architecture, "sha256": info.sha256}


def images_upscale(request: GenerationRequest, images: list) -> list:
    """The request's generated images enlarged by its factor (unchanged for factor 1)."""
    if request.upscale <= 1:
        return images
    from generation.engine.upscale import upscale

    path = settings.IMPRIMATUR_UPSCALER_PATH
    return [upscale(image, model_path=path, scale=request.upscale) for image in images]


def upscale_source(request: GenerationRequest) -> list:
    """Mode upscale: the parent image (its signed published file when there is one), enlarged."""
    from PIL import Image

    from generation.engine.upscale import upscale

    with Image.open(io.BytesIO(parent_ingredient_bytes(request))) as image:
        source = image.convert("RGB")
    return [upscale(source, model_path=settings.IMPRIMATUR_UPSCALER_PATH, scale=request.upscale)]


def parent_ingredient_bytes(request: GenerationRequest) -> bytes:
    """The signed file of an upscale's parent: its manifest travels inside the ingredient."""
    parent = request.parent_asset
    stored = parent.published_image or parent.image
    with stored.open("rb") as handle:
        return handle.read()
