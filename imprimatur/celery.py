"""The Celery app: two queues, late acknowledgement, no result backend.

Queue "gpu" runs generation (one worker per GPU, concurrency 1); queue "default" runs
everything else. Tasks take ids and read state from the database, so a redelivered
message is harmless (see DESIGN.md).
"""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imprimatur.settings")

app = Celery("imprimatur")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_queues=(Queue("default"), Queue("gpu")),
    task_default_queue="default",
    task_routes={"generation.jobs.*": {"queue": "gpu"}},
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    result_backend=None,
    task_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    # Worker processes load their model at start (see generation.jobs.tasks); give them time.
    worker_proc_alive_timeout=120,
)
app.autodiscover_tasks()
