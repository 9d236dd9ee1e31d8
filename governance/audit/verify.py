"""Verifying the audit chain and its checkpoints, in sequence order, in constant memory.

The walk stops at the first break and names its sequence number and reason:

- ``missing``: a sequence number is absent (a deleted event, or the start of the log);
- ``changed``: the event's stored hash is not the hash of its fields (an edited event);
- ``broken link``: the event's ``prev_hash`` is not the hash of the event before it (events
  reordered, or an edit whose hash was recomputed);
- ``checkpoint mismatch``: a signed checkpoint names another hash for that sequence (a tail
  rewritten with recomputed hashes);
- ``bad signature``: a checkpoint's signature does not verify with the platform key;
- ``truncated``: the last checkpoint names a sequence the chain no longer reaches.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import connections

from governance.audit.chain import FIELDS, GENESIS_HASH, event_hash, format_timestamp
from governance.audit.models import AuditCheckpoint, AuditEvent, AuditPending

BATCH_SIZE = 5000

_COLUMNS = (*FIELDS, "hash")


@dataclass(frozen=True)
class VerifyResult:
    intact: bool
    last_sequence: int  # the last event that verified
    checked: int  # events checked
    checkpoints: int  # checkpoints checked
    broken_sequence: int | None = None
    reason: str = ""
    detail: str = ""
    pending: int = 0  # events committed but not yet chained (PostgreSQL; see services.py)

    def __str__(self) -> str:
        if self.intact:
            waiting = f", {self.pending} pending to be chained" if self.pending else ""
            return (
                f"intact up to {self.last_sequence} "
                f"({self.checked} events, {self.checkpoints} checkpoints{waiting})"
            )
        return f"broken at {self.broken_sequence}: {self.reason} ({self.detail})"


_POSTGRESQL_PAGE = (
    "SELECT sequence, "
    """to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), """
    "actor_id, actor_name, organization_id, action, target_type, target_id, target_repr, "
    "data::text, request_id, prev_hash, hash FROM audit_auditevent "
    "WHERE sequence > %s AND sequence <= %s ORDER BY sequence LIMIT %s"
)


def iter_events(
    *, first: int = 1, last: int | None = None, batch_size: int = BATCH_SIZE, using: str = "default"
) -> Iterator[dict]:
    """Events as dicts of the hashed fields plus ``hash``, by keyset pages of sequence."""
    connection = connections[using]
    after, until = first - 1, last if last is not None else 2**63 - 1
    while True:
        if connection.vendor == "postgresql":
            # The timestamp formatted and the JSON left as text by the database: parsing
            # them into Python objects would double the walk's time.
            with connection.cursor() as cursor:
                cursor.execute(_POSTGRESQL_PAGE, [after, until, batch_size])
                rows = cursor.fetchall()
            for row in rows:
                event = dict(zip(_COLUMNS, row, strict=True))
                event["data"] = json.loads(event["data"])
                yield event
        else:
            queryset = AuditEvent.objects.using(using).filter(
                sequence__gt=after, sequence__lte=until
            )
            rows = list(queryset.order_by("sequence").values_list(*_COLUMNS)[:batch_size])
            for row in rows:
                event = dict(zip(_COLUMNS, row, strict=True))
                event["created_at"] = format_timestamp(event["created_at"])
                yield event
        if len(rows) < batch_size:
            return
        after = rows[-1][0]


def _iter_checkpoints(using: str) -> Iterator[AuditCheckpoint]:
    after = (-1, -1)
    while True:
        rows = list(
            AuditCheckpoint.objects.using(using)
            .filter(sequence__gte=after[0])
            .exclude(sequence=after[0], id__lte=after[1])
            .order_by("sequence", "id")[:BATCH_SIZE]
        )
        yield from rows
        if len(rows) < BATCH_SIZE:
            return
        after = (rows[-1].sequence, rows[-1].id)


def audit_verify(
    *, batch_size: int = BATCH_SIZE, using: str = "default", check_signatures: bool = True
) -> VerifyResult:
    from governance.audit.signing import checkpoint_message, load_or_create_key, signature_valid

    public_key = key_id = None
    if check_signatures and AuditCheckpoint.objects.using(using).exists():
        key = load_or_create_key()
        public_key, key_id = key.public_key, key.key_id

    checkpoints = _iter_checkpoints(using)
    pending = next(checkpoints, None)
    checked_checkpoints = 0
    expected, prev_hash, checked = 1, GENESIS_HASH, 0

    def broken(sequence, reason, detail):
        return VerifyResult(
            False, expected - 1, checked, checked_checkpoints, sequence, reason, detail
        )

    def check_signature(checkpoint):
        if public_key is None:
            return None
        if checkpoint.key_id != key_id or not signature_valid(
            public_key, checkpoint_message(checkpoint), checkpoint.signature
        ):
            return broken(
                checkpoint.sequence,
                "bad signature",
                f"checkpoint {checkpoint.pk} does not verify with key {key_id[:16]}",
            )
        return None

    for event in iter_events(batch_size=batch_size, using=using):
        sequence = event["sequence"]
        if sequence != expected:
            return broken(expected, "missing", f"the next event after {expected - 1} is {sequence}")
        stored = event.pop("hash")
        if event_hash(event) != stored:
            return broken(sequence, "changed", "the stored hash is not the hash of the event")
        if event["prev_hash"] != prev_hash:
            return broken(
                sequence,
                "broken link",
                "prev_hash is not the hash of the previous event (reordered?)",
            )
        while pending is not None and pending.sequence <= sequence:
            if pending.sequence == sequence and pending.hash != stored:
                return broken(
                    sequence,
                    "checkpoint mismatch",
                    f"checkpoint {pending.pk} signed hash {pending.hash[:16]}…",
                )
            failure = check_signature(pending)
            if failure:
                return failure
            checked_checkpoints += 1
            pending = next(checkpoints, None)
        prev_hash, expected, checked = stored, expected + 1, checked + 1

    last = pending
    for last in checkpoints:  # noqa: B007  (only the last one matters)
        pass
    if last is not None:
        failure = check_signature(last)
        if failure:
            return failure
        return broken(
            expected,
            "truncated",
            f"checkpoint {last.pk} names event {last.sequence}, the chain ends at {expected - 1}",
        )
    pending_events = AuditPending.objects.using(using).count()
    return VerifyResult(True, expected - 1, checked, checked_checkpoints, pending=pending_events)
