"""The receivers that turn what other apps record into deliveries (see ``catalog.py``),
inside the transaction of the change, so a delivery exists if and only if its event does."""

from imprimatur.webhooks import catalog, services


def on_audit_event(sender, event, **kwargs) -> None:
    if event.organization_id is None:
        return
    webhook_event = catalog.from_audit_event(event)
    if webhook_event is not None:
        services.deliveries_queue(webhook_event, occurred_at=event.created_at)


def on_task_opened(sender, task, **kwargs) -> None:
    services.deliveries_queue(catalog.from_review_task(task))


def on_checkpoint_signed(sender, checkpoint, **kwargs) -> None:
    services.deliveries_queue(
        catalog.from_checkpoint(checkpoint), occurred_at=checkpoint.created_at
    )
