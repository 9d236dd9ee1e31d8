"""Recording audit events and checkpoints. Call ``audit_record`` inside the transaction that
makes the change: the event commits or rolls back with it.

Appends form one linear chain (``chain.py``). On PostgreSQL each append takes a
transaction-level advisory lock (``CHAIN_LOCK``), then reads the head and inserts, so the
lock is held until the caller's transaction ends: transactions that record events commit one
after another from their first event on. Keep ``audit_record`` near the end of a transaction
and do not take row locks after it that another audit-writing transaction may hold first
(PostgreSQL would detect the deadlock and abort one of them). On SQLite writers are already
serialised (``BEGIN IMMEDIATE``, see settings); the head is read inside the transaction.
The unique ``sequence`` is the last guard: a second writer at the same place fails instead
of forking the chain. Callers must use READ COMMITTED (Django's default) on PostgreSQL.
"""

import uuid
from contextvars import ContextVar

from django.db import connections, models, router, transaction
from django.utils import timezone

from governance.audit.chain import GENESIS_HASH, event_hash, normalise_data
from governance.audit.models import AuditCheckpoint, AuditEvent
from governance.audit.registry import ensure_registered

# Groups the events of one user action (one HTTP request or one task run).
current_request_id: ContextVar[str] = ContextVar("audit_request_id", default="")

# The key of pg_advisory_xact_lock that serialises appends ("IMPRAUDT" as an integer).
CHAIN_LOCK = int.from_bytes(b"IMPRAUDT", "big") - 2**63


def new_request_id() -> str:
    return uuid.uuid4().hex


def _lock_chain(using: str) -> None:
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK])


def chain_head(using: str = "default") -> tuple[int, str]:
    """(sequence, hash) of the last event; (0, 64 zeros) for an empty log."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT sequence, hash FROM audit_auditevent ORDER BY sequence DESC LIMIT 1")
        head = cursor.fetchone()
    return tuple(head) if head else (0, GENESIS_HASH)


def audit_record(
    *,
    action: str,
    actor=None,
    organization=None,
    target: models.Model | None = None,
    data: dict | None = None,
    project=None,
) -> AuditEvent:
    """Append one event; `actor` None means the platform itself (a worker, a command).

    `project` (a BrandProject) puts its slug in the data as ``project``: the audit browser's
    project filter and the reports find the event by it.
    """
    ensure_registered(action)
    if project is not None:
        data = {**(data or {}), "project": project.slug}
    is_person = actor is not None and getattr(actor, "is_authenticated", False)
    event = AuditEvent(
        actor_id=actor.pk if is_person else None,
        actor_name=actor.get_username() if is_person else "system",
        organization=organization,
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_repr=str(target)[:300] if target is not None else "",
        data=normalise_data(data or {}),
        request_id=current_request_id.get() or new_request_id(),
    )
    using = router.db_for_write(AuditEvent)
    # No savepoint (two round trips saved): a failed append fails the caller's transaction.
    with transaction.atomic(using=using, savepoint=False):
        _lock_chain(using)
        sequence, prev_hash = chain_head(using)
        event.sequence = sequence + 1
        event.prev_hash = prev_hash
        event.created_at = timezone.now()
        event.hash = event_hash(event.hashed_fields())
        event.save(using=using, force_insert=True)
    return event


def audit_checkpoint() -> AuditCheckpoint | None:
    """Sign the chain's current head with the platform key; None while the log is empty.

    Idempotent: when the head has not moved since the last checkpoint, that one is returned.
    """
    from governance.audit.signing import checkpoint_message, load_or_create_key, sign

    key = load_or_create_key()
    using = router.db_for_write(AuditCheckpoint)
    with transaction.atomic(using=using):
        _lock_chain(using)  # the head cannot move while it is being signed
        sequence, head_hash = chain_head(using)
        if sequence == 0:
            return None
        last = AuditCheckpoint.objects.using(using).order_by("-sequence", "-id").first()
        if last is not None and last.sequence == sequence and last.hash == head_hash:
            return last
        checkpoint = AuditCheckpoint(sequence=sequence, hash=head_hash, created_at=timezone.now())
        checkpoint.key_id = key.key_id
        checkpoint.signature = sign(key, checkpoint_message(checkpoint))
        checkpoint.save(using=using, force_insert=True)
    return checkpoint


def audit_event_fields(event: AuditEvent) -> dict:
    """One exported line: the hashed fields plus the hash."""
    return event.hashed_fields() | {"hash": event.hash}
