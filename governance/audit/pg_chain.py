"""The chain's serial section on PostgreSQL, as three SQL functions (installed by migration
0005): appending costs one round trip, and chaining needs no client in the loop.

``audit_append(fields…, hash parts…, lock)`` tries the chain lock ``lock``. Free: it takes
it (until the caller's transaction ends), chains the pending events it sees, then appends
its own event and returns its (sequence, prev_hash, hash). Taken: it writes the event to
``audit_auditpending`` and returns NULLs.

``audit_chain_pending()`` (the caller holds the lock) moves the pending events it sees into
the chain in id order and returns how many, and the new head. Each gets the next
sequence, the previous hash, and the SHA-256 of its canonical JSON assembled from the three
parts the writer serialised (``chain.event_hash_parts``):
``start || prev_hash || middle || sequence || end``. That is byte for byte the text
``chain.event_hash`` hashes; ``audit_verify`` recomputes every hash from the stored fields
in Python, so a difference could not go unnoticed.

``audit_seal_after_commit(lock, waiter)`` runs after a commit that left an event pending:
if no other session waits to seal (session lock ``waiter``), it waits for the chain, gives
the waiting place up, and chains. A session that finds the place taken may leave: the
waiter has not yet started, so its chaining will see that commit.
"""

FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION audit_chain_pending(
    OUT chained bigint, OUT head_sequence bigint, OUT head_hash text)
LANGUAGE plpgsql AS $$
DECLARE
    pending record;
BEGIN
    chained := 0;
    SELECT e.sequence, e.hash INTO head_sequence, head_hash
        FROM audit_auditevent e ORDER BY e.sequence DESC LIMIT 1;
    IF NOT FOUND THEN
        head_sequence := 0;
        head_hash := repeat('0', 64);
    END IF;
    FOR pending IN SELECT * FROM audit_auditpending ORDER BY id LOOP
        INSERT INTO audit_auditevent (
            created_at, actor_id, actor_name, organization_id, action, target_type,
            target_id, target_repr, data, request_id, sequence, prev_hash, hash)
        VALUES (
            pending.created_at, pending.actor_id, pending.actor_name,
            pending.organization_id, pending.action, pending.target_type, pending.target_id,
            pending.target_repr, pending.data, pending.request_id, head_sequence + 1,
            head_hash,
            encode(sha256(convert_to(pending.hash_start || head_hash || pending.hash_middle
                || (head_sequence + 1)::text || pending.hash_end, 'UTF8')), 'hex'))
        RETURNING sequence, hash INTO head_sequence, head_hash;
        DELETE FROM audit_auditpending WHERE id = pending.id;
        chained := chained + 1;
    END LOOP;
END;
$$;

CREATE OR REPLACE FUNCTION audit_append(
    p_created_at timestamptz, p_actor_id bigint, p_actor_name text, p_organization_id bigint,
    p_action text, p_target_type text, p_target_id text, p_target_repr text, p_data jsonb,
    p_request_id text, p_hash_start text, p_hash_middle text, p_hash_end text, p_lock bigint,
    OUT out_sequence bigint, OUT out_prev_hash text, OUT out_hash text)
LANGUAGE plpgsql AS $$
DECLARE
    head record;
BEGIN
    IF NOT pg_try_advisory_xact_lock(p_lock) THEN
        -- Another transaction holds the chain: pending, chained after this one commits.
        INSERT INTO audit_auditpending (
            created_at, actor_id, actor_name, organization_id, action, target_type,
            target_id, target_repr, data, request_id, hash_start, hash_middle, hash_end)
        VALUES (
            p_created_at, p_actor_id, p_actor_name, p_organization_id, p_action,
            p_target_type, p_target_id, p_target_repr, p_data, p_request_id, p_hash_start,
            p_hash_middle, p_hash_end);
        RETURN;
    END IF;
    head := audit_chain_pending();  -- those committed before this one come first
    out_sequence := head.head_sequence + 1;
    out_prev_hash := head.head_hash;
    out_hash := encode(sha256(convert_to(p_hash_start || out_prev_hash || p_hash_middle
        || out_sequence::text || p_hash_end, 'UTF8')), 'hex');
    INSERT INTO audit_auditevent (
        created_at, actor_id, actor_name, organization_id, action, target_type, target_id,
        target_repr, data, request_id, sequence, prev_hash, hash)
    VALUES (
        p_created_at, p_actor_id, p_actor_name, p_organization_id, p_action, p_target_type,
        p_target_id, p_target_repr, p_data, p_request_id, out_sequence, out_prev_hash,
        out_hash);
END;
$$;

CREATE OR REPLACE FUNCTION audit_seal_after_commit(p_lock bigint, p_waiter bigint)
RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT pg_try_advisory_lock(p_waiter) THEN
        RETURN 0;  -- a waiting sealer will see this commit
    END IF;
    BEGIN
        PERFORM pg_advisory_xact_lock(p_lock);
        PERFORM pg_advisory_unlock(p_waiter);
    EXCEPTION WHEN OTHERS THEN
        PERFORM pg_advisory_unlock(p_waiter);
        RAISE;
    END;
    RETURN (audit_chain_pending()).chained;
END;
$$;
"""

DROP = """
DROP FUNCTION IF EXISTS audit_seal_after_commit(bigint, bigint);
DROP FUNCTION IF EXISTS audit_append(timestamptz, bigint, text, bigint, text, text, text, text,
    jsonb, text, text, text, text, bigint);
DROP FUNCTION IF EXISTS audit_chain_pending();
"""


def install(connection) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(FUNCTIONS)


def remove(connection) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(DROP)
