#!/usr/bin/env python3
"""Verify an exported Imprimatur audit log without Imprimatur: standard library only.

    python tools/audit_verify.py audit.jsonl [--checkpoints checkpoints.json]

The file is what ``manage.py audit_export --format jsonl`` writes: one event a line. Each
event's hash is recomputed from the rules in governance/audit/CHAIN.md (SHA-256 of the
UTF-8, key-sorted, whitespace-free JSON of the twelve hashed fields), each ``prev_hash``
must be the hash of the line before, and sequence numbers must rise by one. A file that
starts at sequence 1 must start from the genesis hash (64 zeros); a slice (``--since``)
is checked from its first line on, and its link to the event before is not.

With ``--checkpoints`` (``manage.py audit_checkpoints``) every checkpoint inside the file's
range must name the hash the file has, and the last one must not lie beyond the file's end
(else: truncated). Checking the checkpoints' Ed25519 signatures needs ``cryptography``: when
it is importable they are checked; when not, the script says the signatures were NOT checked.

Exit status: 0 intact, 1 broken, 2 unreadable input.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys

GENESIS_HASH = "0" * 64
FIELDS = (
    "sequence",
    "created_at",
    "actor_id",
    "actor_name",
    "organization_id",
    "action",
    "target_type",
    "target_id",
    "target_repr",
    "data",
    "request_id",
    "prev_hash",
)


def canonical_json(value) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def event_hash(event: dict) -> str:
    payload = {name: event[name] for name in FIELDS}
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


class Broken(Exception):
    def __init__(self, sequence, reason: str, detail: str):
        super().__init__(f"broken at {sequence}: {reason} ({detail})")


def verify_file(path: str, wanted: set[int]) -> tuple[int | None, int | None, dict[int, str]]:
    """(first sequence, last sequence, {sequence: hash} for the ``wanted`` sequences)."""
    first = last = None
    prev_hash = None
    found: dict[int, str] = {}
    with open(path, encoding="utf-8") as stream:
        for number, line in enumerate(stream, start=1):
            try:
                event = json.loads(line)
                stored = event["hash"]
                sequence = event["sequence"]
                computed = event_hash(event)
            except (ValueError, KeyError, TypeError) as error:
                expected = "?" if last is None else last + 1
                raise Broken(expected, "unreadable", f"line {number}: {error}") from None
            if last is None:
                first = sequence
                if sequence == 1 and event["prev_hash"] != GENESIS_HASH:
                    raise Broken(1, "broken link", "the first event must follow the genesis hash")
            elif sequence != last + 1:
                raise Broken(last + 1, "missing", f"line {number} holds {sequence}")
            if computed != stored:
                raise Broken(sequence, "changed", f"line {number}: the hash does not match")
            if prev_hash is not None and event["prev_hash"] != prev_hash:
                raise Broken(sequence, "broken link", f"line {number}: prev_hash mismatch")
            if sequence in wanted:
                found[sequence] = stored
            prev_hash, last = stored, sequence
    return first, last, found


def check_signatures(document: dict) -> str:
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.serialization import load_pem_public_key
    except ImportError:
        return "checkpoint signatures NOT checked (install 'cryptography' to check them)"
    public_key = load_pem_public_key(document["public_key"].encode())
    for checkpoint in document["checkpoints"]:
        message = canonical_json(
            {name: checkpoint[name] for name in ("created_at", "hash", "key_id", "sequence")}
        ).encode("utf-8")
        try:
            public_key.verify(base64.b64decode(checkpoint["signature"]), message)
        except (InvalidSignature, ValueError):
            raise Broken(checkpoint["sequence"], "bad signature", "checkpoint") from None
    return f"{len(document['checkpoints'])} checkpoint signatures valid (Ed25519)"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("events", help="JSON Lines from manage.py audit_export")
    parser.add_argument("--checkpoints", help="JSON from manage.py audit_checkpoints")
    args = parser.parse_args(argv)
    try:
        document = None
        if args.checkpoints:
            with open(args.checkpoints, encoding="utf-8") as stream:
                document = json.load(stream)
        checkpoints = document["checkpoints"] if document else []
        first, last, found = verify_file(args.events, {c["sequence"] for c in checkpoints})
        notes = []
        if document:
            for checkpoint in checkpoints:
                sequence = checkpoint["sequence"]
                if last is None or sequence > last:
                    raise Broken(
                        (last or 0) + 1,
                        "truncated",
                        f"a checkpoint names event {sequence}, the file ends at {last}",
                    )
                if sequence in found and found[sequence] != checkpoint["hash"]:
                    raise Broken(sequence, "checkpoint mismatch", "another hash was signed")
            notes.append(check_signatures(document))
        else:
            notes.append("no checkpoints given: chain only")
    except OSError as error:
        print(f"cannot read: {error}", file=sys.stderr)
        return 2
    except Broken as broken:
        print(broken)
        return 1
    if last is None:
        print("empty file: nothing to verify; " + "; ".join(notes))
    else:
        print(f"intact: events {first} to {last}; " + "; ".join(notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
