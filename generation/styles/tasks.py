"""Celery tasks for styles: thin, take ids, safe to run twice (sent by name, ``dispatch.py``)."""

import os
import socket

from celery import shared_task

from generation.styles import dispatch
from generation.styles.training import style_train_run


# Training runs up to its own time budget (at most a day, services.CONFIG_BOUNDS) plus its
# evaluation, far past the time limit of other tasks.
@shared_task(
    name=dispatch.TRAIN_STYLE, acks_late=True, soft_time_limit=25 * 3600, time_limit=26 * 3600
)
def train_style(style_id: int) -> None:
    """Train a style on a GPU worker; sent again after its worker died, it resumes from the
    last checkpoint (late acks: the message is acknowledged when training ends)."""
    style_train_run(style_id=style_id, worker=f"{socket.gethostname()}:{os.getpid()}")
