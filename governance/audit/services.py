"""Recording audit events. Call inside the transaction that makes the change."""

import uuid
from contextvars import ContextVar

from django.db import models

from governance.audit.models import AuditEvent
from governance.audit.registry import ensure_registered

# Groups the events of one user action (one HTTP request or one task run).
current_request_id: ContextVar[str] = ContextVar("audit_request_id", default="")


def new_request_id() -> str:
    return uuid.uuid4().hex


def audit_record(
    *,
    action: str,
    actor=None,
    organization=None,
    target: models.Model | None = None,
    data: dict | None = None,
) -> AuditEvent:
    """Append one event; `actor` None means the platform itself (a worker, a command)."""
    ensure_registered(action)
    is_person = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditEvent.objects.create(
        actor_id=actor.pk if is_person else None,
        actor_name=actor.get_username() if is_person else "system",
        organization=organization,
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_repr=str(target)[:300] if target is not None else "",
        data=data or {},
        request_id=current_request_id.get() or new_request_id(),
    )
