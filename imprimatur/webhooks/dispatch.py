"""Sending the webhooks app's Celery tasks by name (nothing imports ``tasks.py``), on the
"default" queue, once the current transaction commits."""

from celery import current_app
from django.db import transaction

DELIVER = "webhooks.deliver"
SWEEP = "webhooks.sweep"
QUEUE = "default"


def delivery_send(delivery_id: int, countdown: float = 0) -> None:
    current_app.send_task(DELIVER, args=[delivery_id], queue=QUEUE, countdown=countdown or None)


def delivery_send_on_commit(delivery_id: int, countdown: float = 0) -> None:
    transaction.on_commit(lambda: delivery_send(delivery_id, countdown))
