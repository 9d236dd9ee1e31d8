"""The four rewrites an outside probe (issue 17) made without being noticed, each now found,
and the window that remains. Someone with the database's owner rights drops the append-only
triggers and edits rows; the signing key and the witness (a file here) are out of reach.

Checkpoints come every 10 events in these tests (IMPRIMATUR_AUDIT_CHECKPOINT_EVENTS), so 25
events get checkpoints at 10 and 20, signed after the commits that reach them."""

import pytest
from django.db import DatabaseError, connection, transaction

from governance.audit.chain import event_hash
from governance.audit.models import AuditCheckpoint, AuditEvent
from governance.audit.services import audit_flush, audit_record
from governance.audit.tasks import audit_checkpoint_task
from governance.audit.verify import audit_verify
from tests.governance.audit.test_chain import Unguarded

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def frequent_checkpoints(settings, tmp_path):
    settings.IMPRIMATUR_AUDIT_KEY = str(tmp_path / "keys" / "audit_key.pem")
    settings.IMPRIMATUR_AUDIT_WITNESS = str(tmp_path / "witness" / "checkpoints.jsonl")
    settings.IMPRIMATUR_AUDIT_CHECKPOINT_EVENTS = 10


def record(count: int) -> None:
    """``count`` events, each committed on its own, as separate user actions would be."""
    for index in range(count):
        audit_record(action="tenancy.project.update", data={"n": index})
        # What the commit asked of the background thread (chaining, a checkpoint) has run:
        # in a quiet system the checkpoint is then exactly at each tenth event.
        assert audit_flush()


def rewrite_from(sequence: int, **changes) -> None:
    """Edit event ``sequence`` and recompute its hash and every later one as CHAIN.md says:
    the chain verifies on its own afterwards."""
    prev_hash = AuditEvent.objects.get(sequence=sequence).prev_hash
    events = list(AuditEvent.objects.filter(sequence__gte=sequence).order_by("sequence"))
    with Unguarded() as cursor:
        for event in events:
            fields = event.hashed_fields() | {"prev_hash": prev_hash}
            if event.sequence == sequence:
                fields |= changes
            new_hash = event_hash(fields)
            cursor.execute(
                "UPDATE audit_auditevent SET target_repr = %s, prev_hash = %s, hash = %s "
                "WHERE sequence = %s",
                [fields["target_repr"], prev_hash, new_hash, event.sequence],
            )
            prev_hash = new_hash


def test_frequent_checkpoints_are_signed_after_every_ten_events():
    record(25)
    assert list(AuditCheckpoint.objects.values_list("sequence", flat=True)) == [10, 20]
    assert audit_verify().intact


def test_a_recomputed_edit_is_found_at_the_edited_event():
    """(a) Trigger dropped (the probe's was PostgreSQL's; SQLite's is dropped the same way
    here), one event edited, every later hash recomputed: the chain alone verifies, and the
    witness locates the first event that differs, not the checkpoint after it."""
    record(25)
    rewrite_from(7, target_repr="forged")
    with connection.cursor() as cursor:  # the chain itself is consistent after the rewrite
        cursor.execute("SELECT count(*) FROM audit_auditevent WHERE target_repr = 'forged'")
        assert cursor.fetchone()[0] == 1
    result = audit_verify()
    assert (result.intact, result.broken_sequence) == (False, 7), str(result)
    assert result.reason == "differs from witness" and "witness" in result.detail
    # The database on its own only knows its checkpoint at 10 no longer matches.
    alone = audit_verify(witness=False)
    assert (alone.broken_sequence, alone.reason) == (10, "checkpoint mismatch")


def test_deleting_the_last_events_is_found_against_the_witness():
    """(b) The last events and the checkpoint rows naming them deleted."""
    record(25)
    with Unguarded() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE sequence >= 16")
        cursor.execute("DELETE FROM audit_auditcheckpoint WHERE sequence >= 16")
    result = audit_verify()
    assert (result.intact, result.broken_sequence, result.reason) == (False, 16, "truncated")
    assert "witness" in result.detail


def test_the_lowest_checkpoint_row_cannot_be_deleted_and_its_deletion_is_found():
    """(c) No exception in the checkpoint table's guard; forced, the witness misses it."""
    record(25)
    audit_checkpoint_task()  # a minute passes: the head (25) is signed
    lowest = (
        "DELETE FROM audit_auditcheckpoint WHERE id = (SELECT min(id) FROM audit_auditcheckpoint)"
    )
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(lowest)
    first = AuditCheckpoint.objects.order_by("id").first()
    with Unguarded() as cursor:
        cursor.execute(lowest)
    result = audit_verify()
    assert (result.intact, result.broken_sequence) == (False, first.sequence), str(result)
    assert result.reason == "checkpoint missing from database"


def test_events_after_the_last_checkpoint_row_but_in_the_witness_cannot_be_rewritten():
    """(d) The checkpoint rows after 10 deleted, then event 14 rewritten (with every later
    hash): the database's own checkpoints no longer cover it, the witness does."""
    record(25)
    with Unguarded() as cursor:
        cursor.execute("DELETE FROM audit_auditcheckpoint WHERE sequence > 10")
    rewrite_from(14, target_repr="forged")
    result = audit_verify()
    assert (result.intact, result.broken_sequence) == (False, 14), str(result)


def test_the_window_that_remains_events_newer_than_the_last_checkpoint():
    """What the README states: events after the last checkpoint (here 21..25, until the next
    one is signed) can be rewritten or deleted by someone with database access unnoticed."""
    record(25)
    rewrite_from(23, target_repr="forged")
    assert audit_verify().intact
    with Unguarded() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE sequence >= 21")
    assert audit_verify().intact


def test_processes_asking_at_once_make_one_checkpoint(settings):
    """Several workers reaching the tenth event at once (threads with their own database
    connections here): the chain lock (SQLite: BEGIN IMMEDIATE) lets one sign, the others
    find it done; the witness gets one entry."""
    import threading

    from django.db import connections

    from governance.audit.proofs import audit_checkpoint
    from governance.audit.witness import configured_witness

    settings.IMPRIMATUR_AUDIT_CHECKPOINT_EVENTS = 0  # no trigger: the threads below ask
    record(10)
    barrier, made, errors = threading.Barrier(4), [], []

    def ask():
        try:
            barrier.wait()
            made.append(audit_checkpoint(every=10).pk)
        except Exception as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(set(made)) == 1
    assert AuditCheckpoint.objects.count() == 1
    assert [entry["sequence"] for entry in configured_witness().entries()] == [10]
