"""The platform's audit key (Ed25519) and checkpoint signatures.

The key is made once, on first use, at ``settings.IMPRIMATUR_AUDIT_KEY`` (PEM, PKCS#8,
unencrypted, mode 0600). A checkpoint's signed message is the canonical JSON (``chain.py``)
of ``{"created_at", "hash", "key_id", "sequence", "tree_root"}`` (``tree_root``: the Merkle
root of events 1..sequence, merkle.py; checkpoints signed before the tree existed have no
``tree_root`` and sign the other four); ``key_id`` is the hex SHA-256 of the raw 32-byte
public key.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from django.conf import settings

from governance.audit.chain import canonical_json, format_timestamp

# /2: checkpoints carry tree_root (in their signed message) where they have one.
EXPORT_FORMAT = "imprimatur-audit-checkpoints/2"


@dataclass(frozen=True)
class AuditKey:
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def key_id(self) -> str:
        return public_key_id(self.public_key)

    def public_pem(self) -> str:
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()


def public_key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def _create_key(path: Path) -> None:
    """Write a new key to ``path`` unless one is there; atomic, so two processes agree."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".audit_key.")
    try:
        os.fchmod(descriptor, 0o600)
        os.write(descriptor, pem)
        os.fsync(descriptor)
        os.close(descriptor)
        with contextlib.suppress(FileExistsError):  # another process made the key first
            os.link(temporary, path)
    finally:
        os.unlink(temporary)


def load_or_create_key(path: str | Path | None = None) -> AuditKey:
    path = Path(path or settings.IMPRIMATUR_AUDIT_KEY)
    if not path.exists():
        _create_key(path)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key.")
    return AuditKey(key)


def checkpoint_signed_fields(checkpoint) -> dict:
    """What a checkpoint's signature covers, as JSON values."""
    fields = {
        "created_at": format_timestamp(checkpoint.created_at),
        "hash": checkpoint.hash,
        "key_id": checkpoint.key_id,
        "sequence": checkpoint.sequence,
    }
    if checkpoint.tree_root:
        fields["tree_root"] = checkpoint.tree_root
    return fields


def checkpoint_message(checkpoint) -> bytes:
    return canonical_json(checkpoint_signed_fields(checkpoint)).encode("utf-8")


def sign(key: AuditKey, message: bytes) -> str:
    return base64.b64encode(key.private_key.sign(message)).decode("ascii")


def signature_valid(public_key: Ed25519PublicKey, message: bytes, signature: str) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        public_key.verify(base64.b64decode(signature), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def checkpoints_export(checkpoints, key: AuditKey | None = None) -> dict:
    """Checkpoints as a JSON document with the public key that verifies them."""
    key = key or load_or_create_key()
    return {
        "format": EXPORT_FORMAT,
        "algorithm": "Ed25519",
        "key_id": key.key_id,
        "public_key": key.public_pem(),
        "signed_message": "canonical JSON of {created_at, hash, key_id, sequence, tree_root} "
        "(without tree_root where a checkpoint has none)",
        "checkpoints": [
            checkpoint_signed_fields(checkpoint) | {"signature": checkpoint.signature}
            for checkpoint in checkpoints
        ],
    }
