"""Writes for generation: submitting requests, running jobs, and the status transitions.

Each model changes status only through its transition function, which locks the row,
checks the move is allowed, saves and records the audit event in one transaction.
"""

import hashlib
import logging
import secrets
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from generation.jobs.models import Asset, GenerationJob, GenerationRequest
from governance.audit.services import audit_record
from imprimatur.errors import InvalidTransition
from imprimatur.tenancy.models import Action, BrandProject

logger = logging.getLogger(__name__)

MAX_PROMPT_LENGTH = 1000
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class GenerationLimits:
    """What a request may ask for. Per-model and per-project limits replace these later."""

    min_size: int = 64
    max_size: int = 1024
    size_multiple: int = 8
    max_steps: int = 100
    max_guidance: float = 30.0
    max_images: int = 4


LIMITS = GenerationLimits()


def _request_defaults() -> dict:
    return {
        "negative_prompt": "",
        "width": settings.IMPRIMATUR_DEFAULT_IMAGE_SIZE,
        "height": settings.IMPRIMATUR_DEFAULT_IMAGE_SIZE,
        "steps": 20,
        "guidance_scale": 7.5,
        "seed": None,
        "num_images": 1,
        "model": settings.IMPRIMATUR_DEFAULT_MODEL,
    }


def generation_params_clean(*, prompt: str, params: dict) -> dict:
    """Fill defaults and check every parameter; raise ValidationError naming each bad field."""
    values = _request_defaults()
    values.update({key: value for key, value in params.items() if value is not None})
    errors: dict[str, list[str]] = {}

    def reject(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    prompt = (prompt or "").strip()
    if not prompt:
        reject("prompt", "Write a prompt: it may not be empty.")
    elif len(prompt) > MAX_PROMPT_LENGTH:
        reject("prompt", f"Keep the prompt under {MAX_PROMPT_LENGTH} characters.")
    if len(values["negative_prompt"]) > MAX_PROMPT_LENGTH:
        reject("negative_prompt", f"Keep it under {MAX_PROMPT_LENGTH} characters.")
    for field in ("width", "height"):
        size = values[field]
        if not isinstance(size, int) or isinstance(size, bool):
            reject(field, "Give a whole number of pixels.")
        elif not LIMITS.min_size <= size <= LIMITS.max_size:
            reject(field, f"Must be between {LIMITS.min_size} and {LIMITS.max_size} pixels.")
        elif size % LIMITS.size_multiple:
            reject(field, f"Must be a multiple of {LIMITS.size_multiple} pixels.")
    if not isinstance(values["steps"], int) or not 1 <= values["steps"] <= LIMITS.max_steps:
        reject("steps", f"Must be a whole number from 1 to {LIMITS.max_steps}.")
    guidance = values["guidance_scale"]
    if not isinstance(guidance, int | float) or not 0 <= guidance <= LIMITS.max_guidance:
        reject("guidance_scale", f"Must be a number from 0 to {LIMITS.max_guidance:g}.")
    count = values["num_images"]
    if not isinstance(count, int) or not 1 <= count <= LIMITS.max_images:
        reject("num_images", f"Must be a whole number from 1 to {LIMITS.max_images}.")
    seed = values["seed"]
    if seed is not None and (not isinstance(seed, int) or not 0 <= seed <= MAX_SEED):
        reject("seed", f"Must be a whole number from 0 to {MAX_SEED}.")
    if values["model"] != settings.IMPRIMATUR_DEFAULT_MODEL:
        reject("model", f"Unknown model. Available: {settings.IMPRIMATUR_DEFAULT_MODEL}.")
    if errors:
        raise ValidationError(errors)
    if seed is None:
        values["seed"] = secrets.randbelow(MAX_SEED + 1)
    values["prompt"] = prompt
    values["guidance_scale"] = float(guidance)
    return values


@transaction.atomic
def generation_request_submit(
    *, project: BrandProject, user, prompt: str, params: dict
) -> GenerationRequest:
    """Write the request and its job in one transaction; enqueue the job once it commits."""
    if not BrandProject.objects.restrict(user, Action.GENERATE).filter(pk=project.pk).exists():
        raise PermissionDenied("Only creators of this project's organisation may make requests.")
    values = generation_params_clean(prompt=prompt, params=params)
    request = GenerationRequest.objects.create(
        project=project,
        created_by=user,
        prompt=values["prompt"],
        negative_prompt=values["negative_prompt"],
        model_name=values["model"],
        width=values["width"],
        height=values["height"],
        steps=values["steps"],
        guidance_scale=values["guidance_scale"],
        seed=values["seed"],
        num_images=values["num_images"],
    )
    job = GenerationJob.objects.create(request=request, total_steps=request.steps)
    audit_record(
        action="generation.request.submit",
        actor=user,
        organization=project.organization,
        target=request,
        data={
            "project": project.slug,
            "prompt_sha256": hashlib.sha256(request.prompt.encode()).hexdigest(),
            "model": request.model_name,
            "job": job.pk,
        },
    )
    transaction.on_commit(lambda: _enqueue(job.pk))
    return request


def _enqueue(job_id: int) -> None:
    from generation.jobs.tasks import run_generation_job

    run_generation_job.delay(job_id)


# --- Transitions -------------------------------------------------------------------------

REQUEST_MOVES = {
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
    else:
        job.finished_at = now
    job.save()
    audit_record(
        action="generation.job.transition",
        actor=actor,
        organization=job.request.project.organization,
        target=job,
        data={
            "from": previous,
            "to": to,
            "attempt": job.attempts,
            **({"error": error} if error else {}),
        },
    )
    return job


# --- Running a job (in the worker) --------------------------------------------------------


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
        job.update(current_step=step, total_steps=total)


def generation_job_run(*, job_id: int, worker: str = "") -> GenerationJob | None:
    """Run one job: generate its images, store them as assets, finish the request.

    Returns None when the job is not in a state to run (already finished: a redelivered
    message), so running a task twice is harmless.
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
    from generation.engine.pipelines import GenerationParams, generate, image_to_png_bytes

    params = GenerationParams(
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
        images = generate(
            model_path=settings.IMPRIMATUR_DEFAULT_MODEL_PATH,
            params=params,
            on_step=JobProgress(job.pk),
        )
    except JobCancelled as cancelled:
        return _job_end(job=job, to=GenerationJob.Status.CANCELLED, reason=str(cancelled))
    except Exception as error:
        logger.exception("Job %s failed", job.pk)
        reason = f"{type(error).__name__}: {error}"
        return _job_end(job=job, to=GenerationJob.Status.FAILED, reason=reason)

    with transaction.atomic():
        for index, image in enumerate(images):
            asset_store(
                job=job, index=index, seed=request.seed + index, png=image_to_png_bytes(image)
            )
        job = generation_job_transition(job=job, to=GenerationJob.Status.SUCCEEDED)
        generation_request_transition(request=request, to=GenerationRequest.Status.SUCCEEDED)
    return job


def _job_end(*, job: GenerationJob, to: str, reason: str) -> GenerationJob:
    """End a job and its request together: failed or cancelled, with the reason."""
    with transaction.atomic():
        job = generation_job_transition(job=job, to=to, error=reason)
        generation_request_transition(request=job.request, to=to, error=reason)
    return job


def asset_store(*, job: GenerationJob, index: int, seed: int, png: bytes) -> Asset:
    """Store image `index` of `job` once; a second call for the same index returns the first."""
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
    )
    asset.image.save(f"job{job.pk}-{index}.png", ContentFile(png), save=False)
    asset.save()
    audit_record(
        action="generation.asset.create",
        organization=request.project.organization,
        target=asset,
        data={"request": request.pk, "index": index, "seed": seed, "sha256": asset.sha256},
    )
    return asset


# --- Actions of users on their requests ------------------------------------------------------


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
        data={"status": request.status},
    )
    reason = f"Cancelled by {user.get_username()}."
    if job.status == GenerationJob.Status.QUEUED:
        # No worker has it yet: end it now; the task will find nothing to run.
        _job_end(job=job, to=GenerationJob.Status.CANCELLED, reason=reason)
    else:
        job.cancel_requested_at = timezone.now()
        job.save(update_fields=["cancel_requested_at"])
    request.refresh_from_db()
    return request


def generation_request_rerun(
    *, request: GenerationRequest, user, new_seeds: bool = False
) -> GenerationRequest:
    """Submit the request again: same seed (identical images) or new seeds (variants)."""
    params = {
        "negative_prompt": request.negative_prompt,
        "model": request.model_name,
        "width": request.width,
        "height": request.height,
        "steps": request.steps,
        "guidance_scale": request.guidance_scale,
        "num_images": request.num_images,
        "seed": None if new_seeds else request.seed,
    }
    with transaction.atomic():
        rerun = generation_request_submit(
            project=request.project, user=user, prompt=request.prompt, params=params
        )
        rerun.rerun_of = request
        rerun.save(update_fields=["rerun_of"])
    return rerun
