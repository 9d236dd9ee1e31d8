"""Check an exported audit log (JSON Lines) on this machine, without trusting the server's
word: the rules of the server's governance/audit/CHAIN.md, standard library only.

Each event's ``hash`` is recomputed (SHA-256 of the key-sorted, whitespace-free UTF-8 JSON of
its twelve hashed fields); where two events follow each other (sequence n, n + 1) the second
must name the first's hash as ``prev_hash``; a file starting at sequence 1 must start from
the genesis hash. An auditor's export holds their organisations' events only, so the
sequence may skip other organisations' events: those links cannot be checked from the file
and are counted as ``gaps`` (``strict`` makes a gap a failure: a whole-chain export has
none). The signed checkpoints are checked by ``imprimatur audit verify`` without a file,
on the server, or with tools/audit_verify.py.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

GENESIS_HASH = "0" * 64
FIELDS = ("sequence", "created_at", "actor_id", "actor_name", "organization_id", "action",
          "target_type", "target_id", "target_repr", "data", "request_id", "prev_hash")  # fmt: skip


def event_hash(event: dict) -> str:
    payload = {name: event[name] for name in FIELDS}
    text = json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainCheck:
    intact: bool
    checked: int  # events whose hash was recomputed
    first_sequence: int | None
    last_sequence: int | None
    gaps: int  # places where the file skips events (not its own organisations')
    broken_sequence: int | None = None
    reason: str = ""

    def __str__(self) -> str:
        if not self.intact:
            return f"broken at {self.broken_sequence}: {self.reason}"
        if not self.checked:
            return "empty: no events to check"
        skipped = f", {self.gaps} gaps of events not in the file" if self.gaps else ""
        return (
            f"intact: {self.checked} events, sequence {self.first_sequence} to "
            f"{self.last_sequence}{skipped}"
        )


def check_export(path: Path, *, strict: bool = False) -> ChainCheck:
    """Check a JSON Lines export; ValueError when the file is not one."""
    first = previous = None
    previous_hash = ""
    checked = gaps = 0

    def broken(sequence, reason: str) -> ChainCheck:
        return ChainCheck(False, checked, first, previous, gaps, sequence, reason)

    with open(path, encoding="utf-8") as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
                sequence, stored = event["sequence"], event["hash"]
                computed = event_hash(event)
            except (ValueError, KeyError, TypeError) as error:
                raise ValueError(f"line {number} is not an exported audit event: {error}") from None
            if computed != stored:
                return broken(sequence, f"its hash is {computed}, the file says {stored}")
            if previous is None:
                first = sequence
                if sequence == 1 and event["prev_hash"] != GENESIS_HASH:
                    return broken(sequence, "the first event does not start from genesis")
            elif sequence <= previous:
                return broken(sequence, f"sequence {sequence} after {previous}")
            elif sequence == previous + 1:
                if event["prev_hash"] != previous_hash:
                    return broken(sequence, f"prev_hash is not the hash of event {previous}")
            else:
                gaps += 1
                if strict:
                    return broken(sequence, f"events {previous + 1} to {sequence - 1} missing")
            previous, previous_hash = sequence, stored
            checked += 1
    return ChainCheck(True, checked, first, previous, gaps)
