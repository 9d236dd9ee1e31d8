"""The worker's side of a job: take its lease, keep it alive, report progress, run the
pipeline generate → check → sign → store, end it, and recover jobs whose worker died.

Runs in Celery worker processes (``tasks.py``); the web process never imports the engine.
"""

import hashlib
import io
import logging
import threading
import time
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import models, transaction
from django.utils import timezone

from generation.jobs import dispatch, events
from generation.jobs.checking import asset_checks_record, images_check
from generation.jobs.fairness import fair_candidates, fair_next
from generation.jobs.models import UPSCALE, Asset, GenerationJob, GenerationRequest
from generation.jobs.reviewing import asset_review_open
from generation.jobs.signing import image_sign
from generation.jobs.thumbnails import thumbnail_attach
from generation.jobs.transitions import (
    generation_job_end,
    generation_job_transition,
    generation_request_transition,
)
from generation.jobs.upscaling import images_upscale, upscale_source
from generation.styles.using import request_adapters
from imprimatur.metrics import images_generated, job_stage

logger = logging.getLogger(__name__)


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


def job_abandoned(job: GenerationJob, worker: str) -> bool:
    """A running job whose worker died (silent past the lease, or an earlier life of
    ``worker``): the one kind of job a token takes over instead of the next fair one."""
    return job.status == GenerationJob.Status.RUNNING and (
        not _lease_is_live(job) or _same_host_restarted(job.worker, worker)
    )


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
    job = job_lease(job_id=job_id, worker=worker)
    if job is None or job.status != GenerationJob.Status.RUNNING:
        return job
    return job_execute(job=job, worker=worker)


def job_lease(*, job_id: int, worker: str) -> GenerationJob | None:
    """Take job ``job_id`` for ``worker`` (queued → running, or a dead worker's running job
    taken over); None when it is not runnable, the job ended failed when its workers died
    too often. Raises JobBusy when a live worker holds it."""
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
            return job_end(job=job, to=GenerationJob.Status.FAILED, reason=reason)
        return _lease_locked(job=job, worker=worker)


def _lease_locked(*, job: GenerationJob, worker: str) -> GenerationJob:
    """Job (locked by the caller's transaction) and its request → running."""
    job = generation_job_transition(job=job, to=GenerationJob.Status.RUNNING, worker=worker)
    if job.request.status == GenerationRequest.Status.QUEUED:
        job.request = generation_request_transition(
            request=job.request, to=GenerationRequest.Status.RUNNING
        )
    return job


def job_lease_next(
    *,
    queue: str,
    worker: str,
    like: tuple | None = None,
    exclude: frozenset = frozenset(),
    max_images: int | None = None,
) -> GenerationJob | None:
    """Take the next fair queued job of ``queue`` (``fairness.py``) for ``worker``; None when
    none is queued. With ``like`` (a ``job_batch_key``), only a job that can share that batch,
    of at most ``max_images`` images.

    The candidate is locked with ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two
    workers never wait on or take the same job: the second takes the next one. On SQLite
    (``transaction_mode IMMEDIATE``) the transaction itself holds the database's write lock, so
    picks are one at a time. Either way the pick and the lease are one transaction."""
    candidates, project_served, user_served = fair_candidates(queue=queue)
    with transaction.atomic():
        for candidate in fair_next(candidates, project_served, user_served):
            if candidate.job_id in exclude:
                continue
            job = (
                GenerationJob.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("request__model_profile")
                .filter(pk=candidate.job_id, status=GenerationJob.Status.QUEUED)
                .first()
            )
            if job is None:
                continue  # taken or cancelled meanwhile, or being taken by another worker
            if like is not None and (
                job_batch_key(job) != like
                or (max_images is not None and job.request.num_images > max_images)
            ):
                continue
            return _lease_locked(job=job, worker=worker)
    return None


def job_params(job: GenerationJob):
    """The engine's parameters for a job (``GenerationParams``); None for an upscale."""
    # The engine pulls in torch and diffusers: imported here so the web process never loads them.
    from generation.engine.pipelines import GenerationParams

    request = job.request
    if request.mode == UPSCALE:  # no diffusion: the upscaler works on the parent image
        return None
    # The request's approved styles, as adapters on the warm base pipeline (so they also
    # split batches: they are part of the batch key).
    adapters = request_adapters(request.styles) if request.styles else ()
    return GenerationParams(
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
        adapters=adapters,
    )


def job_scheduler(job: GenerationJob) -> str | None:
    """The scheduler a job runs with: its preset's, else its model profile's."""
    request = job.request
    return request.scheduler or request.model_profile.scheduler or None


def job_batch_key(job: GenerationJob) -> tuple | None:
    """What jobs must share to be generated in one batch (model, scheduler and every
    parameter but the request's own); None for a job that is never batched (one with input
    images, an upscale, one enlarged after generation)."""
    from generation.engine.pipelines import TEXT_TO_IMAGE, batch_key

    params = job_params(job)
    if params is None or params.mode != TEXT_TO_IMAGE or job.request.upscale > 1:
        return None  # upscales and enlarged images are made one job at a time
    profile = job.request.model_profile
    return (profile.path, job_scheduler(job), profile.single_file_config, batch_key(params))


def job_execute(*, job: GenerationJob, worker: str) -> GenerationJob | None:
    """Generate a leased job's images alone, then check, sign and store them."""
    from generation.engine.pipelines import generate

    request = job.request
    profile = request.model_profile
    params = job_params(job)
    try:
        with JobHeartbeat(job_id=job.pk, worker=worker), job_stage("generation", job):
            if request.mode == UPSCALE:  # no diffusion: the parent image, enlarged
                images = upscale_source(request)
            else:
                images = generate(
                    model_path=profile.path,
                    params=params,
                    on_step=JobProgress(job.pk),
                    scheduler=job_scheduler(job),
                    single_file_config=profile.single_file_config or None,
                    init_image=_open_image(request.init_image, "RGB"),
                    mask_image=_open_image(request.mask_image, "L"),
                )
                images = images_upscale(request, images)
        images_generated(job, len(images))
    except Exception as error:
        return job_generation_failed(job=job, error=error, worker=worker)
    return job_complete(job=job, images=images, worker=worker)


def job_generation_failed(*, job: GenerationJob, error: BaseException, worker: str):
    """End a job whose generation stopped: cancelled, over the time limit or failed."""
    if isinstance(error, JobCancelled):
        return job_end(job=job, to=GenerationJob.Status.CANCELLED, reason=str(error), worker=worker)
    if isinstance(error, SoftTimeLimitExceeded):
        reason = (
            f"The job took longer than the time limit of "
            f"{settings.CELERY_TASK_SOFT_TIME_LIMIT} s and was stopped."
        )
        return job_end(job=job, to=GenerationJob.Status.FAILED, reason=reason, worker=worker)
    logger.error("Job %s failed", job.pk, exc_info=error)
    reason = f"{type(error).__name__}: {error}"
    return job_end(job=job, to=GenerationJob.Status.FAILED, reason=reason, worker=worker)


def job_complete(*, job: GenerationJob, images: list, worker: str) -> GenerationJob | None:
    """Check, sign and store a job's generated images, then end it succeeded (or failed,
    keeping no image, when the checks or signing cannot run)."""
    request = job.request
    try:
        # Before anything is stored: no image is ever shown unchecked.
        with JobHeartbeat(job_id=job.pk, worker=worker), job_stage("checks", job):
            results = images_check(request, images)
    except Exception as error:
        logger.exception("Checks of job %s failed", job.pk)
        reason = (
            f"The output checks could not run, so no image is kept: {type(error).__name__}: {error}"
        )
        return job_end(job=job, to=GenerationJob.Status.FAILED, reason=reason, worker=worker)
    try:
        # Signed before it is stored, with the check results in the manifest.
        with job_stage("signing", job):
            signed = [
                image_sign(request, index=index, image=image, result=result)
                for index, (image, result) in enumerate(zip(images, results, strict=True))
            ]
    except Exception as error:
        logger.exception("Signing job %s failed", job.pk)
        reason = f"The images could not be signed, so none is kept: {type(error).__name__}: {error}"
        return job_end(job=job, to=GenerationJob.Status.FAILED, reason=reason, worker=worker)
    return job_store(job=job, signed=signed, results=results, worker=worker)


def job_store(*, job: GenerationJob, signed: list, results: list, worker: str):
    """Store a job's signed images and check records, end it and its request succeeded; only
    while ``worker`` still holds it (else None: another run's result counts)."""
    request = job.request
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
                asset_review_open(asset, result)
        job = generation_job_transition(job=job, to=GenerationJob.Status.SUCCEEDED)
        generation_request_transition(request=request, to=GenerationRequest.Status.SUCCEEDED)
    return job


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


def job_end(
    *, job: GenerationJob, to: str, reason: str, worker: str | None = None
) -> GenerationJob | None:
    """End a job and its request together; with `worker`, only while that worker still
    holds the job."""
    with transaction.atomic():
        if worker is not None and not _still_holds(job_id=job.pk, worker=worker):
            return None
        return generation_job_end(job=job, to=to, reason=reason)


_job_end = job_end  # the name tests and older callers use


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
    thumbnail_attach(asset, png)  # made once, here, while the image is in memory
    asset.save()
    events.asset_created(asset=asset)
    return asset


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
        dispatch.job_send(job.pk, job.request.model_profile.queue)
        recovered.append(job.pk)
    if recovered:
        logger.warning("Sent again jobs left running by a dead worker: %s", recovered)
    return recovered
