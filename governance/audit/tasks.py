"""Celery work of the audit log (beat, see settings): the signed checkpoint every
IMPRIMATUR_AUDIT_CHECKPOINT_SECONDS (also written to the witness; the "every N events" one is
signed by the committing process, services.py), and a sweep that chains pending events a
process left behind (it died between commit and chaining; see services.py)."""

from celery import shared_task

from governance.audit.proofs import audit_checkpoint
from governance.audit.services import audit_seal


# Queue "default": the task_default_queue (only generation.jobs.* is routed to "gpu").
@shared_task(name="governance.audit.checkpoint", acks_late=True)
def audit_checkpoint_task() -> int | None:
    """Sign the chain's head and write it to the witness; harmless twice (an unmoved head
    keeps its checkpoint). Fails, and is tried again at the next beat, when the witness
    cannot take it."""
    checkpoint = audit_checkpoint()
    return checkpoint.sequence if checkpoint else None


@shared_task(name="governance.audit.seal")
def audit_seal_task() -> int:
    """Chain what is pending; normally nothing (writers' processes chain after commit)."""
    return audit_seal()
