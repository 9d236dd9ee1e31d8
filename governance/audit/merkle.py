"""A Merkle tree over the audit events, as RFC 6962 (section 2.1) defines it, for proofs
that one event is in the signed log without showing any other event.

Leaves are the events in sequence order; a leaf's data is the 32 bytes of the event's hash
(``chain.event_hash``, which covers every field). Hashes are SHA-256 with domain
separation: a leaf is ``SHA-256(0x00 || data)``, an inner node ``SHA-256(0x01 || left ||
right)``, and the tree of ``n`` leaves splits at the largest power of two below ``n``.
Checkpoints sign the root of the tree of events 1..sequence (``tree_root``).

``Frontier`` keeps the roots of the perfect subtrees a log of ``size`` leaves is made of
(one per set bit of ``size``), so a new checkpoint costs the events since the last one, not
the whole log. Inclusion proofs are RFC 6962's audit paths, verified by the algorithm of
RFC 9162, section 2.1.3.2. Standard library only; tools/audit_verify.py verifies the same
way on its own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def event_leaf(event_hash_hex: str) -> bytes:
    """The leaf of an event: its 32-byte hash as the leaf data."""
    return leaf_hash(bytes.fromhex(event_hash_hex))


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


class Frontier:
    """The roots of the perfect subtrees of a tree of ``size`` leaves, largest first."""

    def __init__(self, size: int = 0, nodes: Sequence[bytes] = ()) -> None:
        if len(nodes) != size.bit_count():
            raise ValueError(f"A tree of {size} leaves has {size.bit_count()} subtrees.")
        self.size = size
        self.nodes = list(nodes)

    def append(self, leaf: bytes) -> None:
        self.nodes.append(leaf)
        carry = self.size
        while carry & 1:  # two equal subtrees become one
            right = self.nodes.pop()
            self.nodes.append(node_hash(self.nodes.pop(), right))
            carry >>= 1
        self.size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        if not self.nodes:
            return EMPTY_ROOT
        root = self.nodes[-1]
        for node in reversed(self.nodes[:-1]):
            root = node_hash(node, root)
        return root

    def to_json(self) -> list[str]:
        return [node.hex() for node in self.nodes]

    @classmethod
    def from_json(cls, size: int, nodes: Sequence[str]) -> Frontier:
        return cls(size, [bytes.fromhex(node) for node in nodes])


def tree_root(leaves: Iterable[bytes]) -> bytes:
    frontier = Frontier()
    frontier.extend(leaves)
    return frontier.root()


def inclusion_path(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path of leaf ``index`` (from 0) in the tree of ``leaves``, bottom up.

    Level by level: a node's sibling joins the path; a last node without one is carried up
    unchanged, which gives RFC 6962's tree (it splits at the largest power of two)."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"Leaf {index} is not in a tree of {len(leaves)} leaves.")
    path = []
    level = list(leaves)
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        level = [
            node_hash(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
            for i in range(0, len(level), 2)
        ]
        index >>= 1
    return path


def root_from_path(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes | None:
    """The root that ``path`` leads to from ``leaf`` at ``index`` in a tree of ``size``
    leaves (RFC 9162, 2.1.3.2); None when the path cannot belong to such a tree."""
    if not 0 <= index < size:
        return None
    position, last, root = index, size - 1, leaf
    for node in path:
        if last == 0:
            return None  # a longer path than the tree is high
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
