"""Verifying the audit chain and its checkpoints, in sequence order, in constant memory.

The walk stops at the first break and names its sequence number and reason:

- ``missing``: a sequence number is absent (a deleted event, or the start of the log);
- ``changed``: the event's stored hash is not the hash of its fields (an edited event);
- ``broken link``: the event's ``prev_hash`` is not the hash of the event before it (events
  reordered, or an edit whose hash was recomputed);
- ``checkpoint mismatch``: a signed checkpoint names another hash for that sequence (a tail
  rewritten with recomputed hashes);
- ``bad signature``: a checkpoint's signature does not verify with the platform key;
- ``truncated``: the last checkpoint names a sequence the chain no longer reaches;
- ``tree root mismatch``: a checkpoint signed a Merkle root (merkle.py) that the events it
  covers do not give: its inclusion proofs would prove nothing.

Then, by default, against the witness outside the database (witness_check.py): ``differs
from witness`` (the first event that is not what a witnessed checkpoint signed), ``truncated``
and ``missing`` against it, ``checkpoint missing from database`` / ``from witness``,
``witness inconsistent``, ``bad signature``; ``witness unavailable`` when it cannot be read.
The first break by sequence is reported, whichever check found it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import connections
from django.utils.translation import ngettext

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
    witness: str = ""  # what the checkpoints were compared with ("" when not asked)
    witnessed: int = 0  # checkpoints the witness holds

    def __str__(self) -> str:
        if self.intact:
            waiting = f", {self.pending} pending to be chained" if self.pending else ""
            against = (
                f", {self.witnessed} of them in the witness {self.witness}"
                if self.witness
                else ", not compared with a witness"
            )
            events = ngettext("%d event", "%d events", self.checked) % self.checked
            checkpoints = (
                ngettext("%d checkpoint", "%d checkpoints", self.checkpoints) % self.checkpoints
            )
            return f"intact up to {self.last_sequence} ({events}, {checkpoints}{against}{waiting})"
        if self.broken_sequence is None:
            return f"not verified: {self.reason} ({self.detail})"
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


def _iter_checkpoints(
    using: str, first: int = 0, last: int | None = None
) -> Iterator[AuditCheckpoint]:
    after = (first, -1)
    while True:
        checkpoints = AuditCheckpoint.objects.using(using)
        if last is not None:
            checkpoints = checkpoints.filter(sequence__lte=last)
        rows = list(
            checkpoints.filter(sequence__gte=after[0])
            .exclude(sequence=after[0], id__lte=after[1])
            .order_by("sequence", "id")[:BATCH_SIZE]
        )
        yield from rows
        if len(rows) < BATCH_SIZE:
            return
        after = (rows[-1].sequence, rows[-1].id)


@dataclass(frozen=True)
class _Walk:
    """One range of the chain, walked: its result, and what the seams need."""

    result: VerifyResult
    first_prev: str | None  # the prev_hash of the range's first event
    last_hash: str | None  # the hash of the last event that verified


def _signature_checker(using: str, check_signatures: bool):
    from governance.audit.signing import checkpoint_message, load_or_create_key, signature_valid

    if not check_signatures or not AuditCheckpoint.objects.using(using).exists():
        return lambda checkpoint: True
    key = load_or_create_key()

    def valid(checkpoint) -> bool:
        return checkpoint.key_id == key.key_id and signature_valid(
            key.public_key, checkpoint_message(checkpoint), checkpoint.signature
        )

    valid.key_id = key.key_id
    return valid


def _walk(first: int, last: int | None, batch_size: int, using: str, check_signatures: bool):
    """Walk events first..last (to the end when None) and the checkpoints among them. The
    first event's prev_hash is checked against the genesis hash only when first is 1; a
    range further on leaves it to its seam with the range before."""
    valid = _signature_checker(using, check_signatures)
    checkpoints = _iter_checkpoints(using, first, last)
    pending = next(checkpoints, None)
    checked_checkpoints = 0
    expected, checked = first, 0
    prev_hash = GENESIS_HASH if first == 1 else None
    first_prev = None

    def broken(sequence, reason, detail):
        result = VerifyResult(
            False, expected - 1, checked, checked_checkpoints, sequence, reason, detail
        )
        return _Walk(result, first_prev, prev_hash)

    for event in iter_events(first=first, last=last, batch_size=batch_size, using=using):
        sequence = event["sequence"]
        if sequence != expected:
            return broken(expected, "missing", f"the next event after {expected - 1} is {sequence}")
        stored = event.pop("hash")
        if event_hash(event) != stored:
            return broken(sequence, "changed", "the stored hash is not the hash of the event")
        if first_prev is None:
            first_prev = event["prev_hash"]
        if prev_hash is not None and event["prev_hash"] != prev_hash:
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
            if not valid(pending):
                return broken(
                    pending.sequence,
                    "bad signature",
                    f"checkpoint {pending.pk} does not verify with key {valid.key_id[:16]}",
                )
            checked_checkpoints += 1
            pending = next(checkpoints, None)
        prev_hash, expected, checked = stored, expected + 1, checked + 1
    return _Walk(
        VerifyResult(True, expected - 1, checked, checked_checkpoints), first_prev, prev_hash
    )


def _next_sequence(using: str, after: int) -> int | None:
    events = AuditEvent.objects.using(using).filter(sequence__gt=after).order_by("sequence")
    return events.values_list("sequence", flat=True).first()


def _walk_in_child(arguments) -> _Walk:
    return _walk(*arguments)


def _ranges(head: int, jobs: int, batch_size: int) -> list[tuple[int, int]]:
    if jobs <= 1 or head < 2 * batch_size:
        return [(1, head)]
    size = -(-head // jobs)
    return [(start, min(start + size - 1, head)) for start in range(1, head + 1, size)]


def audit_verify(
    *,
    batch_size: int = BATCH_SIZE,
    using: str = "default",
    check_signatures: bool = True,
    jobs: int = 1,
    witness: bool = True,
    checkpoints_file: str | None = None,
) -> VerifyResult:
    """Walk the chain and its checkpoints (``chain_verify``), then compare them with the
    witness: the configured one (``witness``, the default), or an auditor's copy
    (``checkpoints_file``, the download's JSON lines). The first break by sequence wins."""
    from dataclasses import replace

    from governance.audit.witness import (
        WitnessError,
        configured_witness,
        entries_from_file,
    )
    from governance.audit.witness_check import witness_check

    result = chain_verify(
        batch_size=batch_size, using=using, check_signatures=check_signatures, jobs=jobs
    )
    if not witness and checkpoints_file is None:
        return result
    try:
        if checkpoints_file is not None:
            where, entries = f"file {checkpoints_file}", entries_from_file(checkpoints_file)
        else:
            source = configured_witness()
            where, entries = f"witness {source}", source.entries()
    except WitnessError as error:
        return replace(
            result,
            intact=False,
            broken_sequence=None,
            reason="witness unavailable",
            detail=str(error),
        )
    found = witness_check(
        entries,
        where=where,
        live=checkpoints_file is None,
        using=using,
        check_signatures=check_signatures,
    )
    result = replace(result, witness=where.split(" ", 1)[1], witnessed=len(entries))
    if found is None or (not result.intact and result.broken_sequence <= found.sequence):
        return result
    return replace(
        result,
        intact=False,
        last_sequence=min(result.last_sequence, found.sequence - 1),
        broken_sequence=found.sequence,
        reason=found.reason,
        detail=found.detail,
    )


def chain_verify(
    *,
    batch_size: int = BATCH_SIZE,
    using: str = "default",
    check_signatures: bool = True,
    jobs: int = 1,
) -> VerifyResult:
    """Walk the chain (up to its head when the walk starts) and every checkpoint. ``jobs``
    > 1 walks that many ranges of the chain in parallel processes (each on its own
    connection; the seams between ranges are checked here), for the command line: the
    answer is the same, first break by sequence included."""
    from django.db import connections as django_connections

    from governance.audit.head import chain_head

    head = chain_head(using)[0]
    ranges = _ranges(head, jobs, batch_size)
    if len(ranges) > 1 and not django_connections[using].in_atomic_block:
        import multiprocessing

        django_connections.close_all()  # the children open their own connections
        arguments = [(a, b, batch_size, using, check_signatures) for a, b in ranges]
        with multiprocessing.get_context("fork").Pool(len(ranges)) as pool:
            walks = pool.map(_walk_in_child, arguments)
    else:
        ranges = [(1, None)]  # one walk, to the end
        walks = [_walk(1, None, batch_size, using, check_signatures)]

    checked = checkpoints = 0
    previous = None
    for (first, last), walk in zip(ranges, walks, strict=True):
        result = walk.result
        if previous is not None and walk.first_prev not in (None, previous.last_hash):
            return VerifyResult(
                False,
                first - 1,
                checked,
                checkpoints,
                first,
                "broken link",
                "prev_hash is not the hash of the previous event (reordered?)",
            )
        if not result.intact:
            return VerifyResult(
                False,
                result.last_sequence,
                checked + result.checked,
                checkpoints + result.checkpoints,
                result.broken_sequence,
                result.reason,
                result.detail,
            )
        checked, checkpoints = checked + result.checked, checkpoints + result.checkpoints
        if last is not None and result.last_sequence < last:  # the range's end is missing
            return VerifyResult(
                False,
                result.last_sequence,
                checked,
                checkpoints,
                result.last_sequence + 1,
                "missing",
                f"the next event after {result.last_sequence} is "
                f"{_next_sequence(using, result.last_sequence)}",
            )
        previous = walk
    last_sequence = walks[-1].result.last_sequence

    # A checkpoint past the end: the chain was cut after it was signed.
    beyond = list(_iter_checkpoints(using, last_sequence + 1))
    if beyond:
        latest = beyond[-1]
        valid = _signature_checker(using, check_signatures)
        if not valid(latest):
            return VerifyResult(
                False,
                last_sequence,
                checked,
                checkpoints,
                latest.sequence,
                "bad signature",
                f"checkpoint {latest.pk} does not verify with key {valid.key_id[:16]}",
            )
        return VerifyResult(
            False,
            last_sequence,
            checked,
            checkpoints,
            last_sequence + 1,
            "truncated",
            f"checkpoint {latest.pk} names event {latest.sequence}, "
            f"the chain ends at {last_sequence}",
        )
    from governance.audit.proofs import tree_roots_check

    wrong_root = tree_roots_check(last_sequence, using)
    if wrong_root is not None:
        sequence, detail = wrong_root
        return VerifyResult(
            False, last_sequence, checked, checkpoints, sequence, "tree root mismatch", detail
        )
    pending_events = AuditPending.objects.using(using).count()
    return VerifyResult(True, last_sequence, checked, checkpoints, pending=pending_events)
