"""The canonical form of an audit event and its hash (see CHAIN.md, the reference text).

An event's hash is the lower-case hex SHA-256 of the UTF-8 bytes of this JSON object:

    {"action": str, "actor_id": int | null, "actor_name": str, "created_at": str,
     "data": object, "organization_id": int | null, "prev_hash": str, "request_id": str,
     "sequence": int, "target_id": str, "target_repr": str, "target_type": str}

serialised with keys sorted (at every depth, by Unicode code point), no whitespace
(separators "," and ":"), non-ASCII characters written as themselves (not \\u escapes), and
strings and numbers written as Python's ``json.dumps`` writes them. ``created_at`` is UTC in
ISO 8601 with microseconds and a ``Z``: ``2026-11-26T10:19:00.000000Z``. ``prev_hash`` is
the previous event's hash; the first event (sequence 1) has 64 zeros. The event's database
id is not part of it.

``data`` is normalised once, before the event is written (``normalise_data``), so that what
is hashed is exactly what every database gives back: a JSON round trip (tuples become lists,
keys become strings), no NaN or infinity, ``-0.0`` becomes ``0.0``, and floats of 1e16 or
more (which PostgreSQL's jsonb would give back as integers) become integers.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime

GENESIS_HASH = "0" * 64

# The hashed fields, in the order CHAIN.md lists them (serialisation sorts them anyway).
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


_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)
_FIELD_SET = frozenset(FIELDS)


def canonical_json(value) -> str:
    return _ENCODER.encode(value)


def format_timestamp(moment: datetime) -> str:
    """UTC, ISO 8601, microseconds, Z: the only timestamp form that is hashed."""
    if moment.tzinfo is None:
        raise ValueError("Audit timestamps must be timezone-aware.")
    if moment.utcoffset():
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _normalise(value):
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("Audit data cannot hold NaN or infinity.")
        if value == 0:
            return 0.0
        if abs(value) >= 1e16:
            return int(value)
        return value
    if isinstance(value, dict):
        return {key: _normalise(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_normalise(item) for item in value]
    return value


def normalise_data(data) -> dict:
    """``data`` as every database will give it back (see the module docstring)."""
    return _normalise(json.loads(json.dumps(data, allow_nan=False)))


def event_hash(fields: dict) -> str:
    """The hash of one event, given the twelve hashed fields (``created_at`` as text)."""
    if fields.keys() != _FIELD_SET:
        fields = {name: fields[name] for name in FIELDS}
    return hashlib.sha256(_ENCODER.encode(fields).encode("utf-8")).hexdigest()


def event_fields(
    *,
    sequence: int,
    created_at: datetime,
    actor_id: int | None,
    actor_name: str,
    organization_id: int | None,
    action: str,
    target_type: str,
    target_id: str,
    target_repr: str,
    data: dict,
    request_id: str,
    prev_hash: str,
) -> dict:
    """The hashed fields of an event as plain JSON values."""
    return {
        "sequence": sequence,
        "created_at": format_timestamp(created_at),
        "actor_id": actor_id,
        "actor_name": actor_name,
        "organization_id": organization_id,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "target_repr": target_repr,
        "data": data,
        "request_id": request_id,
        "prev_hash": prev_hash,
    }


# --- Hashing an event whose place in the chain is decided later (pg_chain.py) ----------
# In the canonical form, the top-level "prev_hash" and "sequence" members come after "data"
# and before the target's strings, and a JSON string never holds an unescaped quote: so the
# last ',"prev_hash":"",' and the last ',"sequence":0,' of a template are those members.
_PREV_SLOT = ',"prev_hash":"",'
_SEQUENCE_SLOT = ',"sequence":0,'


def event_hash_parts(fields: dict) -> tuple[str, str, str]:
    """The canonical JSON of an event cut around its open prev_hash and sequence: the hash
    is the SHA-256 of ``start + prev_hash + middle + str(sequence) + end``."""
    template = canonical_json({**fields, "sequence": 0, "prev_hash": ""})
    head, found, end = template.rpartition(_SEQUENCE_SLOT)
    start, found_prev, middle = head.rpartition(_PREV_SLOT)
    if not (found and found_prev):
        raise ValueError("Not an event's fields.")
    return start + ',"prev_hash":"', '",' + middle + ',"sequence":', "," + end


def parts_hash(parts: tuple[str, str, str], sequence: int, prev_hash: str) -> str:
    """``event_hash`` from ``event_hash_parts`` (pg_chain.py computes the same in SQL)."""
    start, middle, end = parts
    text = f"{start}{prev_hash}{middle}{sequence}{end}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
