"""Recording audit events. Call ``audit_record`` inside the transaction that
makes the change: the event commits or rolls back with it.

Appends form one linear chain (``chain.py``, CHAIN.md). Whoever holds the chain lock
appends; nobody waits for it inside a caller's transaction:

- On PostgreSQL ``audit_record`` is one call of the SQL function ``audit_append``
  (``pg_chain.py``), which tries the transaction-level advisory lock ``CHAIN_LOCK`` without
  waiting. Free: it chains any committed pending events, then its own, and holds the lock
  to the end of the caller's transaction, so a rolled-back transaction leaves no gap.
  Taken: it writes the event to ``AuditPending`` instead, and once the caller commits,
  this process's sealer thread (``_Sealer``; at most one session waits for the lock) moves
  every committed pending event into the chain in one batch. Under load the chain's serial
  section is one batch per holder rather than one transaction per event, and a writer
  never waits for the chain (no deadlock through the audit log).
- On SQLite, ``BEGIN IMMEDIATE`` already serialises writers (see settings): always chained
  at once; the pending table stays empty.

The unique ``sequence`` is the last guard: a second writer at the same place fails instead
of forking the chain. Callers must use READ COMMITTED (Django's default) on PostgreSQL.
"""

import atexit
import logging
import threading
import time
import uuid
from contextvars import ContextVar

from django.conf import settings
from django.db import connections, models, router, transaction
from django.utils import timezone
from psycopg.types.json import Jsonb

from governance.audit.chain import event_hash, event_hash_parts, normalise_data
from governance.audit.head import CHAIN_LOCK, SEAL_WAITER, chain_head, chain_pending, lock_chain
from governance.audit.models import AuditEvent
from governance.audit.registry import ensure_registered
from governance.audit.signals import event_recorded

# Groups the events of one user action (one HTTP request or one task run).
current_request_id: ContextVar[str] = ContextVar("audit_request_id", default="")


def new_request_id() -> str:
    return uuid.uuid4().hex


logger = logging.getLogger(__name__)

_FIELDS = ("created_at", "actor_id", "actor_name", "organization_id", "action", "target_type",
           "target_id", "target_repr", "data", "request_id")  # fmt: skip
# bandit: SQL from constants of this module (table and column names), values as parameters.
_APPEND = "SELECT * FROM audit_append(" + ", ".join(["%s"] * (len(_FIELDS) + 4)) + ")"  # nosec B608


def audit_seal() -> int:
    """Chain every committed pending event; the number chained. Waits for the chain lock.
    The beat task runs it (for events whose process died between commit and sealing), and
    so do checkpoints."""
    using = router.db_for_write(AuditEvent)
    with transaction.atomic(using=using):
        lock_chain(using)
        return chain_pending(using)


def _seal_after_commit(using: str) -> int:
    """After a commit that left an event pending: see ``audit_seal_after_commit`` in
    pg_chain.py (at most one sealer waits; the others leave it to that one). How many it
    chained."""
    try:
        with connections[using].cursor() as cursor:
            cursor.execute("SELECT audit_seal_after_commit(%s, %s)", [CHAIN_LOCK, SEAL_WAITER])
            return cursor.fetchone()[0]
    except Exception:  # the caller's work has committed; the beat task will chain it
        logger.exception("Chaining pending audit events failed; the beat task will retry.")
        return 0


def _checkpoint_if_due(using: str) -> None:
    """The "every N events" checkpoint (IMPRIMATUR_AUDIT_CHECKPOINT_EVENTS): signed when the
    chain passed a multiple of N since the last checkpoint. A cheap look first;
    ``audit_checkpoint`` checks again holding the chain lock, so processes asking at once
    make one checkpoint."""
    every = settings.IMPRIMATUR_AUDIT_CHECKPOINT_EVENTS
    if every <= 0:
        return
    from governance.audit.proofs import audit_checkpoint

    try:
        with connections[using].cursor() as cursor:
            cursor.execute(
                "SELECT (SELECT max(sequence) FROM audit_auditevent), "
                "(SELECT max(sequence) FROM audit_auditcheckpoint)"
            )
            head, last = cursor.fetchone()
        if (head or 0) // every > (last or 0) // every:
            audit_checkpoint(every=every)
    except Exception:  # the beat task signs within IMPRIMATUR_AUDIT_CHECKPOINT_SECONDS
        logger.exception("Signing an audit checkpoint failed; the beat task will retry.")


class _Sealer:
    """This process's background thread that chains pending events after their commits, so
    that a writer neither waits for the chain nor spends a round trip on it, and signs the
    checkpoint every N events (``_checkpoint_if_due``) after the commit that reaches it.
    Idle for ``IDLE_S`` it closes its connection and ends; the next commit starts it again."""

    IDLE_S = 0.5
    GATHER_S = 0.02

    def __init__(self) -> None:
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None
        self._seal = self._checkpoint = False

    def request(self, using: str, *, seal: bool = True, checkpoint: bool = False) -> None:
        with self._guard:
            self._seal |= seal
            self._checkpoint |= checkpoint
            self._idle.clear()
            self._wake.set()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, args=(using,), name="audit-sealer", daemon=True
                )
                self._thread.start()

    def _run(self, using: str) -> None:
        try:
            while True:
                with self._guard:
                    if not self._wake.is_set():
                        self._idle.set()
                self._wake.wait(self.IDLE_S)
                with self._guard:
                    if not self._wake.is_set():  # idle: end (request() starts a new one)
                        self._thread = None
                        return
                    self._wake.clear()
                    seal, checkpoint = self._seal, self._checkpoint
                    self._seal = self._checkpoint = False
                if seal:
                    time.sleep(self.GATHER_S)  # let more commits arrive: one chaining for them
                    checkpoint = _seal_after_commit(using) > 0 or checkpoint
                if checkpoint:
                    _checkpoint_if_due(using)
        finally:
            connections[using].close()  # this thread's own connection
            self._idle.set()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every requested chaining has run; False on timeout."""
        return self._idle.wait(timeout)


_sealer = _Sealer()
atexit.register(_sealer.flush, 10.0)  # a normal exit chains what it committed first


def audit_flush(timeout: float = 30.0) -> bool:
    """Wait until this process's pending events are chained and its due checkpoint signed
    (before exiting, in tests)."""
    return _sealer.flush(timeout)


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
        created_at=timezone.now(),
    )
    using = router.db_for_write(AuditEvent)
    connection = connections[using]
    # No savepoint (two round trips saved): a failed append fails the caller's transaction.
    with transaction.atomic(using=using, savepoint=False):
        if connection.vendor != "postgresql":  # writers are serialised: chain it now
            event.sequence, event.prev_hash = chain_head(using)
            event.sequence += 1
            event.hash = event_hash(event.hashed_fields())
            event.save(using=using, force_insert=True)
            _checkpoint_after_commit(event.sequence, using)
            event_recorded.send(sender=AuditEvent, event=event)
            return event
        # One round trip: the event goes in as pending and, if the chain is free, is chained.
        values = [getattr(event, name) for name in _FIELDS]
        values[_FIELDS.index("data")] = Jsonb(event.data)
        parts = event_hash_parts(event.hashed_fields())
        with connection.cursor() as cursor:
            cursor.execute(_APPEND, [*values, *parts, CHAIN_LOCK])
            event.sequence, event.prev_hash, event.hash = cursor.fetchone()
        if event.sequence is None:  # another transaction holds the chain
            transaction.on_commit(lambda: _sealer.request(using), using=using)
        else:
            event._state.adding = False
            _checkpoint_after_commit(event.sequence, using)
        event_recorded.send(sender=AuditEvent, event=event)
    return event


def _checkpoint_after_commit(sequence: int, using: str) -> None:
    """An append that reaches a multiple of N asks for the checkpoint once it commits (a
    batch of pending events is looked at by the sealer once chained)."""
    every = settings.IMPRIMATUR_AUDIT_CHECKPOINT_EVENTS
    if every > 0 and sequence % every == 0:
        transaction.on_commit(
            lambda: _sealer.request(using, seal=False, checkpoint=True), using=using
        )
