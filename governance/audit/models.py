"""Audit events, hash-chained (``chain.py``, CHAIN.md), and signed checkpoints of the chain.

Both tables are append-only: the models and their querysets refuse changes and deletions,
and database triggers (migration 0004, guard.py) refuse UPDATE and DELETE from any client.
"""

from django.db import models
from django.utils import timezone

from imprimatur.tenancy.permissions import RestrictedQuerySet


class AuditLogImmutable(Exception):
    """Audit events and checkpoints are never changed or deleted."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AuditLogImmutable("The audit log is append-only: rows cannot be changed.")

    def delete(self):
        raise AuditLogImmutable("The audit log is append-only: rows cannot be deleted.")

    delete.queryset_only = True


class AuditEventQuerySet(AppendOnlyQuerySet, RestrictedQuerySet):
    pass


class AppendOnlyModel(models.Model):
    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditLogImmutable("The audit log is append-only: rows cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditLogImmutable("The audit log is append-only: rows cannot be deleted.")


class EventFields(models.Model):
    """What an event says, the same in the chain (AuditEvent) and waiting for it
    (AuditPending); each adds its time and organisation."""

    # The actor is kept as text so the event survives the user's deletion.
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=100)
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=300, blank=True)
    data = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        abstract = True


class AuditEvent(AppendOnlyModel, EventFields):
    # When audit_record was called (see AuditPending: concurrent events may be chained a
    # few milliseconds out of time order; the sequence is the order).
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    organization = models.ForeignKey(
        "tenancy.Organization",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit_events",
        db_index=False,  # auditevent_org_seq starts with it
    )
    # The chain: 1, 2, 3 … without gaps, each event naming the hash of the one before.
    sequence = models.BigIntegerField(unique=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    organization_path = "organization"
    # Readers pass Action.AUDIT: seeing the log needs the auditor or admin role.
    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["sequence"]
        # Every index slows each append (the chain's serial section), so only those the
        # audit browser's filters use, one each (Django's db_index on a CharField would add
        # a second, pattern-matching index on PostgreSQL).
        indexes = [
            # The keyset pages: one organisation's events, newest first.
            models.Index(fields=["organization", "sequence"], name="auditevent_org_seq"),
            # An action, or a prefix ("reviews."): one pattern-matching index serves both.
            models.Index(
                fields=["action"], name="auditevent_action", opclasses=["varchar_pattern_ops"]
            ),
            # The events of one user action.
            models.Index(fields=["request_id"], name="auditevent_request"),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.action} {self.target_type}:{self.target_id}"

    def hashed_fields(self) -> dict:
        from governance.audit.chain import event_fields

        return event_fields(
            sequence=self.sequence,
            created_at=self.created_at,
            actor_id=self.actor_id,
            actor_name=self.actor_name,
            organization_id=self.organization_id,
            action=self.action,
            target_type=self.target_type,
            target_id=self.target_id,
            target_repr=self.target_repr,
            data=self.data,
            request_id=self.request_id,
            prev_hash=self.prev_hash,
        )

    def exported_fields(self) -> dict:
        """One exported line (CSV, JSON Lines, an inclusion proof): the hashed fields plus
        the hash."""
        return self.hashed_fields() | {"hash": self.hash}


class AuditPending(EventFields):
    """An event recorded while another transaction held the chain (PostgreSQL only): it
    commits with its caller's transaction, and the next holder of the chain lock moves it
    into the chain (``pg_chain.py``), in id order, and deletes it here. Normally
    that happens milliseconds after the commit; the ``governance.audit.seal`` beat task
    picks up any a crashed process left behind. Not append-only: sealing deletes rows."""

    created_at = models.DateTimeField()
    organization = models.ForeignKey(
        "tenancy.Organization", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The event's canonical JSON around its prev_hash and sequence (chain.event_hash_parts).
    hash_start = models.TextField()
    hash_middle = models.TextField()
    hash_end = models.TextField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"pending {self.action} {self.target_type}:{self.target_id}"


class AuditCheckpoint(AppendOnlyModel):
    """The platform's signed statement that the chain's event ``sequence`` had ``hash``."""

    sequence = models.BigIntegerField(db_index=True)
    hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    key_id = models.CharField(max_length=64, help_text="SHA-256 of the raw public key, hex.")
    signature = models.CharField(max_length=200, help_text="Ed25519, base64.")
    # The RFC 6962 root over events 1..sequence (merkle.py), signed with the rest; NULL on
    # checkpoints signed before the tree existed. NULL rather than "": SQLite adds a column
    # without a default in place, but rebuilds the table (and drops its triggers) for one
    # with a default (migration 0008).
    tree_root = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    # The subtree roots of that tree (merkle.Frontier, hex): not signed, a cache from which
    # the next checkpoint's tree grows; it is only used when its root is tree_root.
    tree_frontier = models.JSONField(null=True, blank=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["sequence", "id"]

    def __str__(self) -> str:
        return f"checkpoint at #{self.sequence}"
