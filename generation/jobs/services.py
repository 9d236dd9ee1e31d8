"""Writes for generation requests, as the web and the API make them: submit (judged by the
prompt policies first), cancel, re-run, revise after a review asked for changes, start a
derivative of an approved image, and ask for an image's checks to run again.

Status changes go through ``transitions.py``; the worker's side of a job is ``worker.py``;
what happens when a review ends is ``reviewing.py``.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from generation.jobs import dispatch, events
from generation.jobs.fairness import queue_cap_check
from generation.jobs.models import UPSCALE, Asset, GenerationJob, GenerationRequest, ModelProfile
from generation.jobs.params import generation_params_clean
from generation.jobs.reviewing import NoReviewStage, prompt_review_open
from generation.jobs.selectors import may_act_on, may_see_quarantined
from generation.jobs.transitions import generation_job_end, generation_request_transition
from generation.jobs.upscaling import asset_upscale_request
from generation.styles.presets import preset_apply
from governance.policies.display import policy_matches_data, policy_refusal_message
from governance.policies.matching import Outcome
from governance.policies.quotas import policy_quota_check
from governance.policies.services import PolicyDecision, policy_evaluate
from governance.reviews.selectors import reviews_of
from governance.reviews.services import review_withdraw
from imprimatur.errors import InvalidTransition, PolicyRefused
from imprimatur.tenancy.models import BrandProject, Organization
from imprimatur.tenancy.permissions import Action, user_may


def generation_request_submit(
    *,
    project: BrandProject,
    user,
    prompt: str,
    params: dict,
    rerun_of: GenerationRequest | None = None,
    parent_asset: Asset | None = None,
) -> GenerationRequest:
    """Judge the prompt and parameters by the project's policies, then write the request and
    its job in one transaction; the job is enqueued once it commits.

    A prompt the policy blocks is refused with `PolicyRefused` and leaves only its audit
    event, recorded outside the request's transaction, so a caller must not wrap this call
    in its own. A prompt the policy sends to review is stored as waiting for prompt review,
    with its review opened by the project's workflow and no job yet: approval queues it
    (see ``reviewing.on_review_decided``). Parameters over the policy's limits, and requests over a
    quota, are refused with `PolicyRefused` too, keyed by field (quotas: ``quota``); a user
    whose queued jobs reach their role's cap is refused with ``fairness.QueueFull``.
    """
    if not user_may(user, Action.GENERATE, project):
        raise PermissionDenied("Only creators of this project's organisation may make requests.")
    # A preset's template is applied first: the policy judges the prompt the model gets.
    prompt, params, preset = preset_apply(project=project, prompt=prompt, params=params)
    queue_cap_check(user=user, organization_id=project.organization_id)
    values = generation_params_clean(project=project, prompt=prompt, params=params)
    values["preset_version"] = preset
    decision = policy_evaluate(
        project=project,
        prompt=values["prompt"],
        negative_prompt=values["negative_prompt"],
        params=values,
    )
    if decision.outcome == Outcome.BLOCK:
        _refuse(project=project, user=user, prompt=values["prompt"], decision=decision)
    if decision.limit_errors:
        raise PolicyRefused(
            decision.limit_errors,
            data={
                "limits": decision.limits.as_dict(),
                "policy_versions": list(decision.version_ids),
            },
        )
    try:
        with transaction.atomic():
            if decision.limits.quotas:
                # One submission at a time per organisation while quotas are counted, so two
                # requests cannot both take the last images.
                Organization.objects.select_for_update().filter(pk=project.organization_id).first()
                policy_quota_check(
                    decision=decision, project=project, user=user, images=values["num_images"]
                )
            return _request_write(
                project=project,
                user=user,
                values=values,
                decision=decision,
                rerun_of=rerun_of,
                parent_asset=parent_asset,
            )
    except NoReviewStage:
        _refuse(project=project, user=user, prompt=values["prompt"], decision=decision)


def _refuse(*, project: BrandProject, user, prompt: str, decision: PolicyDecision) -> None:
    with transaction.atomic():
        events.request_blocked(project=project, user=user, prompt=prompt, decision=decision)
    raise PolicyRefused(
        {"prompt": policy_refusal_message(decision)},
        data={
            "outcome": str(decision.outcome),
            "policy_versions": list(decision.version_ids),
            "matches": policy_matches_data(decision.matches),
        },
    )


def _request_write(
    *,
    project: BrandProject,
    user,
    values: dict,
    decision: PolicyDecision,
    rerun_of: GenerationRequest | None,
    parent_asset: Asset | None = None,
) -> GenerationRequest:
    profile: ModelProfile = values["profile"]
    request = GenerationRequest(
        project=project,
        created_by=user,
        prompt=values["prompt"],
        negative_prompt=decision.negative_prompt,
        negative_prompt_submitted=values["negative_prompt"],
        policy_outcome=str(decision.outcome),
        policy_versions=list(decision.version_ids),
        policy_matches=policy_matches_data(decision.matches),
        policy_output_concepts=list(decision.output_concepts),
        policy_safety_classes=decision.safety_classes,
        model_profile=profile,
        model_name=profile.name,
        mode=values["mode"],
        strength=values["strength"],
        width=values["width"],
        height=values["height"],
        steps=values["steps"],
        guidance_scale=values["guidance_scale"],
        seed=values["seed"],
        num_images=values["num_images"],
        upscale=values["upscale"],
        init_image_sha256=values.get("init_image_sha256", ""),
        preset_version=values.get("preset_version"),
        scheduler=values.get("scheduler") or "",
        styles=values.get("styles") or [],
        rerun_of=rerun_of,
        parent_asset=parent_asset or (rerun_of.parent_asset if rerun_of else None),
    )
    if rerun_of is not None and rerun_of.init_image_sha256:
        # The digest of what the creator first sent, not of the stored copy sent again.
        request.init_image_sha256 = rerun_of.init_image_sha256
    needs_review = decision.outcome == Outcome.REVIEW
    if needs_review:
        request.status = GenerationRequest.Status.AWAITING_REVIEW
    request.save()
    for field in ("init_image", "mask_image"):
        if values[field]:
            getattr(request, field).save(
                f"request{request.pk}-{field.replace('_image', '')}.png",
                ContentFile(values[field]),
                save=False,
            )
    if request.init_image or request.mask_image:
        request.save(update_fields=["init_image", "mask_image"])
    review = prompt_review_open(request, user=user) if needs_review else None
    job = (
        None
        if needs_review
        else GenerationJob.objects.create(request=request, total_steps=request.steps)
    )
    events.request_submitted(request=request, user=user, decision=decision, job=job, review=review)
    if job is not None:
        dispatch.job_enqueue(job_id=job.pk, queue=profile.queue)
    return request


def derivative_source(*, asset: Asset, user, project: BrandProject) -> bytes:
    """The file a derivative starts from: an approved image of the same project that the user
    may see (its signed published file when there is one). A derivative needs its own
    approval: it is a new request, judged and reviewed like any other."""
    if asset.request.project_id != project.pk:
        raise ValidationError({"from_asset": "That image belongs to another project."})
    if asset.status != Asset.Status.APPROVED:
        raise ValidationError({"from_asset": "Only an approved image can be the start of another."})
    stored = asset.published_image or asset.image
    with stored.open("rb") as handle:
        return handle.read()


@transaction.atomic
def generation_request_cancel(*, request: GenerationRequest, user) -> GenerationRequest:
    """Cancel a request: a queued job ends now, a running one at its next step."""
    if not may_act_on(request=request, user=user):
        raise PermissionDenied("Only the request's creator or an admin may cancel it.")
    reason = f"Cancelled by {user.get_username()}."
    if request.status == GenerationRequest.Status.AWAITING_REVIEW:
        # Nothing was generated: take it out of the reviewers' queue. Reviews are locked
        # before the request, the order a decision locks them in, so the two cannot deadlock;
        # a review decided meanwhile stays decided and the request is judged as it is now.
        for review in reviews_of(target=request):
            review_withdraw(review=review, reason=reason)
    request = GenerationRequest.objects.select_for_update().get(pk=request.pk)
    if request.is_finished:
        raise InvalidTransition(request, request.status, GenerationRequest.Status.CANCELLED)
    job = request.jobs.select_for_update().order_by("-pk").first()
    events.request_cancel_asked(request=request, user=user)
    if request.status == GenerationRequest.Status.AWAITING_REVIEW:
        return generation_request_transition(
            request=request, to=GenerationRequest.Status.CANCELLED, error=reason, actor=user
        )
    if job.status == GenerationJob.Status.QUEUED:
        # No worker has it yet: end it now; the task will find nothing to run.
        generation_job_end(job=job, to=GenerationJob.Status.CANCELLED, reason=reason)
    else:
        job.cancel_requested_at = timezone.now()
        job.save(update_fields=["cancel_requested_at"])
    request.refresh_from_db()
    return request


def _params_again(request: GenerationRequest, *, seed: int | None) -> dict:
    """A request's parameters to submit again (its uploads re-read). The negative prompt is the
    creator's own: the policy in force now adds what it requires again."""
    params = {
        "negative_prompt": request.negative_prompt_submitted,
        "model": request.model_name,
        "mode": request.mode,
        "strength": request.strength,
        "width": request.width,
        "height": request.height,
        "steps": request.steps,
        "guidance_scale": request.guidance_scale,
        "num_images": request.num_images,
        "upscale": request.upscale,
        "seed": seed,
        # The same styles (still approved: checked again) and the preset's scheduler.
        "styles": [
            {"name": entry["name"], "version": entry["version"], "weight": entry["weight"]}
            for entry in request.styles
        ],
        "scheduler": request.scheduler,
    }
    for field in ("init_image", "mask_image"):
        stored = getattr(request, field)
        if stored:
            with stored.open("rb") as image_file:
                params[field] = image_file.read()
    return params


def generation_request_rerun(
    *, request: GenerationRequest, user, new_seeds: bool = False
) -> GenerationRequest:
    """Submit the request again: same seed (identical images) or new seeds (variants)."""
    if request.mode == UPSCALE:
        return asset_upscale_request(asset=request.parent_asset, user=user, factor=request.upscale)
    return generation_request_submit(
        project=request.project,
        user=user,
        prompt=request.prompt,
        params=_params_again(request, seed=None if new_seeds else request.seed),
        rerun_of=request,
    )


def generation_request_revise(
    *, request: GenerationRequest, user, prompt: str
) -> GenerationRequest:
    """Submit an edited version of a request after a reviewer asked for changes: the same
    parameters and seed, the new prompt; the new request records the one it revises."""
    if not may_act_on(request=request, user=user):
        raise PermissionDenied("Only the request's creator revises it.")
    if request.mode == UPSCALE:
        raise ValidationError({"prompt": "An upscale has no prompt of its own to revise."})
    return generation_request_submit(
        project=request.project,
        user=user,
        prompt=prompt,
        params=_params_again(request, seed=request.seed),
        rerun_of=request,
    )


def asset_recheck_request(*, asset: Asset, user) -> None:
    """Ask a worker to run the asset's checks again (compliance officers and admins): after
    thresholds, the brand kit or the policy's concepts changed."""
    organization = asset.request.project.organization
    if not may_see_quarantined(user=user, organization_id=organization.pk):
        raise PermissionDenied("Only compliance officers and admins run checks again.")
    events.asset_recheck_asked(asset=asset, user=user)
    dispatch.send_on_commit(dispatch.RERUN_ASSET_CHECKS, args=[asset.pk, user.pk])
