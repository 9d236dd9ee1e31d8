"""Celery tasks for generation: thin, take ids, safe to run twice."""

import socket

from celery import shared_task

from generation.jobs.services import generation_job_run


@shared_task(name="generation.jobs.run_generation_job", acks_late=True)
def run_generation_job(job_id: int) -> None:
    generation_job_run(job_id=job_id, worker=socket.gethostname())
