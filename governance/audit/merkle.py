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


# --- Consistency proofs (RFC 6962, 2.1.2; verified as RFC 9162, 2.1.4.2) -----------------
# A consistency proof between the tree of ``old`` leaves and the tree of ``new`` leaves
# proves the first is a prefix of the second: nothing among the first ``old`` events was
# changed between the two checkpoints that signed their roots.


def _largest_power_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def _subproof(m: int, start: int, end: int, complete: bool, node) -> list[bytes]:
    """SUBPROOF(m, D[start:end], complete) of RFC 6962, 2.1.2; ``node(a, b)`` is the root of
    the subtree of leaves a..b-1."""
    n = end - start
    if m == n:
        return [] if complete else [node(start, end)]
    k = _largest_power_below(n)
    if m <= k:
        return [*_subproof(m, start, start + k, complete, node), node(start + k, end)]
    return [*_subproof(m - k, start + k, end, False, node), node(start, start + k)]


def consistency_path(old: Frontier, new_leaves: Sequence[bytes]) -> list[bytes]:
    """The proof that the tree of ``old.size`` leaves (given by its frontier) is a prefix of
    that tree with ``new_leaves`` appended. Every node the proof takes from the old part is
    one of the old tree's perfect subtrees, i.e. one of its frontier's nodes, so the old
    leaves are not needed. Empty when either tree is."""
    m, n = old.size, old.size + len(new_leaves)
    if m == 0 or m == n:
        return []
    kept, start = {}, 0
    for bit, node_value in zip(
        (1 << b for b in reversed(range(m.bit_length())) if m >> b & 1), old.nodes, strict=True
    ):
        kept[(start, start + bit)] = node_value
        start += bit

    def node(a: int, b: int) -> bytes:
        if (a, b) in kept:
            return kept[(a, b)]
        if a >= m:
            return tree_root(new_leaves[a - m : b - m])
        raise AssertionError(f"A consistency proof never needs leaves {a}..{b - 1}.")

    return _subproof(m, 0, n, True, node)


def consistency_valid(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, path: Sequence[bytes]
) -> bool:
    """RFC 9162, 2.1.4.2: whether ``path`` proves the tree of ``old_size`` leaves with root
    ``old_root`` is a prefix of the tree of ``new_size`` leaves with root ``new_root``."""
    if old_size == new_size:
        return not path and old_root == new_root
    if not 0 < old_size < new_size or not path:
        return old_size == 0 and not path  # the empty tree is a prefix of every tree
    path = list(path)
    if old_size & (old_size - 1) == 0:  # an exact power of two: the old root is a node
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    first = second = path[0]
    for node in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            first = node_hash(node, first)
            second = node_hash(node, second)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            second = node_hash(second, node)
        fn >>= 1
        sn >>= 1
    return sn == 0 and first == old_root and second == new_root
