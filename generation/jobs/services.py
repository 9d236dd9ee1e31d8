"""Writes for generation: submitting requests, running jobs, and the status transitions.

Each model changes status only through its transition function, which locks the row,
checks the move is allowed, saves and records the audit event in one transaction.
"""

import hashlib
import io
import logging
import re
import threading
import time
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import models, transaction
from django.utils import timezone

from generation.jobs.checking import asset_checks_record, asset_review_facts, images_check
from generation.jobs.models import Asset, GenerationJob, GenerationRequest, Mode, ModelProfile
from generation.jobs.params import generation_params_clean
from generation.jobs.signing import image_sign
from governance.audit.services import audit_record
from governance.policies.matching import Action as PolicyAction
from governance.policies.matching import Outcome
from governance.policies.services import PolicyDecision, policy_evaluate, policy_quota_check
from governance.reviews.models import Review
from governance.reviews.selectors import reviews_of
from governance.reviews.services import review_open, review_withdraw
from imprimatur.errors import InvalidTransition, PolicyRefused
from imprimatur.tenancy.models import BrandProject, Organization
from imprimatur.tenancy.permissions import Action

logger = logging.getLogger(__name__)


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
    (see `on_review_decided`). Parameters over the policy's limits, and requests over a
    quota, are refused with `PolicyRefused` too, keyed by field (quotas: ``quota``).
    """
    if not BrandProject.objects.restrict(user, Action.GENERATE).filter(pk=project.pk).exists():
        raise PermissionDenied("Only creators of this project's organisation may make requests.")
    values = generation_params_clean(project=project, prompt=prompt, params=params)
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
    except _NoReviewStage:
        _refuse(project=project, user=user, prompt=values["prompt"], decision=decision)


class _NoReviewStage(Exception):
    """The policy asks for prompt review and the project's workflow has no stage for it."""


def policy_matches_data(matches) -> list[dict]:
    """Policy matches as stored on a request and sent to API clients."""
    return [
        {
            "rule": match.rule_id,
            "category": str(match.category),
            "action": str(match.action),
            "term": match.term,
            "text": match.matched_text,
            "start": match.start,
            "end": match.end,
            "explanation": match.explanation,
        }
        for match in matches
    ]


def policy_refusal_message(decision: PolicyDecision) -> str:
    """Why a prompt is refused, in plain words: the matched words, categories and reasons."""
    stopping = [match for match in decision.matches if match.action != PolicyAction.WARN]
    reasons = "; ".join(
        f"\u201c{match.matched_text}\u201d matched a {match.category.replace('_', ' ')} rule: "
        f"{match.explanation}"
        for match in stopping
    )
    if decision.outcome == Outcome.BLOCK:
        return f"The prompt policy blocks this prompt. {reasons}"
    return (
        "This prompt needs a reviewer's approval, but the project's review workflow has no "
        f"prompt review stage: ask an admin to add one. {reasons}"
    )


def _refuse(*, project: BrandProject, user, prompt: str, decision: PolicyDecision) -> None:
    with transaction.atomic():
        audit_record(
            action="generation.request.blocked",
            actor=user,
            organization=project.organization,
            target=project,
            data={
                "project": project.slug,
                "outcome": str(decision.outcome),
                "prompt_sha256": hashlib.sha256(prompt.encode()).hexdigest(),
                "policy_versions": list(decision.version_ids),
                "rules": sorted({match.rule_id for match in decision.matches}),
                "categories": sorted({str(match.category) for match in decision.matches}),
            },
        )
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
        init_image_sha256=values.get("init_image_sha256", ""),
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
    review = None
    if needs_review:
        review = review_open(
            target=request,
            kind=PROMPT_REVIEW,
            project=project,
            requested_by=user,
            title=request.prompt[:120],
            facts={"prompt_review"},
            reasons=[
                {"rule": m["rule"], "category": m["category"], "explanation": m["explanation"]}
                for m in request.policy_matches
                if m["action"] == PolicyAction.REVIEW
            ],
        )
        if review is None:
            raise _NoReviewStage()
    job = (
        None
        if needs_review
        else GenerationJob.objects.create(request=request, total_steps=request.steps)
    )
    audit_record(
        action="generation.request.submit",
        actor=user,
        organization=project.organization,
        target=request,
        data={
            "project": project.slug,
            "prompt_sha256": hashlib.sha256(request.prompt.encode()).hexdigest(),
            "model": request.model_name,
            "mode": request.mode,
            **({"job": job.pk} if job else {"review": review.pk}),
            "policy_outcome": request.policy_outcome,
            "policy_versions": request.policy_versions,
            **({"policy_warnings": len(decision.warnings)} if decision.warnings else {}),
            **({"init_image_sha256": request.init_image_sha256} if request.init_image else {}),
        },
    )
    if job is not None:
        queue = profile.queue
        transaction.on_commit(lambda: _enqueue(job.pk, queue))
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


# --- Prompt review ----------------------------------------------------------------------------

PROMPT_REVIEW = "prompt"


def on_review_decided(sender, review, decision, **kwargs) -> None:
    """A prompt review ended: approval queues the request's job, rejection ends the request
    with the reviewer's reason. Runs inside the decision's transaction."""
    if review.kind != PROMPT_REVIEW or review.status == Review.Status.WITHDRAWN:
        return
    request = GenerationRequest.objects.select_for_update().get(pk=review.object_id)
    if review.status == Review.Status.APPROVED:
        generation_request_transition(
            request=request, to=GenerationRequest.Status.QUEUED, actor=decision.user
        )
        job = GenerationJob.objects.create(request=request, total_steps=request.steps)
        queue = request.model_profile.queue if request.model_profile else "gpu"
        transaction.on_commit(lambda: _enqueue(job.pk, queue))
    elif review.status in (Review.Status.REJECTED, Review.Status.CHANGES_REQUESTED):
        what = "Rejected" if review.status == Review.Status.REJECTED else "Changes requested"
        reason = f"{what} in prompt review by {decision.user.get_username()}: {decision.comment}"
        generation_request_transition(
            request=request, to=GenerationRequest.Status.REJECTED, error=reason, actor=decision.user
        )


def _enqueue(job_id: int, queue: str) -> None:
    from generation.jobs.tasks import run_generation_job

    # The profile's queue reaches the workers that hold its model.
    run_generation_job.apply_async(args=[job_id], queue=queue)


# --- Transitions -------------------------------------------------------------------------

REQUEST_MOVES = {
    GenerationRequest.Status.AWAITING_REVIEW: {
        GenerationRequest.Status.QUEUED,
        GenerationRequest.Status.REJECTED,
        GenerationRequest.Status.CANCELLED,
    },
    GenerationRequest.Status.QUEUED: {
        GenerationRequest.Status.RUNNING,
        GenerationRequest.Status.FAILED,
        GenerationRequest.Status.CANCELLED,
    },
    GenerationRequest.Status.RUNNING: {
        GenerationRequest.Status.SUCCEEDED,
        GenerationRequest.Status.FAILED,
        GenerationRequest.Status.CANCELLED,
    },
}

JOB_MOVES = {
    GenerationJob.Status.QUEUED: {
        GenerationJob.Status.RUNNING,
        GenerationJob.Status.FAILED,
        GenerationJob.Status.CANCELLED,
    },
    # running → running: a redelivered job starts again after its worker died.
    GenerationJob.Status.RUNNING: {
        GenerationJob.Status.RUNNING,
        GenerationJob.Status.SUCCEEDED,
        GenerationJob.Status.FAILED,
        GenerationJob.Status.CANCELLED,
    },
}


@transaction.atomic
def generation_request_transition(
    *, request: GenerationRequest, to: str, error: str = "", actor=None
) -> GenerationRequest:
    request = (
        GenerationRequest.objects.select_for_update()
        .select_related("project__organization")
        .get(pk=request.pk)
    )
    if to not in REQUEST_MOVES.get(request.status, set()):
        raise InvalidTransition(request, request.status, to)
    previous = request.status
    request.status = to
    request.error = error
    if to in GenerationRequest.FINISHED:
        request.finished_at = timezone.now()
    request.save(update_fields=["status", "error", "finished_at", "updated_at"])
    audit_record(
        action="generation.request.transition",
        actor=actor,
        organization=request.project.organization,
        target=request,
        project=request.project,
        data={"from": previous, "to": to, **({"error": error} if error else {})},
    )
    return request


@transaction.atomic
def generation_job_transition(
    *, job: GenerationJob, to: str, error: str = "", worker: str = "", actor=None
) -> GenerationJob:
    job = (
        GenerationJob.objects.select_for_update()
        .select_related("request__project__organization")
        .get(pk=job.pk)
    )
    if to not in JOB_MOVES.get(job.status, set()):
        raise InvalidTransition(job, job.status, to)
    previous = job.status
    now = timezone.now()
    job.status = to
    job.error = error
    if to == GenerationJob.Status.RUNNING:
        job.attempts += 1
        job.started_at = now
        job.current_step = 0
        job.worker = worker
        job.heartbeat_at = now
    else:
        job.finished_at = now
    job.save()
    audit_record(
        action="generation.job.transition",
        actor=actor,
        organization=job.request.project.organization,
        target=job,
        project=job.request.project,
        data={
            "from": previous,
            "to": to,
            "attempt": job.attempts,
            **({"error": error} if error else {}),
        },
    )
    return job


# --- Running a job (in the worker) --------------------------------------------------------


class JobBusy(Exception):
    """Another live worker holds the job's lease; try again once the lease could expire."""


class JobCancelled(Exception):
    """Raised between two denoising steps when a user cancelled the job."""


class JobProgress:
    """The engine's per-step callback: stops a cancelled job, records progress.

    Cancellation is checked at every step (one indexed read), so a job stops within one
    step; progress is written at most every `interval` seconds.
    """

    def __init__(self, job_id: int, interval: float = 0.25):
        self.job_id = job_id
        self.interval = interval
        self._last = 0.0

    def __call__(self, step: int, total: int) -> None:
        job = GenerationJob.objects.filter(pk=self.job_id)
        if job.filter(cancel_requested_at__isnull=False).exists():
            raise JobCancelled(f"Cancelled by a user after step {step} of {total}.")
        now = time.monotonic()
        if step < total and now - self._last < self.interval:
            return
        self._last = now
        job.update(current_step=step, total_steps=total, heartbeat_at=timezone.now())


def _lease_is_live(job: GenerationJob) -> bool:
    lease = timedelta(seconds=settings.IMPRIMATUR_JOB_LEASE_SECONDS)
    return job.heartbeat_at is not None and timezone.now() - job.heartbeat_at < lease


def generation_job_run(*, job_id: int, worker: str = "") -> GenerationJob | None:
    """Run one job: generate its images, store them as assets, finish the request.

    Returns None when the job is not in a state to run (already finished: a redelivered
    message), so running a task twice is harmless. Raises JobBusy when another worker holds
    a live lease on it (a duplicate message while it runs); a job whose worker died (no
    heartbeat for IMPRIMATUR_JOB_LEASE_SECONDS, or the same worker name started again) is
    taken over.
    """
    with transaction.atomic():
        job = GenerationJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status not in (
            GenerationJob.Status.QUEUED,
            GenerationJob.Status.RUNNING,
        ):
            logger.info("Job %s is not runnable (missing or finished); skipping.", job_id)
            return None
        if (
            job.status == GenerationJob.Status.RUNNING
            and _lease_is_live(job)
            and job.worker != worker
            and not _same_host_restarted(job.worker, worker)
        ):
            raise JobBusy(f"Job {job.pk} is running on {job.worker}.")
        if (
            job.status == GenerationJob.Status.RUNNING
            and job.attempts >= settings.IMPRIMATUR_MAX_JOB_ATTEMPTS
        ):
            # Redelivered after its worker died that many times: stop instead of looping.
            reason = f"The job was started {job.attempts} times and its worker died each time."
            return _job_end(job=job, to=GenerationJob.Status.FAILED, reason=reason)
        job = generation_job_transition(job=job, to=GenerationJob.Status.RUNNING, worker=worker)
        request = job.request
        if request.status == GenerationRequest.Status.QUEUED:
            request = generation_request_transition(
                request=request, to=GenerationRequest.Status.RUNNING
            )

    # The engine pulls in torch and diffusers: imported here so the web process never loads them.
    from generation.engine.pipelines import GenerationParams, generate

    profile = request.model_profile
    params = GenerationParams(
        mode=request.mode,
        strength=request.strength,
        prompt=request.prompt,
        negative_prompt=request.negative_prompt,
        width=request.width,
        height=request.height,
        steps=request.steps,
        guidance_scale=request.guidance_scale,
        seed=request.seed,
        num_images=request.num_images,
    )
    try:
        with JobHeartbeat(job_id=job.pk, worker=worker):
            images = generate(
                model_path=profile.path,
                params=params,
                on_step=JobProgress(job.pk),
                scheduler=profile.scheduler or None,
                single_file_config=profile.single_file_config or None,
                init_image=_open_image(request.init_image, "RGB"),
                mask_image=_open_image(request.mask_image, "L"),
            )
    except JobCancelled as cancelled:
        return _job_end(
            job=job, to=GenerationJob.Status.CANCELLED, reason=str(cancelled), worker=worker
        )
    except SoftTimeLimitExceeded:
        reason = (
            f"The job took longer than the time limit of "
            f"{settings.CELERY_TASK_SOFT_TIME_LIMIT} s and was stopped."
        )
        return _job_end(job=job, to=GenerationJob.Status.FAILED, reason=reason, worker=worker)
    except Exception as error:
        logger.exception("Job %s failed", job.pk)
        reason = f"{type(error).__name__}: {error}"
        return _job_end(job=job, to=GenerationJob.Status.FAILED, reason=reason, worker=worker)

    try:
        # Before anything is stored: no image is ever shown unchecked.
        with JobHeartbeat(job_id=job.pk, worker=worker):
            results = images_check(request, images)
    except Exception as error:
        logger.exception("Checks of job %s failed", job.pk)
        reason = (
            f"The output checks could not run, so no image is kept: {type(error).__name__}: {error}"
        )
        return _job_end(job=job, to=GenerationJob.Status.FAILED, reason=reason, worker=worker)
    try:
        # Signed before it is stored, with the check results in the manifest.
        signed = [
            image_sign(request, index=index, image=image, result=result)
            for index, (image, result) in enumerate(zip(images, results, strict=True))
        ]
    except Exception as error:
        logger.exception("Signing job %s failed", job.pk)
        reason = f"The images could not be signed, so none is kept: {type(error).__name__}: {error}"
        return _job_end(job=job, to=GenerationJob.Status.FAILED, reason=reason, worker=worker)

    with transaction.atomic():
        if not _still_holds(job_id=job.pk, worker=worker):
            return None
        for index, (stamp, result) in enumerate(zip(signed, results, strict=True)):
            asset = asset_store(
                job=job,
                index=index,
                seed=request.seed + index,
                png=stamp["png"],
                watermark_id=stamp["watermark_id"],
                phash=stamp["phash"],
                provenance=stamp["provenance"],
            )
            if not asset.checks.exists():
                asset_checks_record(asset=asset, result=result)
                _asset_review_open(asset, result)
        job = generation_job_transition(job=job, to=GenerationJob.Status.SUCCEEDED)
        generation_request_transition(request=request, to=GenerationRequest.Status.SUCCEEDED)
    return job


ASSET_REVIEW = "asset"


def _asset_review_open(asset: Asset, result: dict) -> None:
    """Send the image into the project's workflow. A quarantined image goes only to stages
    for failed checks (compliance), never to the stages every image passes through."""
    request = asset.request
    failed = asset.quarantined
    review_open(
        target=asset,
        kind=ASSET_REVIEW,
        project=request.project,
        requested_by=request.created_by,
        title=f"image {asset.index + 1} of request #{request.pk}: {request.prompt[:100]}",
        facts=asset_review_facts(asset, result),
        conditional_only=failed,
        reasons=[{"check": reason} for reason in result["reasons"][:20]],
    )


def on_asset_review_decided(sender, review, decision, **kwargs) -> None:
    """An asset review ended: the asset is approved or rejected."""
    if review.kind != ASSET_REVIEW or review.status == Review.Status.WITHDRAWN:
        return
    asset = Asset.objects.select_for_update().get(pk=review.object_id)
    asset.status = {
        Review.Status.APPROVED: Asset.Status.APPROVED,
        Review.Status.REJECTED: Asset.Status.REJECTED,
        Review.Status.CHANGES_REQUESTED: Asset.Status.CHANGES_REQUESTED,
    }[review.status]
    asset.save(update_fields=["status"])
    if asset.status == Asset.Status.APPROVED:
        # The approval goes into a newly signed published file, by a worker.
        def send() -> None:
            from generation.jobs.tasks import publish_approved_asset

            publish_approved_asset.apply_async(args=[asset.pk], queue="default")

        transaction.on_commit(send)


def _still_holds(*, job_id: int, worker: str) -> bool:
    """Lock the job and check this worker still holds it; it may have been taken over while
    this worker looked dead (then the other run's result counts, not this one)."""
    current = GenerationJob.objects.select_for_update().get(pk=job_id)
    if current.status == GenerationJob.Status.RUNNING and current.worker == worker:
        return True
    logger.warning(
        "Job %s is now %s on %s; dropping the result of %s.",
        job_id,
        current.status,
        current.worker,
        worker,
    )
    return False


class JobHeartbeat:
    """Keeps a job's lease alive from a background thread while this worker holds it.

    Loading a model or one long denoising step writes no progress; without this a live job
    could look dead and be taken over.
    """

    def __init__(self, *, job_id: int, worker: str, every: float | None = None):
        self.job_id = job_id
        self.worker = worker
        self.every = every or max(settings.IMPRIMATUR_JOB_LEASE_SECONDS / 4, 0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{job_id}", daemon=True)

    def _beat(self) -> None:
        from django.db import connection

        try:
            while not self._stop.wait(self.every):
                GenerationJob.objects.filter(pk=self.job_id, worker=self.worker).update(
                    heartbeat_at=timezone.now()
                )
        finally:
            connection.close()

    def __enter__(self) -> "JobHeartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()


def _same_host_restarted(holder: str, worker: str) -> bool:
    """The holder is an earlier life of this same worker: same node name, other main process.

    Identities are "node:main-pid:process-pid"; processes of one live worker share the main
    pid, so they never take a job from each other.
    """
    holder_parts, worker_parts = holder.rsplit(":", 2), worker.rsplit(":", 2)
    if len(holder_parts) != 3 or len(worker_parts) != 3:
        return False
    return holder_parts[0] == worker_parts[0] and holder_parts[1] != worker_parts[1]


def _open_image(field, mode: str):
    """A stored upload as a PIL image (already validated and normalised at submit)."""
    if not field:
        return None
    from PIL import Image

    with field.open("rb") as stored:
        image = Image.open(io.BytesIO(stored.read()))
        image.load()
    return image.convert(mode)


def _job_end(
    *, job: GenerationJob, to: str, reason: str, worker: str | None = None
) -> GenerationJob | None:
    """End a job and its request together: failed or cancelled, with the reason. With
    `worker`, only while that worker still holds the job."""
    with transaction.atomic():
        if worker is not None and not _still_holds(job_id=job.pk, worker=worker):
            return None
        job = generation_job_transition(job=job, to=to, error=reason)
        generation_request_transition(request=job.request, to=to, error=reason)
    return job


def asset_store(
    *, job: GenerationJob, index: int, seed: int, png: bytes, **provenance_fields
) -> Asset:
    """Store image `index` of `job` once; a second call for the same index returns the first.
    ``provenance_fields``: the asset's ``watermark_id``, ``phash`` and ``provenance``."""
    existing = Asset.objects.filter(job=job, index=index).first()
    if existing is not None:
        return existing
    from PIL import Image

    with Image.open(ContentFile(png)) as image:
        width, height = image.size
    request = job.request
    asset = Asset(
        request=request,
        job=job,
        index=index,
        seed=seed,
        width=width,
        height=height,
        sha256=hashlib.sha256(png).hexdigest(),
        **provenance_fields,
    )
    asset.image.save(f"job{job.pk}-{index}.png", ContentFile(png), save=False)
    asset.save()
    audit_record(
        action="generation.asset.create",
        organization=request.project.organization,
        target=asset,
        project=request.project,
        data={"request": request.pk, "index": index, "seed": seed, "sha256": asset.sha256},
    )
    return asset


# --- Actions of users on their requests ------------------------------------------------------


def generation_jobs_recover(*, worker_name: str | None = None) -> list[int]:
    """Send again the jobs left running by a dead worker: an earlier life of the worker
    `worker_name` or any worker silent for longer than the lease. Brokers that cannot redeliver an
    unacknowledged message (kombu's filesystem transport) lose nothing this way; where the
    broker redelivers too, the lease makes the duplicate harmless."""
    lease = timedelta(seconds=settings.IMPRIMATUR_JOB_LEASE_SECONDS)
    dead = models.Q(heartbeat_at__lt=timezone.now() - lease) | models.Q(heartbeat_at__isnull=True)
    if worker_name:
        dead |= models.Q(worker__startswith=f"{worker_name}:")
    stale = GenerationJob.objects.filter(status=GenerationJob.Status.RUNNING).filter(dead)
    recovered = []
    for job in stale.select_related("request__model_profile"):
        _enqueue(job.pk, job.request.model_profile.queue)
        recovered.append(job.pk)
    if recovered:
        logger.warning("Sent again jobs left running by a dead worker: %s", recovered)
    return recovered


def may_act_on(*, request: GenerationRequest, user) -> bool:
    """The request's creator, or an admin of its organisation."""
    if request.created_by_id == user.pk:
        return True
    return BrandProject.objects.restrict(user, Action.MANAGE).filter(pk=request.project_id).exists()


@transaction.atomic
def generation_request_cancel(*, request: GenerationRequest, user) -> GenerationRequest:
    """Cancel a request: a queued job ends now, a running one at its next step."""
    if not may_act_on(request=request, user=user):
        raise PermissionDenied("Only the request's creator or an admin may cancel it.")
    request = GenerationRequest.objects.select_for_update().get(pk=request.pk)
    if request.is_finished:
        raise InvalidTransition(request, request.status, GenerationRequest.Status.CANCELLED)
    job = request.jobs.select_for_update().order_by("-pk").first()
    audit_record(
        action="generation.request.cancel",
        actor=user,
        organization=request.project.organization,
        target=request,
        project=request.project,
        data={"status": request.status},
    )
    reason = f"Cancelled by {user.get_username()}."
    if request.status == GenerationRequest.Status.AWAITING_REVIEW:
        # Nothing was generated: end it now, and take it out of the reviewers' queue.
        for review in reviews_of(target=request):
            review_withdraw(review=review, reason=reason)
        return generation_request_transition(
            request=request, to=GenerationRequest.Status.CANCELLED, error=reason, actor=user
        )
    if job.status == GenerationJob.Status.QUEUED:
        # No worker has it yet: end it now; the task will find nothing to run.
        _job_end(job=job, to=GenerationJob.Status.CANCELLED, reason=reason)
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
        "seed": seed,
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
    return generation_request_submit(
        project=request.project,
        user=user,
        prompt=prompt,
        params=_params_again(request, seed=request.seed),
        rerun_of=request,
    )


def request_history(request: GenerationRequest, limit: int = 10) -> list[dict]:
    """The earlier versions of a request (what it re-runs or revises), newest first, each
    with the comments its reviews ended with: what a reviewer reads as history."""
    from governance.reviews.selectors import review_decisions, reviews_of

    history = []
    current = request.rerun_of
    while current is not None and len(history) < limit:
        comments = []
        targets = [current, *current.assets.all()]
        for target in targets:
            for review in reviews_of(target=target):
                comments += [d for d in review_decisions(review) if d.comment]
        history.append({"request": current, "comments": comments})
        current = current.rerun_of
    return history


# --- The model catalog -----------------------------------------------------------------------

PROFILE_FIELDS = (
    "display_name",
    "path",
    "single_file_config",
    "capabilities",
    "queue",
    "scheduler",
    "sizes",
    "default_size",
    "default_steps",
    "max_steps",
    "default_guidance",
    "max_guidance",
    "max_images",
    "licence_note",
    "enabled",
)
QUEUE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


def _profile_errors(profile: ModelProfile) -> dict[str, list[str]]:
    """Everything wrong with a profile, by field; reads the checkpoint config, not weights."""
    from generation.engine.catalog import ModelNotFoundError, inspect_model

    errors: dict[str, list[str]] = {}

    def reject(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    try:
        info = inspect_model(profile.path, single_file_config=profile.single_file_config or None)
    except ModelNotFoundError as error:
        about_config = profile.single_file_config and profile.single_file_config in str(error)
        reject("single_file_config" if about_config else "path", str(error))
        info = None
    if info is not None and info.format == "single-file" and not profile.single_file_config:
        reject(
            "single_file_config",
            "A single-file checkpoint needs a local diffusers directory with its configs: "
            "nothing is downloaded.",
        )
    if info is not None:
        profile.pipeline_class = info.pipeline_class or ""
        profile.model_capabilities = sorted(info.capabilities)
    capabilities = profile.capabilities
    if not isinstance(capabilities, list) or not capabilities:
        reject("capabilities", "Choose at least one of: " + ", ".join(Mode.values) + ".")
    elif unknown := [value for value in capabilities if value not in Mode.values]:
        reject("capabilities", f"Unknown: {', '.join(map(str, unknown))}.")
    elif info is not None and (missing := set(capabilities) - set(info.capabilities)):
        reject(
            "capabilities",
            f"{info.pipeline_class} cannot do {', '.join(sorted(missing))}.",
        )
    sizes = profile.sizes
    if (
        not isinstance(sizes, list)
        or not sizes
        or not all(isinstance(size, int) and 64 <= size <= 4096 and size % 8 == 0 for size in sizes)
    ):
        reject("sizes", "Give one or more sizes from 64 to 4096 pixels, multiples of 8.")
    elif profile.default_size not in sizes:
        reject("default_size", "Must be one of the allowed sizes.")
    if not 1 <= profile.default_steps <= profile.max_steps <= 1000:
        reject("default_steps", "Need 1 ≤ default steps ≤ maximum steps ≤ 1000.")
    if not 0 <= profile.default_guidance <= profile.max_guidance <= 100:
        reject("default_guidance", "Need 0 ≤ default guidance ≤ maximum guidance ≤ 100.")
    if not 1 <= profile.max_images <= 16:
        reject("max_images", "Must be from 1 to 16.")
    if not QUEUE_NAME.match(profile.queue or ""):
        reject("queue", "Use letters, digits, '.', '_' or '-' only.")
    if profile.scheduler not in ModelProfile.Scheduler.values:
        reject("scheduler", "Unknown scheduler.")
    return errors


@transaction.atomic
def model_profile_save(
    *,
    organization,
    actor,
    name: str,
    fields: dict,
    projects: list[BrandProject] | None = None,
    profile: ModelProfile | None = None,
) -> ModelProfile:
    """Create or change a model profile after checking its checkpoint and limits.

    `actor` None is the platform itself (a management command run by the operator).
    """
    if actor is not None and not (
        Organization.objects.restrict(actor, Action.MANAGE).filter(pk=organization.pk).exists()
    ):
        raise PermissionDenied("Only admins of the organisation manage its models.")
    creating = profile is None
    if creating:
        profile = ModelProfile(organization=organization, name=name)
    elif profile.organization_id != organization.pk:
        raise PermissionDenied("That model belongs to another organisation.")
    before = {field: getattr(profile, field) for field in PROFILE_FIELDS} if not creating else {}
    for field, value in fields.items():
        if field not in PROFILE_FIELDS:
            raise ValueError(f"Not a model profile field: {field}")
        setattr(profile, field, value)
    if not profile.display_name:
        profile.display_name = profile.name
    errors = _profile_errors(profile)
    if creating and ModelProfile.objects.filter(organization=organization, name=name).exists():
        errors.setdefault("name", []).append("A model of this name exists already.")
    if projects is not None and any(p.organization_id != organization.pk for p in projects):
        errors.setdefault("projects", []).append("Choose projects of this organisation.")
    if errors:
        raise ValidationError(errors)
    profile.full_clean(exclude=["capabilities", "sizes", "projects"])
    profile.save()
    if projects is not None:
        profile.projects.set(projects)
    changed = {
        field: getattr(profile, field)
        for field in PROFILE_FIELDS
        if creating or before[field] != getattr(profile, field)
    }
    audit_record(
        action="generation.model.create" if creating else "generation.model.update",
        actor=actor,
        organization=organization,
        target=profile,
        data={
            "name": profile.name,
            "changed": changed,
            "pipeline_class": profile.pipeline_class,
            **({"projects": sorted(p.slug for p in projects)} if projects is not None else {}),
        },
    )
    return profile


# --- Output checks run again -------------------------------------------------------------------


def asset_recheck_request(*, asset: Asset, user) -> None:
    """Ask a worker to run the asset's checks again (compliance officers and admins): after
    thresholds, the brand kit or the policy's concepts changed."""
    from generation.jobs.selectors import may_see_quarantined

    organization = asset.request.project.organization
    if not may_see_quarantined(user=user, organization_id=organization.pk):
        raise PermissionDenied("Only compliance officers and admins run checks again.")
    audit_record(
        action="generation.asset.recheck",
        actor=user,
        organization=organization,
        target=asset,
        project=asset.request.project,
        data={"previous_verdict": asset.check_verdict},
    )

    def send() -> None:
        from generation.jobs.tasks import rerun_asset_checks

        rerun_asset_checks.apply_async(args=[asset.pk, user.pk], queue="default")

    transaction.on_commit(send)


def reference_image_saved(sender, instance, created, **kwargs) -> None:
    """A new brand reference image: a worker embeds it once, so checks never pay for it."""
    if not created:
        return

    def send() -> None:
        from generation.jobs.tasks import embed_reference_image

        embed_reference_image.apply_async(args=[instance.pk], queue="default")

    transaction.on_commit(send)
