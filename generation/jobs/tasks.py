"""Celery tasks for generation: thin, take ids, safe to run twice."""

import logging
import socket

from celery import shared_task
from celery.signals import worker_process_init
from django.conf import settings

from generation.jobs.services import generation_job_run

logger = logging.getLogger(__name__)


@worker_process_init.connect
def warm_up_default_model(**kwargs) -> None:
    """Load the default model when a worker process starts, so no job pays for loading."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    from generation.engine.pipelines import ModelNotFoundError, load_text_to_image

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    try:
        load_text_to_image(settings.IMPRIMATUR_DEFAULT_MODEL_PATH)
    except ModelNotFoundError as error:
        # Jobs will fail with this reason; the worker itself stays up for other queues.
        logger.warning("Default model not loaded: %s", error)


@shared_task(name="generation.jobs.run_generation_job", acks_late=True)
def run_generation_job(job_id: int) -> None:
    generation_job_run(job_id=job_id, worker=socket.gethostname())
