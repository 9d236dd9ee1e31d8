"""The webhooks app's Celery tasks: thin, by id, safe to run twice (a delivery not due or
already claimed is left alone)."""

from celery import shared_task

from imprimatur.webhooks import sending


@shared_task(name="webhooks.deliver", ignore_result=True)
def deliver(delivery_id: int) -> None:
    sending.delivery_attempt(delivery_id)


@shared_task(name="webhooks.sweep", ignore_result=True)
def sweep() -> int:
    return sending.deliveries_due_send()
