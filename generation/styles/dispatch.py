"""Sending the styles app's Celery tasks by name, on commit (as ``generation.jobs.dispatch``)."""

from celery import current_app
from django.db import transaction

TRAIN_STYLE = "generation.styles.train_style"


def train_send(style_id: int, queue: str) -> None:
    current_app.send_task(TRAIN_STYLE, args=[style_id], queue=queue)


def train_on_commit(*, style_id: int, queue: str) -> None:
    """Train a style on ``queue`` (its base model's: the GPU workers that hold it) once the
    transaction commits."""
    transaction.on_commit(lambda: train_send(style_id, queue))
