"""The chain's head and the lock that guards it: what appending (services.py) and signing a
checkpoint (proofs.py) both need, so that neither imports the other.

``CHAIN_LOCK`` is the key of the PostgreSQL transaction-level advisory lock that serialises
appends (CHAIN.md, pg_chain.py); on SQLite ``BEGIN IMMEDIATE`` already serialises writers
and the helpers below do nothing there.
"""

from django.db import connections

from governance.audit.chain import GENESIS_HASH

# The key of pg_advisory_xact_lock that serialises appends ("IMPRAUDT" as an integer).
CHAIN_LOCK = int.from_bytes(b"IMPRAUDT", "big") - 2**63
# The session-level advisory lock held by the one sealer allowed to wait for CHAIN_LOCK.
SEAL_WAITER = CHAIN_LOCK + 1


def lock_chain(using: str) -> None:
    """Wait for the chain lock, held to the end of the current transaction."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK])


def chain_pending(using: str) -> int:
    """Chain the pending events this transaction sees (the lock is held); how many."""
    if connections[using].vendor != "postgresql":
        return 0
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT chained FROM audit_chain_pending()")
        return cursor.fetchone()[0]


def chain_head(using: str = "default") -> tuple[int, str]:
    """(sequence, hash) of the last event; (0, 64 zeros) for an empty log."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT sequence, hash FROM audit_auditevent ORDER BY sequence DESC LIMIT 1")
        head = cursor.fetchone()
    return tuple(head) if head else (0, GENESIS_HASH)
