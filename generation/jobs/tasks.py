"""Celery tasks for generation: thin, take ids, safe to run twice. Nothing imports this module:
the app sends its tasks by name (``dispatch.py``); the worker finds them by autodiscovery."""

import logging
import os
import socket
import time

from celery import shared_task
from celery.signals import (
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
)
from django.conf import settings

from generation.jobs import dispatch
from generation.jobs.batching import generation_jobs_run_next
from generation.jobs.models import GenerationJob
from generation.jobs.worker import (
    JobBusy,
    generation_job_run,
    generation_jobs_recover,
    job_abandoned,
)

logger = logging.getLogger(__name__)

# The queues this worker consumes, noted in the main process before it forks its children.
_worker_queues: set[str] = set()


_worker_name = ""
_worker_main_pid = 0


@worker_init.connect
def remember_queues(sender=None, **kwargs) -> None:
    global _worker_name, _worker_main_pid
    _worker_main_pid = os.getpid()
    if sender is not None:
        _worker_queues.update(sender.app.amqp.queues.consume_from.keys())
        _worker_name = sender.hostname
    metrics_serve()


def metrics_serve() -> None:
    """Tidy the metrics folder (dead processes' files) and, when IMPRIMATUR_WORKER_METRICS_PORT
    is set, serve this worker's metrics from its main process (the pool processes write to
    the shared multiprocess folder)."""
    from imprimatur.metrics import multiprocess_dir_tidy, worker_metrics_serve

    multiprocess_dir_tidy()
    if settings.IMPRIMATUR_WORKER_METRICS_PORT:
        worker_metrics_serve(settings.IMPRIMATUR_WORKER_METRICS_PORT)


@worker_process_init.connect
def warm_up_models(**kwargs) -> None:
    """Load the models of this worker's queues when a worker process starts, so no job pays
    for loading: up to the engine's cache size, in name order."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    from generation.engine.catalog import ModelNotFoundError
    from generation.engine.pipelines import configure_cache, load_pipeline, warm_up
    from generation.jobs.models import Mode, ModelProfile

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    configure_cache(
        settings.IMPRIMATUR_MAX_LOADED_MODELS, compile_unet=settings.IMPRIMATUR_COMPILE_UNET
    )
    profiles = ModelProfile.objects.filter(enabled=True).order_by("name")
    if _worker_queues:
        profiles = profiles.filter(queue__in=_worker_queues)
    unique = {profile.path: profile for profile in profiles}
    started = time.monotonic()
    loaded = 0
    for profile in list(unique.values())[: settings.IMPRIMATUR_MAX_LOADED_MODELS]:
        config = profile.single_file_config or None
        try:
            if settings.IMPRIMATUR_COMPILE_UNET:
                # Compiling happens on the first call: pay for it now, at the default size.
                warm_up(
                    profile.path,
                    width=profile.default_size,
                    height=profile.default_size,
                    single_file_config=config,
                )
            else:
                load_pipeline(profile.path, Mode.TEXT_TO_IMAGE, single_file_config=config)
            loaded += 1
        except ModelNotFoundError as error:
            # Its jobs will fail with this reason; the worker stays up for the others.
            logger.warning("Model not loaded at start: %s", error)
    # The output checks' models too (NudeNet, CLIP): the first job should not load them.
    try:
        from PIL import Image

        from generation.checks import detect_nudity
        from generation.jobs.checking import clip_load

        clip_load()
        detect_nudity([Image.new("RGB", (64, 64))])
    except Exception as error:  # a job reports the reason; the worker stays up
        logger.warning("Check models not loaded at start: %s", error)
    from django.db import connections

    connections.close_all()
    # Celery logs "ready" before its pool processes have imported torch; this line says the
    # process can take jobs without paying for imports or loading.
    logger.info(
        "Worker process warm: %d model(s) loaded in %.1fs.", loaded, time.monotonic() - started
    )


def worker_identity() -> str:
    """This process: its worker's node name (unique per live worker), the worker's main pid
    and its own pid."""
    return f"{_worker_name or socket.gethostname()}:{_worker_main_pid or os.getpid()}:{os.getpid()}"


@worker_process_shutdown.connect
def finish_pending_batch(**kwargs) -> None:
    """A batch still being checked and signed in the background ends before the process."""
    from generation.jobs.batching import finisher_wait

    finisher_wait()


@worker_ready.connect
def recover_orphaned_jobs(sender=None, **kwargs) -> None:
    """Jobs an earlier process of this worker (or any silent worker) left running."""
    from django.db import connections

    generation_jobs_recover(worker_name=_worker_name or socket.gethostname())
    connections.close_all()


@shared_task(
    bind=True,
    name=dispatch.RUN_GENERATION_JOB,
    acks_late=True,
    max_retries=None,
)
def run_generation_job(self, job_id: int) -> None:
    """With fair dispatch (the default) the message is a token: the job it names, when left
    running by a dead worker, is taken over as before; otherwise this worker runs the next
    fair job of the queue (``batching.generation_jobs_run_next``), which may be another
    user's."""
    try:
        if not settings.IMPRIMATUR_FAIR_DISPATCH:
            generation_job_run(job_id=job_id, worker=worker_identity())
            return
        named = GenerationJob.objects.filter(pk=job_id).select_related("request__model_profile")
        job = named.first()
        if job is not None and job_abandoned(job, worker_identity()):
            generation_job_run(job_id=job_id, worker=worker_identity())
            return
        # Queued, finished, or running on a live worker (another token took it): this token
        # is still owed to some queued job, so it runs the next fair one now.
        queue = job.request.model_profile.queue if job is not None else _delivery_queue(self)
        if queue:
            generation_jobs_run_next(queue=queue, worker=worker_identity())
    except JobBusy as busy:
        # A duplicate message while another worker runs it: look again when its lease
        # could have expired (the holder may die meanwhile).
        raise self.retry(countdown=settings.IMPRIMATUR_JOB_LEASE_SECONDS, max_retries=20) from busy


def _delivery_queue(task) -> str:
    """The queue a message came from (its job was deleted): the next fair job comes from it."""
    info = getattr(task.request, "delivery_info", None) or {}
    return info.get("routing_key") or ""


@shared_task(name=dispatch.RECOVER_STALE_JOBS, acks_late=True)
def recover_stale_jobs() -> None:
    """Periodic (Celery beat): send again jobs whose worker went silent and never came back."""
    generation_jobs_recover()


@shared_task(name=dispatch.RERUN_ASSET_CHECKS, acks_late=True)
def rerun_asset_checks(asset_id: int, user_id: int | None = None) -> None:
    """Run an asset's output checks again (queue "default"); its history keeps the old ones."""
    from generation.jobs.checking import asset_checks_rerun

    asset_checks_rerun(asset_id=asset_id, user_id=user_id)


@shared_task(name=dispatch.EMBED_REFERENCE_IMAGE, acks_late=True)
def embed_reference_image(reference_id: int) -> None:
    """Compute a brand reference image's CLIP embedding once, after its upload."""
    from generation.jobs.checking import reference_embed
    from imprimatur.tenancy.models import BrandReferenceImage

    reference = BrandReferenceImage.objects.filter(pk=reference_id).first()
    if reference is not None:
        reference_embed(reference)


@shared_task(name=dispatch.PUBLISH_APPROVED_ASSET, acks_late=True)
def publish_approved_asset(asset_id: int) -> None:
    """Sign an approved image's published file with the approval in its manifest."""
    from generation.jobs.signing import asset_publish

    asset_publish(asset_id)


@shared_task(name=dispatch.PUSH_ASSET, acks_late=True)
def push_asset(push_id: int) -> None:
    """Copy a published image and its sidecar to the project's destination (once, if due)."""
    from generation.jobs.destinations import push_attempt

    push_attempt(push_id)


@shared_task(name="generation.push_sweep")
def push_sweep() -> int:
    """Send again the pushes whose message was lost."""
    from generation.jobs.destinations import pushes_due_send

    return pushes_due_send()
