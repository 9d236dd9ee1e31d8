"""A GPU worker's turn: take the next fair job and, when batching is on, compatible queued
jobs to generate with it in one batch; then each job is checked, signed and stored on its own.

Each message of a GPU queue is a token, "run the next fair job" (``tasks.py``): the job it
names may be run by another token, and this one runs whichever job is fair now. A token that
finds nothing queued does nothing; there are never fewer tokens than queued jobs (one is
sent per job), so every job runs, once (its lease).
"""

import logging
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack

from django.conf import settings

from generation.jobs.models import GenerationJob
from generation.jobs.worker import (
    JobCancelled,
    JobHeartbeat,
    JobProgress,
    job_batch_key,
    job_complete,
    job_end,
    job_execute,
    job_generation_failed,
    job_lease_next,
)
from imprimatur.metrics import batch_generated, images_generated, job_stage

logger = logging.getLogger(__name__)


def batch_cap(*, width: int, height: int) -> int:
    """The most images one batch may hold at this size: ``IMPRIMATUR_BATCH_MAX``, less at
    sizes where that many would not fit ``IMPRIMATUR_BATCH_MAX_PIXELS`` (1: no batching)."""
    by_memory = settings.IMPRIMATUR_BATCH_MAX_PIXELS // max(width * height, 1)
    return max(1, min(settings.IMPRIMATUR_BATCH_MAX, by_memory))


def generation_jobs_run_next(*, queue: str, worker: str) -> list[GenerationJob | None]:
    """Run the next fair job of ``queue`` and the compatible jobs that join its batch; each
    job's end (None for a job this worker lost meanwhile). Empty when nothing is queued."""
    first = job_lease_next(queue=queue, worker=worker)
    if first is None:
        return []
    jobs = [first]
    key = job_batch_key(first)
    request = first.request
    cap = batch_cap(width=request.width, height=request.height)
    if key is not None and cap > 1:
        jobs += _companions(first=first, key=key, room=cap - request.num_images, worker=worker)
    batch_generated(first, len(jobs))
    if len(jobs) == 1 and (key is None or not settings.IMPRIMATUR_FINISH_IN_BACKGROUND):
        # Alone (image inputs are never batched): the engine's plain path, finished here.
        return [job_execute(job=first, worker=worker)]
    return generation_batch_run(jobs=jobs, worker=worker)


# -- Checks and signing off the generation path ------------------------------------------------

_finishing: threading.Thread | None = None


def finish_later(finish: Callable[[], object]) -> None:
    """Run ``finish`` (a batch's checks, signing and storing) in a thread of this process
    while the caller goes on to generate the next batch. One batch finishes at a time: a
    second call first waits for the first, so images never pile up unchecked. The jobs stay
    running (their heartbeat kept by ``job_complete``) until their checks and signature are
    done; if the process dies meanwhile, recovery runs them again."""
    global _finishing
    finisher_wait()

    def run() -> None:
        from django.db import connection

        try:
            finish()
        except Exception:
            logger.exception("Finishing a batch failed")
        finally:
            connection.close()

    _finishing = threading.Thread(target=run, name="batch-finisher")
    _finishing.start()


def finisher_wait() -> None:
    """Wait for the batch being finished in the background, if any (before this process
    exits: a warm shutdown ends its jobs)."""
    global _finishing
    if _finishing is not None:
        _finishing.join()
        _finishing = None


def _companions(*, first: GenerationJob, key: tuple, room: int, worker: str) -> list:
    """Lease compatible queued jobs, in fair order, up to ``room`` images, waiting at most
    ``IMPRIMATUR_BATCH_WAIT_MS`` for some to arrive."""
    deadline = time.monotonic() + settings.IMPRIMATUR_BATCH_WAIT_MS / 1000
    queue = first.request.model_profile.queue
    joined: list[GenerationJob] = []
    taken = {first.pk}
    while room > 0:
        job = job_lease_next(
            queue=queue, worker=worker, like=key, exclude=frozenset(taken), max_images=room
        )
        if job is not None:
            joined.append(job)
            taken.add(job.pk)
            room -= job.request.num_images
            continue
        if time.monotonic() >= deadline:
            break
        time.sleep(min(0.005, max(deadline - time.monotonic(), 0)))
    return joined


class _ItemProgress:
    """A batch item's step callback: the job's own progress and cancellation; a cancelled
    job ends at once (the others of its batch go on)."""

    def __init__(self, job: GenerationJob, worker: str):
        self.job, self.worker = job, worker
        self.progress = JobProgress(job.pk)

    def __call__(self, step: int, total: int) -> None:
        try:
            self.progress(step, total)
        except JobCancelled as cancelled:
            job_end(
                job=self.job,
                to=GenerationJob.Status.CANCELLED,
                reason=str(cancelled),
                worker=self.worker,
            )
            raise


def generation_batch_run(*, jobs: list[GenerationJob], worker: str) -> list:
    """Generate leased, compatible text-to-image jobs in one batch (each its own prompt,
    seed, generator, progress and cancellation), then check, sign and store each alone."""
    from generation.engine.pipelines import BatchItem, generate_batch
    from generation.jobs.worker import job_params, job_scheduler

    first = jobs[0]
    profile = first.request.model_profile
    items = [
        BatchItem(
            prompt=job.request.prompt,
            negative_prompt=job.request.negative_prompt,
            seed=job.request.seed,
            num_images=job.request.num_images,
            on_step=_ItemProgress(job, worker),
        )
        for job in jobs
    ]
    try:
        with ExitStack() as stack:
            for job in jobs:
                stack.enter_context(JobHeartbeat(job_id=job.pk, worker=worker))
            stack.enter_context(job_stage("generation", first))
            generate_batch(
                model_path=profile.path,
                params=job_params(first),
                items=items,
                scheduler=job_scheduler(first),
                single_file_config=profile.single_file_config or None,
            )
    except Exception as error:
        ended = []
        for job, item in zip(jobs, items, strict=True):
            if isinstance(item.error, JobCancelled):
                ended.append(None)  # already ended by its callback
            else:
                ended.append(job_generation_failed(job=job, error=error, worker=worker))
        return ended
    done = [(job, item) for job, item in zip(jobs, items, strict=True) if item.error is None]
    if settings.IMPRIMATUR_FINISH_IN_BACKGROUND:
        for job, item in done:
            images_generated(job, len(item.images))
        finish_later(lambda: [job_complete(job=j, images=i.images, worker=worker) for j, i in done])
        return [_failed_or_none(job, item, worker) for job, item in zip(jobs, items, strict=True)]
    ended = []
    for job, item in zip(jobs, items, strict=True):
        if item.error is not None:
            ended.append(
                None
                if isinstance(item.error, JobCancelled)
                else job_generation_failed(job=job, error=item.error, worker=worker)
            )
            continue
        images_generated(job, len(item.images))
        ended.append(job_complete(job=job, images=item.images, worker=worker))
    return ended


def _failed_or_none(job: GenerationJob, item, worker: str):
    """A job whose item was dropped, ended (a cancelled one already is); None otherwise."""
    if item.error is None or isinstance(item.error, JobCancelled):
        return None
    return job_generation_failed(job=job, error=item.error, worker=worker)
