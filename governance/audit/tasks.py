"""Celery work of the audit log: the hourly signed checkpoint (beat, see settings)."""

from celery import shared_task

from governance.audit.services import audit_checkpoint


# Queue "default": the task_default_queue (only generation.jobs.* is routed to "gpu").
@shared_task(name="governance.audit.checkpoint", acks_late=True)
def audit_checkpoint_task() -> int | None:
    """Sign the chain's head; harmless twice (an unmoved head keeps its checkpoint)."""
    checkpoint = audit_checkpoint()
    return checkpoint.sequence if checkpoint else None
