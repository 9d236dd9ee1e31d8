"""The Merkle tree of the audit log (merkle.py) in the database: signed checkpoints with
their tree root (``audit_checkpoint``), the check of every signed root, and inclusion proofs
of single events.

An inclusion proof is a JSON document an auditor can hand over instead of the log: one
event with its hashed fields, the audit path from its leaf to the root of the tree of
events 1..N, and the signed checkpoint at N with the platform's public key. It proves the
event is in the log the platform signed, without showing any other event;
tools/audit_verify.py --proof checks it with the standard library (and ``cryptography``
for the signature).
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db import connections, router, transaction
from django.utils import timezone

from governance.audit.head import chain_head, chain_pending, lock_chain
from governance.audit.merkle import Frontier, event_leaf, inclusion_path
from governance.audit.models import AuditCheckpoint, AuditEvent
from governance.audit.signals import checkpoint_signed
from governance.audit.signing import (
    checkpoint_message,
    checkpoint_signed_fields,
    load_or_create_key,
)
from governance.audit.signing import sign as sign_with

PROOF_FORMAT = "imprimatur-audit-inclusion/1"
BATCH_SIZE = 50_000


class NoCheckpoint(Exception):
    """No signed checkpoint with a tree root covers the event yet."""


def iter_leaves(*, after: int, until: int, using: str = "default") -> Iterator[bytes]:
    """The leaves of events after+1..until, in sequence order, by keyset pages.
    Raises ValueError at a gap (the chain's verification names it better)."""
    expected = after + 1
    with connections[using].cursor() as cursor:
        while expected <= until:
            cursor.execute(
                "SELECT sequence, hash FROM audit_auditevent WHERE sequence >= %s "
                "AND sequence <= %s ORDER BY sequence LIMIT %s",
                [expected, until, BATCH_SIZE],
            )
            rows = cursor.fetchall()
            if not rows:
                break
            for sequence, hash_hex in rows:
                if sequence != expected:
                    raise ValueError(f"Event {expected} is missing.")
                yield event_leaf(hash_hex)
                expected += 1
    if expected <= until:
        raise ValueError(f"Event {expected} is missing.")


def _usable_frontier(checkpoint: AuditCheckpoint | None) -> Frontier:
    """The frontier a checkpoint kept, if its root is the root it signed; else an empty
    tree (the caller then hashes the log from the start)."""
    if checkpoint is None or not checkpoint.tree_root or checkpoint.tree_frontier is None:
        return Frontier()
    try:
        frontier = Frontier.from_json(checkpoint.sequence, checkpoint.tree_frontier)
    except (TypeError, ValueError):
        return Frontier()
    return frontier if frontier.root().hex() == checkpoint.tree_root else Frontier()


def _with_tree(using: str):
    return AuditCheckpoint.objects.using(using).filter(tree_root__isnull=False)


def tree_at(sequence: int, using: str = "default", base: AuditCheckpoint | None = None) -> Frontier:
    """The tree of events 1..sequence, grown from the latest checkpoint at or below it
    (``base``, when the caller has it at hand; looked up when it has no tree)."""
    if base is None or not base.tree_root or base.sequence > sequence:
        base = _with_tree(using).filter(sequence__lte=sequence).order_by("-sequence", "-id").first()
    frontier = _usable_frontier(base)
    frontier.extend(iter_leaves(after=frontier.size, until=sequence, using=using))
    return frontier


def iter_hashes(*, after: int, until: int, using: str = "default") -> Iterator[tuple[int, str]]:
    """(sequence, hash) of events after+1..until in sequence order, by keyset pages; a gap
    is the caller's to notice."""
    with connections[using].cursor() as cursor:
        while after < until:
            cursor.execute(
                "SELECT sequence, hash FROM audit_auditevent WHERE sequence > %s "
                "AND sequence <= %s ORDER BY sequence LIMIT %s",
                [after, until, BATCH_SIZE],
            )
            rows = cursor.fetchall()
            yield from rows
            if len(rows) < BATCH_SIZE:
                return
            after = rows[-1][0]


def _base_tree(last: AuditCheckpoint | None, using: str) -> Frontier:
    """The tree at the last checkpoint: its kept frontier, or rebuilt from the events when
    that is not usable (so that the next witness entry still follows the last one)."""
    if last is None or not last.tree_root:
        base = _with_tree(using).order_by("-sequence", "-id").first()
        if base is None:
            return Frontier()
        last = base
    frontier = _usable_frontier(last)
    if frontier.size != last.sequence:
        frontier = Frontier()
        frontier.extend(iter_leaves(after=0, until=last.sequence, using=using))
    return frontier


def audit_checkpoint(*, every: int = 0) -> AuditCheckpoint | None:
    """Sign the chain's current head, with the root of the Merkle tree of events up to it,
    with the platform key, and write it to the witness (witness.py) before the transaction
    commits: a checkpoint the witness did not take is not made. None while the log is empty.

    Idempotent: when the head has not moved since the last checkpoint (and that one has a
    tree root), that one is returned; with ``every`` (the "every N events" trigger), also
    while no multiple of it was reached since the last checkpoint: several processes asking
    at once make one, and a checkpoint signed late does not push the next one back.
    Holding the chain lock, the checkpoints are made one at a time, in sequence order. The
    tree grows from the last checkpoint's frontier: the cost is the events since.
    """
    from governance.audit.merkle import consistency_path
    from governance.audit.witness import configured_witness, witness_entry

    key = load_or_create_key()
    witness = configured_witness()
    using = router.db_for_write(AuditCheckpoint)
    with transaction.atomic(using=using):
        lock_chain(using)  # the head cannot move while it is being signed
        chain_pending(using)
        sequence, head_hash = chain_head(using)
        if sequence == 0:
            return None
        last = AuditCheckpoint.objects.using(using).order_by("-sequence", "-id").first()
        if last is not None and last.tree_root:
            if last.sequence == sequence and last.hash == head_hash:
                return last  # the head has not moved
            if every and sequence // every <= last.sequence // every:
                return last  # no multiple of `every` since the last one: not due
        tree = _base_tree(last, using)
        hashes = [h for _, h in iter_hashes(after=tree.size, until=sequence, using=using)]
        if len(hashes) != sequence - tree.size:
            raise ValueError(f"The chain has gaps between {tree.size} and {sequence}.")
        leaves = [event_leaf(h) for h in hashes]
        previous = (tree.size, tree.root().hex()) if tree.size else None
        consistency = consistency_path(tree, leaves)
        tree.extend(leaves)
        checkpoint = AuditCheckpoint(
            sequence=sequence,
            hash=head_hash,
            created_at=timezone.now(),
            tree_root=tree.root().hex(),
            tree_frontier=tree.to_json(),
        )
        checkpoint.key_id = key.key_id
        checkpoint.signature = sign_with(key, checkpoint_message(checkpoint))
        checkpoint.save(using=using, force_insert=True)
        witness.append(
            witness_entry(checkpoint, previous=previous, consistency=consistency, hashes=hashes)
        )
        checkpoint_signed.send(sender=AuditCheckpoint, checkpoint=checkpoint)
    return checkpoint


def tree_roots_check(last_sequence: int, using: str = "default") -> tuple[int, str] | None:
    """Recompute the tree over the chain once and compare each signed root with it: the
    first checkpoint whose root differs, as (sequence, detail); None when all agree. The
    chain up to ``last_sequence`` is already verified, so the leaves are the true ones."""
    checkpoints = _with_tree(using).filter(sequence__lte=last_sequence).order_by("sequence", "id")
    frontier = Frontier()
    for checkpoint in checkpoints.iterator():
        if checkpoint.sequence > frontier.size:
            frontier.extend(
                iter_leaves(after=frontier.size, until=checkpoint.sequence, using=using)
            )
        if frontier.root().hex() != checkpoint.tree_root:
            return checkpoint.sequence, (
                f"checkpoint {checkpoint.pk} signed tree root {checkpoint.tree_root[:16]}…, "
                f"the events give {frontier.root().hex()[:16]}…"
            )
    return None


def inclusion_proof(sequence: int, using: str = "default", *, sign: bool = False) -> dict:
    """The inclusion proof of event ``sequence`` in the latest signed checkpoint with a
    tree root (see the module docstring); with ``sign``, a checkpoint of the head is signed
    first when none covers the event yet. Raises AuditEvent.DoesNotExist, NoCheckpoint."""
    event = AuditEvent.objects.using(using).get(sequence=sequence)
    covering = _with_tree(using).filter(sequence__gte=sequence).order_by("-sequence", "-id")
    checkpoint = covering.first()
    if checkpoint is None and sign:
        audit_checkpoint()
        checkpoint = covering.first()
    if checkpoint is None:
        raise NoCheckpoint(f"No signed checkpoint covers event {sequence} yet.")
    leaves = list(iter_leaves(after=0, until=checkpoint.sequence, using=using))
    path = inclusion_path(leaves, sequence - 1)
    key = load_or_create_key()
    return {
        "format": PROOF_FORMAT,
        "event": event.exported_fields(),
        "leaf_index": sequence - 1,
        "tree_size": checkpoint.sequence,
        "audit_path": [node.hex() for node in path],
        "checkpoint": checkpoint_signed_fields(checkpoint) | {"signature": checkpoint.signature},
        "algorithm": "Ed25519",
        "public_key": key.public_pem(),
        "hashing": "RFC 6962: leaf SHA-256(0x00 || event hash bytes), "
        "node SHA-256(0x01 || left || right); see governance/audit/CHAIN.md",
    }
