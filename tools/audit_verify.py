#!/usr/bin/env python3
"""Verify an exported Imprimatur audit log without Imprimatur: standard library only.

    python tools/audit_verify.py audit.jsonl [--checkpoints checkpoints.json]
    python tools/audit_verify.py --proof proof.json

The file is what ``manage.py audit_export --format jsonl`` writes: one event a line. Each
event's hash is recomputed from the rules in governance/audit/CHAIN.md (SHA-256 of the
UTF-8, key-sorted, whitespace-free JSON of the twelve hashed fields), each ``prev_hash``
must be the hash of the line before, and sequence numbers must rise by one. A file that
starts at sequence 1 must start from the genesis hash (64 zeros); a slice (``--since``)
is checked from its first line on, and its link to the event before is not.

With ``--checkpoints`` (``manage.py audit_checkpoints``) every checkpoint inside the file's
range must name the hash the file has, and the last one must not lie beyond the file's end
(else: truncated), and, for a file that starts at sequence 1, the Merkle tree root a
checkpoint signed (``tree_root``) must be the root of the file's events up to it. Checking
the checkpoints' Ed25519 signatures needs ``cryptography``: when it is importable they are
checked; when not, the script says the signatures were NOT checked.

``--checkpoints`` also takes the signed checkpoints as auditors download them from the
witness (JSON Lines, ``imprimatur-audit-witness/1``; ``--public-key PEM`` for their
signatures): then each entry's RFC 6962 consistency proof from the entry before must verify
(RFC 9162, section 2.1.4.2: the witnessed checkpoints are one append-only history), and an
event of the file that is not the one an entry's event hashes name is reported at its
sequence (``differs from witness``).

With ``--proof`` it checks an inclusion proof of one event (``manage.py audit_proof``, or the
event's page in the audit browser): the event's hash is recomputed from its fields, its
audit path must lead to the signed tree root (RFC 6962 hashing: a leaf is SHA-256 of 0x00
and the event hash's 32 bytes, a node SHA-256 of 0x01, left and right; the path is checked
as RFC 9162, section 2.1.3.2), and the checkpoint's signature must verify. Compare the
printed key id with the one the platform published.

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


# The Merkle hashing of governance/audit/merkle.py, repeated here so that this file runs on
# its own; tests/governance/audit/test_export.py checks proofs made by one with the other.
def leaf_hash(event_hash_hex: str) -> bytes:
    return hashlib.sha256(b"\x00" + bytes.fromhex(event_hash_hex)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class Tree:
    """The Merkle tree of the events read so far, as the roots of its perfect subtrees."""

    def __init__(self):
        self.size, self.nodes = 0, []

    def append(self, leaf: bytes) -> None:
        self.nodes.append(leaf)
        carry = self.size
        while carry & 1:
            right = self.nodes.pop()
            self.nodes.append(node_hash(self.nodes.pop(), right))
            carry >>= 1
        self.size += 1

    def root_hex(self) -> str:
        root = self.nodes[-1] if self.nodes else hashlib.sha256(b"").digest()
        for node in reversed(self.nodes[:-1]):
            root = node_hash(node, root)
        return root.hex()


def root_from_path(leaf: bytes, index: int, size: int, path: list) -> bytes | None:
    """RFC 9162, 2.1.3.2: the root an audit path leads to; None if it cannot fit the tree."""
    if not 0 <= index < size:
        return None
    position, last, root = index, size - 1, leaf
    for node in path:
        if last == 0:
            return None
        if position & 1 or position == last:
            root = node_hash(node, root)
            if not position & 1:
                while position and not position & 1:
                    position >>= 1
                    last >>= 1
        else:
            root = node_hash(root, node)
        position >>= 1
        last >>= 1
    return root if last == 0 else None


class Broken(Exception):
    def __init__(self, sequence, reason: str, detail: str):
        super().__init__(f"broken at {sequence}: {reason} ({detail})")


def verify_file(path: str, wanted: set[int]):
    """(first sequence, last sequence, {sequence: hash} and {sequence: tree root} for the
    ``wanted`` sequences; tree roots only when the file starts at sequence 1)."""
    first = last = None
    prev_hash = None
    found: dict[int, str] = {}
    roots: dict[int, str] = {}
    tree = Tree()
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
            if first == 1:
                tree.append(leaf_hash(stored))
            if sequence in wanted:
                found[sequence] = stored
                if first == 1:
                    roots[sequence] = tree.root_hex()
            prev_hash, last = stored, sequence
    return first, last, found, roots


SIGNED = ("created_at", "hash", "key_id", "sequence", "tree_root")


def check_signatures(public_key_pem: str, checkpoints: list) -> str:
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.serialization import load_pem_public_key
    except ImportError:
        return "checkpoint signatures NOT checked (install 'cryptography' to check them)"
    public_key = load_pem_public_key(public_key_pem.encode())
    for checkpoint in checkpoints:
        # Checkpoints signed before the Merkle tree have no tree_root and sign four fields.
        signed = {name: checkpoint[name] for name in SIGNED if checkpoint.get(name)}
        message = canonical_json(signed).encode("utf-8")
        try:
            public_key.verify(base64.b64decode(checkpoint["signature"]), message)
        except (InvalidSignature, ValueError):
            raise Broken(checkpoint["sequence"], "bad signature", "checkpoint") from None
    return f"{len(checkpoints)} checkpoint signatures valid (Ed25519)"


def verify_proof(path: str) -> str:
    """Check an inclusion proof; what it proves, or Broken."""
    with open(path, encoding="utf-8") as stream:
        proof = json.load(stream)
    try:
        event, checkpoint = proof["event"], proof["checkpoint"]
        sequence, index, size = event["sequence"], proof["leaf_index"], proof["tree_size"]
        if event_hash(event) != event["hash"]:
            raise Broken(sequence, "changed", "the event's hash is not the hash of its fields")
        if index != sequence - 1 or size != checkpoint["sequence"]:
            raise Broken(sequence, "bad proof", "leaf index or tree size do not fit")
        nodes = [bytes.fromhex(node) for node in proof["audit_path"]]
        root = root_from_path(leaf_hash(event["hash"]), index, size, nodes)
        if root is None or root.hex() != checkpoint.get("tree_root"):
            raise Broken(sequence, "not included", "the audit path does not lead to the root")
        signatures = check_signatures(proof["public_key"], [checkpoint])
    except (KeyError, TypeError, ValueError) as error:
        raise Broken("?", "unreadable", f"{path}: {error}") from None
    key_id = checkpoint.get("key_id", "")
    return (
        f"event {sequence} is included in the log of {size} events signed at "
        f"{checkpoint['created_at']} (tree root {checkpoint['tree_root'][:16]}…, key id "
        f"{key_id}); {signatures}"
    )


def consistency_valid(first: int, second: int, first_hash: bytes, second_hash: bytes, path):
    """RFC 9162, 2.1.4.2 (the same as governance/audit/merkle.py, written again here)."""
    if first == second:
        return not path and first_hash == second_hash
    if not 0 < first < second or not path:
        return False
    path = list(path)
    if first & (first - 1) == 0:
        path.insert(0, first_hash)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for node in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(node, fr), node_hash(node, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, node)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_hash and sr == second_hash


WITNESS_FORMAT = "imprimatur-audit-witness/1"


def read_checkpoints(path: str, public_key_path: str | None) -> dict:
    """The audit_checkpoints JSON document, or the witness's JSON Lines made into one (its
    entries checked for consistency, their event hashes kept as ``witnessed``)."""
    with open(path, encoding="utf-8") as stream:
        text = stream.read()
    try:
        document = json.loads(text)
    except ValueError:  # more than one line of JSON
        document = None
    if isinstance(document, dict) and "checkpoints" in document:
        return document
    entries = [json.loads(line) for line in text.splitlines() if line.strip()]
    witnessed: dict[int, str] = {}
    before = None
    for entry in entries:
        if entry.get("format") != WITNESS_FORMAT:
            raise Broken("?", "unreadable", f"{path}: not {WITNESS_FORMAT} entries")
        previous = entry.get("previous") or {"sequence": 0}
        start = previous["sequence"]
        for offset, hash_hex in enumerate(entry.get("hashes") or [], start=start + 1):
            witnessed[offset] = hash_hex
        if before is not None:
            proof = [bytes.fromhex(node) for node in entry.get("consistency") or []]
            if previous != {
                "sequence": before["sequence"],
                "tree_root": before["tree_root"],
            } or not consistency_valid(
                before["sequence"],
                entry["sequence"],
                bytes.fromhex(before["tree_root"]),
                bytes.fromhex(entry["tree_root"]),
                proof,
            ):
                raise Broken(entry["sequence"], "witness inconsistent", "consistency proof")
        before = entry
    public_key = None
    if public_key_path:
        with open(public_key_path, encoding="utf-8") as stream:
            public_key = stream.read()
    return {"checkpoints": entries, "public_key": public_key, "witnessed": witnessed}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("events", nargs="?", help="JSON Lines from manage.py audit_export")
    parser.add_argument("--checkpoints", help="JSON from manage.py audit_checkpoints")
    parser.add_argument("--public-key", help="PEM public key for a JSON Lines --checkpoints")
    parser.add_argument("--proof", help="an inclusion proof from manage.py audit_proof")
    args = parser.parse_args(argv)
    if args.proof:
        if args.events or args.checkpoints:
            parser.error("--proof is checked on its own")
        try:
            print(verify_proof(args.proof))
        except OSError as error:
            print(f"cannot read: {error}", file=sys.stderr)
            return 2
        except Broken as broken:
            print(broken)
            return 1
        return 0
    if not args.events:
        parser.error("give an exported events file, or --proof")
    try:
        document = None
        if args.checkpoints:
            document = read_checkpoints(args.checkpoints, args.public_key)
        checkpoints = document["checkpoints"] if document else []
        witnessed = document.get("witnessed", {}) if document else {}
        wanted = {c["sequence"] for c in checkpoints} | set(witnessed)
        first, last, found, roots = verify_file(args.events, wanted)
        notes = []
        for sequence in sorted(witnessed):
            if sequence in found and found[sequence] != witnessed[sequence]:
                raise Broken(sequence, "differs from witness", "another event was signed")
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
                signed_root = checkpoint.get("tree_root")
                if signed_root and sequence in roots and roots[sequence] != signed_root:
                    raise Broken(sequence, "tree root mismatch", "another tree root was signed")
            if document["public_key"]:
                notes.append(check_signatures(document["public_key"], checkpoints))
            else:
                notes.append("checkpoint signatures NOT checked (give --public-key)")
            if witnessed:
                notes.append("witness consistency proofs valid")
            if first == 1 and any(c.get("tree_root") for c in checkpoints):
                notes.append("tree roots match")
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
