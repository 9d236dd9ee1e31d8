"""Verifying the database against the witness (witness.py): what someone with database
access cannot make agree again.

1. The witness on its own: every entry's signature verifies with the platform key, and each
   entry's consistency proof shows the tree before it is a prefix of its tree (RFC 6962), so
   the witnessed checkpoints are one append-only history.
2. The witness and the checkpoint table: an entry whose checkpoint row is gone (``checkpoint
   missing from database``) and, for the live witness, a row after the witness began that it
   never took (``checkpoint missing from witness``).
3. The witness and the events: the tree of the events must give every witnessed root. At the
   first that it does not, the tree up to the entry before still agreed, so the change lies
   among the events between the two; the entry's event hashes (checked against its signed
   root) then name the first event that differs (``differs from witness``). A chain that
   ends before a witnessed checkpoint is ``truncated``.

The first finding by sequence is returned as (sequence, reason, detail).
"""

from __future__ import annotations

from dataclasses import dataclass

from governance.audit.chain import canonical_json
from governance.audit.merkle import Frontier, consistency_valid, event_leaf
from governance.audit.models import AuditCheckpoint
from governance.audit.proofs import iter_hashes
from governance.audit.witness import SIGNED


@dataclass(frozen=True)
class Finding:
    sequence: int
    reason: str
    detail: str
    rank: int = 0  # at the same sequence, the lower rank is told first

    def key(self) -> tuple[int, int]:
        return (self.sequence, self.rank)


def _first(findings) -> Finding | None:
    findings = [finding for finding in findings if finding is not None]
    return min(findings, key=Finding.key) if findings else None


def _signature_valid(entry: dict, key) -> bool:
    from governance.audit.signing import signature_valid

    fields = {name: entry[name] for name in SIGNED if entry.get(name) is not None}
    message = canonical_json(fields).encode("utf-8")
    return entry["key_id"] == key.key_id and signature_valid(
        key.public_key, message, entry["signature"]
    )


def _entries_check(entries: list[dict], where: str, check_signatures: bool) -> Finding | None:
    from governance.audit.signing import load_or_create_key

    key = load_or_create_key() if check_signatures else None
    before = None
    for entry in entries:
        sequence = entry["sequence"]
        if key is not None and not _signature_valid(entry, key):
            return Finding(
                sequence,
                "bad signature",
                f"the {where}'s checkpoint at {sequence} does not "
                f"verify with key {key.key_id[:16]}",
            )
        if before is None:
            before = entry
            continue
        previous = entry.get("previous") or {}
        proof = [bytes.fromhex(node) for node in entry.get("consistency") or []]
        consistent = previous == {
            "sequence": before["sequence"],
            "tree_root": before["tree_root"],
        } and consistency_valid(
            before["sequence"],
            sequence,
            bytes.fromhex(before["tree_root"]),
            bytes.fromhex(entry["tree_root"]),
            proof,
        )
        if not consistent:
            return Finding(
                sequence,
                "witness inconsistent",
                f"the {where}'s checkpoint at {sequence} "
                f"does not prove its tree extends the one at {before['sequence']}",
            )
        before = entry
    return None


def _rows_check(entries: list[dict], where: str, live: bool, using: str) -> Finding | None:
    rows = list(
        AuditCheckpoint.objects.using(using)
        .filter(tree_root__isnull=False)
        .order_by("sequence", "id")
        .values_list("id", "sequence", "signature")
    )
    signatures = {signature for _, _, signature in rows}
    findings = [
        Finding(
            entry["sequence"],
            "checkpoint missing from database",
            f"the {where} holds the checkpoint at {entry['sequence']} signed "
            f"{entry['created_at']}; the checkpoint table does not",
            rank=2,
        )
        for entry in entries
        if entry["signature"] not in signatures
    ][:1]
    if live and entries:
        # Rows signed before the witness began (an older release) are not in it.
        witnessed = {entry["signature"] for entry in entries}
        first = next((i for i, row in enumerate(rows) if row[2] in witnessed), None)
        later = (
            rows[first:]
            if first is not None
            else [row for row in rows if row[1] >= entries[0]["sequence"]]
        )
        findings += [
            Finding(
                sequence,
                "checkpoint missing from witness",
                f"checkpoint {pk} at {sequence} is not in the {where}",
                rank=3,
            )
            for pk, sequence, signature in later
            if signature not in witnessed
        ][:1]
    return _first(findings)


def _locate(entry: dict, base: Frontier, ours: list[str], where: str) -> Finding:
    """The first event among ``ours`` (the events after ``base``, up to the entry) that
    differs from what the entry signed."""
    size = entry["sequence"]
    previous = entry.get("previous") or {"sequence": 0, "tree_root": None}
    skip = previous["sequence"] - base.size  # the first entry may follow older checkpoints
    if skip > 0:
        at_previous = Frontier(base.size, base.nodes)
        at_previous.extend(event_leaf(hash_hex) for hash_hex in ours[:skip])
        if at_previous.root().hex() != previous["tree_root"]:
            return Finding(
                base.size + 1,
                "differs from witness",
                f"an event among {base.size + 1}.."
                f"{previous['sequence']} is not what the checkpoint before the {where} signed",
            )
        base, ours = at_previous, ours[skip:]
    start = base.size + 1
    theirs = entry.get("hashes") or []
    tree = Frontier(base.size, base.nodes)
    tree.extend(event_leaf(hash_hex) for hash_hex in theirs)
    if len(theirs) == size - base.size and tree.root().hex() == entry["tree_root"]:
        for sequence, (mine, witnessed) in enumerate(zip(ours, theirs, strict=True), start):
            if mine != witnessed:
                return Finding(
                    sequence,
                    "differs from witness",
                    f"event {sequence} is not the event "
                    f"the checkpoint at {size} signed (the {where} has hash "
                    f"{witnessed[:16]}…, the database {mine[:16]}…)",
                )
    return Finding(
        start,
        "differs from witness",
        f"an event among {start}..{size} is not what the "
        f"checkpoint at {size} signed (the {where} gives no usable event hashes)",
    )


def _events_check(entries: list[dict], where: str, using: str) -> Finding | None:
    """Walk the events' hashes once, growing the tree to each witnessed size."""
    if not entries:
        return None
    last = max(entry["sequence"] for entry in entries)
    hashes = iter_hashes(after=0, until=last, using=using)
    tree, expected = Frontier(), 1
    for entry in sorted(entries, key=lambda e: e["sequence"]):
        size, base, ours = entry["sequence"], Frontier(tree.size, tree.nodes), []
        while tree.size < size:
            row = next(hashes, None)
            if row is None or row[0] != expected:
                reason = "truncated" if row is None else "missing"
                return Finding(
                    expected,
                    reason,
                    f"the {where}'s checkpoint at {size} names event "
                    f"{size}; the chain's next event after {expected - 1} is "
                    f"{'none' if row is None else row[0]}",
                    rank=1,
                )
            ours.append(row[1])
            tree.append(event_leaf(row[1]))
            expected += 1
        if tree.root().hex() != entry["tree_root"]:
            return _locate(entry, base, ours, where)
    return None


def witness_check(
    entries: list[dict],
    *,
    where: str,
    live: bool,
    using: str = "default",
    check_signatures: bool = True,
) -> Finding | None:
    """The first finding by sequence (see the module docstring); None when all agree.
    ``live``: the configured witness, which must also hold every later checkpoint row (an
    auditor's older copy need not)."""
    return _first(
        [
            _entries_check(entries, where, check_signatures),
            _rows_check(entries, where, live, using),
            _events_check(entries, where, using),
        ]
    )
