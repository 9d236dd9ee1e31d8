"""The Merkle tree against RFC 6962's definition and the Certificate Transparency test
vectors (published roots, audit paths and consistency proofs of the same eight leaves), and
every inclusion and consistency proof of every tree up to 40 leaves against a direct
transcription of the RFC."""

import hashlib

import pytest

from governance.audit.merkle import (
    EMPTY_ROOT,
    Frontier,
    consistency_path,
    consistency_valid,
    inclusion_path,
    leaf_hash,
    node_hash,
    root_from_path,
    tree_root,
)

# The leaf data and tree heads of the Certificate Transparency reference tests.
CT_LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
             "606162636465666768696a6b6c6d6e6f"]  # fmt: skip
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (leaf index from 0, tree size, audit path)
CT_PATHS = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]  # fmt: skip


def rfc_root(leaves):
    """MTH(D[n]) of RFC 6962, 2.1, word for word."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)  # the largest power of two below n
    return node_hash(rfc_root(leaves[:k]), rfc_root(leaves[k:]))


def rfc_path(m, leaves):
    """PATH(m, D[n]) of RFC 6962, 2.1.1, word for word."""
    if len(leaves) == 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m < k:
        return [*rfc_path(m, leaves[:k]), rfc_root(leaves[k:])]
    return [*rfc_path(m - k, leaves[k:]), rfc_root(leaves[:k])]


def test_the_certificate_transparency_roots_and_paths():
    leaves = [leaf_hash(bytes.fromhex(data)) for data in CT_LEAVES]
    assert tree_root([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()
    for size in range(1, 9):
        assert tree_root(leaves[:size]).hex() == CT_ROOTS[size - 1]
    for index, size, path in CT_PATHS:
        assert [node.hex() for node in inclusion_path(leaves[:size], index)] == path
        found = root_from_path(leaves[index], index, size, [bytes.fromhex(p) for p in path])
        assert found.hex() == CT_ROOTS[size - 1]


def test_every_proof_of_every_tree_up_to_40_leaves():
    leaves = [leaf_hash(i.to_bytes(2, "big")) for i in range(40)]
    frontier = Frontier()
    for size in range(1, 41):
        frontier.append(leaves[size - 1])
        tree = leaves[:size]
        root = rfc_root(tree)
        assert frontier.root() == root == tree_root(tree)
        for index in range(size):
            path = inclusion_path(tree, index)
            assert path == rfc_path(index, tree)
            assert root_from_path(tree[index], index, size, path) == root
            # Any other leaf, index or size does not lead to the root.
            assert root_from_path(leaf_hash(b"x"), index, size, path) != root
            if size > 1:
                assert root_from_path(tree[index], (index + 1) % size, size, path) != root
            if path:
                assert root_from_path(tree[index], index, size, path[:-1]) != root


def test_a_frontier_round_trips_and_refuses_a_wrong_shape():
    frontier = Frontier()
    frontier.extend(leaf_hash(bytes([i])) for i in range(13))
    again = Frontier.from_json(13, frontier.to_json())
    assert again.root() == frontier.root() and len(again.nodes) == 3  # 13 = 8 + 4 + 1
    with pytest.raises(ValueError, match="13 leaves has 3 subtrees"):
        Frontier.from_json(13, frontier.to_json()[:2])


def test_a_bad_index_is_refused():
    with pytest.raises(IndexError):
        inclusion_path([leaf_hash(b"a")], 1)
    assert root_from_path(leaf_hash(b"a"), 1, 1, []) is None
    assert root_from_path(leaf_hash(b"a"), 0, 0, []) is None


# (old size, new size, consistency proof) of the Certificate Transparency reference tests.
CT_CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip


def rfc_subproof(m, leaves, complete=True):
    """SUBPROOF(m, D[n], b) of RFC 6962, 2.1.2, word for word, over all the leaves."""
    n = len(leaves)
    if m == n:
        return [] if complete else [rfc_root(leaves)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*rfc_subproof(m, leaves[:k], complete), rfc_root(leaves[k:])]
    return [*rfc_subproof(m - k, leaves[k:], False), rfc_root(leaves[:k])]


def frontier_of(leaves):
    frontier = Frontier()
    frontier.extend(leaves)
    return frontier


def test_the_certificate_transparency_consistency_proofs():
    leaves = [leaf_hash(bytes.fromhex(data)) for data in CT_LEAVES]
    for old, new, expected in CT_CONSISTENCY:
        path = consistency_path(frontier_of(leaves[:old]), leaves[old:new])
        assert [node.hex() for node in path] == expected
        old_root, new_root = (bytes.fromhex(CT_ROOTS[size - 1]) for size in (old, new))
        assert consistency_valid(old, new, old_root, new_root, path)


def test_every_consistency_proof_between_trees_up_to_40_leaves():
    """Built from the old tree's frontier and the new leaves only, equal to the RFC's proof
    over all the leaves, accepted by RFC 9162's verifier; any change is refused."""
    leaves = [leaf_hash(i.to_bytes(2, "big")) for i in range(40)]
    other = leaf_hash(b"rewritten")
    for new in range(1, 41):
        new_root = rfc_root(leaves[:new])
        for old in range(1, new + 1):
            old_root = rfc_root(leaves[:old])
            path = consistency_path(frontier_of(leaves[:old]), leaves[old:new])
            assert path == (rfc_subproof(old, leaves[:new]) if old < new else [])
            assert consistency_valid(old, new, old_root, new_root, path)
            # A rewritten old leaf gives another old root; the proof does not join them.
            for index in {0, old - 1}:
                changed = [*leaves[:index], other, *leaves[index + 1 : new]]
                assert not consistency_valid(old, new, rfc_root(changed[:old]), new_root, path)
            if old < new:
                assert not consistency_valid(old, new, old_root, rfc_root(leaves[:old]), path)
                assert not consistency_valid(old, new, old_root, new_root, path[:-1])
                bad = [*path[:-1], node_hash(path[-1], path[-1])]
                assert not consistency_valid(old, new, old_root, new_root, bad)
