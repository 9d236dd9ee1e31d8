"""The hash chain: canonical form, appends, append-only guard, verification, checkpoints."""

import hashlib
import stat
import threading
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, connections, transaction

from governance.audit import services
from governance.audit.chain import (
    GENESIS_HASH,
    event_fields,
    event_hash,
    event_hash_parts,
    normalise_data,
    parts_hash,
)
from governance.audit.guard import install_guard, remove_guard
from governance.audit.head import CHAIN_LOCK
from governance.audit.models import AuditCheckpoint, AuditEvent, AuditLogImmutable, AuditPending
from governance.audit.proofs import audit_checkpoint
from governance.audit.services import audit_flush, audit_record
from governance.audit.signing import checkpoints_export, load_or_create_key
from governance.audit.tasks import audit_checkpoint_task
from governance.audit.verify import audit_verify
from tests.imprimatur.tenancy.factories import OrganizationFactory, UserFactory

KNOWN_EVENT = {
    "sequence": 1,
    "created_at": datetime(2026, 11, 26, 10, 19, 0, 123456, tzinfo=UTC),
    "actor_id": 7,
    "actor_name": "alice",
    "organization_id": 3,
    "action": "generation.request.submit",
    "target_type": "jobs.generationrequest",
    "target_id": "42",
    "target_repr": "Café poster",
    "data": {"prompt": "a red star", "b": [1, 2.5, None, True], "a": {"z": 1, "y": "é"}},
    "request_id": "0123456789abcdef0123456789abcdef",
    "prev_hash": GENESIS_HASH,
}
KNOWN_HASH = "c89378b5a08be063ccc6dbb9d47955540fd7449f5403921e52d8d3d108380803"


@pytest.fixture(autouse=True)
def audit_key(settings, tmp_path):
    settings.IMPRIMATUR_AUDIT_KEY = str(tmp_path / "keys" / "audit_key.pem")


def record(count: int, organization=None) -> list[AuditEvent]:
    return [
        audit_record(
            action="tenancy.project.update",
            organization=organization,
            data={"n": index, "note": "ünïcode"},
        )
        for index in range(count)
    ]


def test_canonical_serialisation_gives_a_known_hash():
    # The documented rules (CHAIN.md), written out independently of the module.
    text = (
        '{"action":"generation.request.submit","actor_id":7,"actor_name":"alice",'
        '"created_at":"2026-11-26T10:19:00.123456Z",'
        '"data":{"a":{"y":"é","z":1},"b":[1,2.5,null,true],"prompt":"a red star"},'
        '"organization_id":3,"prev_hash":"' + "0" * 64 + '",'
        '"request_id":"0123456789abcdef0123456789abcdef","sequence":1,'
        '"target_id":"42","target_repr":"Café poster","target_type":"jobs.generationrequest"}'
    )
    expected = hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert event_hash(event_fields(**KNOWN_EVENT)) == expected
    assert expected == KNOWN_HASH  # the value CHAIN.md quotes


def test_data_is_normalised_to_what_every_database_gives_back():
    assert normalise_data({"t": (1, 2), "big": 1e20, "zero": -0.0, 1: "x"}) == {
        "t": [1, 2],
        "big": 100000000000000000000,
        "zero": 0.0,
        "1": "x",
    }
    with pytest.raises(ValueError):
        normalise_data({"bad": float("nan")})


@pytest.mark.django_db
def test_appends_form_a_linear_chain_from_genesis():
    user = UserFactory(username="carol")
    organization = OrganizationFactory()
    first = audit_record(action="tenancy.project.update", actor=user, organization=organization)
    second, third = record(2, organization)
    assert [first.sequence, second.sequence, third.sequence] == [1, 2, 3]
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash and third.prev_hash == second.hash
    stored = AuditEvent.objects.get(sequence=1)
    assert stored.actor_name == "carol" and stored.hash == event_hash(stored.hashed_fields())
    result = audit_verify()
    assert result.intact and result.last_sequence == 3 and str(result).startswith("intact up to 3")


@pytest.mark.django_db
def test_an_event_of_a_rolled_back_transaction_leaves_no_gap():
    record(1)
    with pytest.raises(RuntimeError), transaction.atomic():
        record(1)
        raise RuntimeError
    assert record(1)[0].sequence == 2
    assert audit_verify().intact


@pytest.mark.django_db
def test_the_models_refuse_changes_and_deletions():
    event = record(1)[0]
    event.action = "tenancy.project.create"
    with pytest.raises(AuditLogImmutable):
        event.save()
    with pytest.raises(AuditLogImmutable):
        event.delete()
    with pytest.raises(AuditLogImmutable):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(AuditLogImmutable):
        AuditEvent.objects.all().delete()
    with pytest.raises(AuditLogImmutable):
        AuditCheckpoint.objects.all().delete()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditevent SET action = 'forged' WHERE sequence = 2",
        "UPDATE audit_auditevent SET data = '{}'",
        "DELETE FROM audit_auditevent WHERE sequence = 2",
        "DELETE FROM audit_auditevent WHERE sequence = 3",
    ],
)
def test_the_database_refuses_update_and_delete_through_sql(sql):
    record(3)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
    assert AuditEvent.objects.count() == 3
    assert audit_verify().intact


@pytest.mark.django_db
def test_the_event_table_keeps_one_index_per_filter_and_its_guard():
    """Each index slows every append: migration 0007 left one per audit browser filter,
    and (on SQLite, where altering a field rebuilds the table) the triggers stayed."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "audit_auditevent")
    indexed = sorted(
        tuple(info["columns"])
        for info in constraints.values()
        if info["index"] or info["primary_key"] or info["unique"]
    )
    assert indexed == [
        ("action",), ("created_at",), ("id",), ("organization_id", "sequence"),
        ("request_id",), ("sequence",),
    ]  # fmt: skip
    record(1)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE audit_auditevent SET actor_name = 'x'")


@pytest.mark.django_db
def test_the_database_refuses_changing_a_checkpoint():
    record(2)
    audit_checkpoint()
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE audit_auditcheckpoint SET sequence = 1")


@pytest.mark.django_db
@pytest.mark.parametrize("table", ["audit_auditevent", "audit_auditcheckpoint"])
def test_the_oldest_row_cannot_be_deleted_either(table):
    """No exception in the guard (issue 17: SQLite's let the lowest id go, for the test
    flush; the audit app's flush command now lifts the guard for the flush itself)."""
    record(3)
    audit_checkpoint()
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"DELETE FROM {table} WHERE id = (SELECT min(id) FROM {table})")
    assert audit_verify().intact


@pytest.mark.django_db
def test_an_earlier_sqlite_guard_with_the_exception_is_replaced():
    if connection.vendor != "sqlite":
        pytest.skip("Only SQLite's guard had the exception")
    remove_guard(connection)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TRIGGER audit_auditcheckpoint_no_delete BEFORE DELETE ON "
            "audit_auditcheckpoint WHEN OLD.id <> (SELECT min(id) FROM audit_auditcheckpoint) "
            "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END"
        )
    from governance.audit.guard import guard_installed

    assert not guard_installed(connection)
    install_guard(connection)
    assert guard_installed(connection)
    record(1)
    audit_checkpoint()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        connection.cursor().execute("DELETE FROM audit_auditcheckpoint")


class Unguarded:
    """Tamper with the log as someone with the database's owner rights could."""

    def __enter__(self):
        remove_guard(connection)
        return connection.cursor()

    def __exit__(self, *exc):
        install_guard(connection)


@pytest.mark.django_db
def test_a_changed_event_is_reported_at_its_sequence():
    record(5)
    with Unguarded() as cursor:
        cursor.execute("UPDATE audit_auditevent SET target_repr = 'forged' WHERE sequence = 3")
    result = audit_verify(batch_size=2)
    assert (result.intact, result.broken_sequence, result.reason) == (False, 3, "changed")
    assert result.last_sequence == 2


@pytest.mark.django_db
def test_a_deleted_middle_event_is_reported_missing():
    record(5)
    with Unguarded() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE sequence = 4")
    result = audit_verify()
    assert (result.broken_sequence, result.reason) == (4, "missing")
    with pytest.raises(CommandError, match="broken at 4: missing"):
        call_command("audit_verify")


@pytest.mark.django_db
def test_a_recomputed_edit_breaks_the_link_to_the_next_event():
    events = record(4)
    forged = events[1].hashed_fields() | {"action": "tenancy.project.create"}
    with Unguarded() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET action = %s, hash = %s WHERE sequence = 2",
            [forged["action"], event_hash(forged)],
        )
    result = audit_verify()
    assert (result.broken_sequence, result.reason) == (3, "broken link")


@pytest.mark.django_db
def test_a_truncated_tail_is_caught_by_the_last_checkpoint():
    record(5)
    checkpoint = audit_checkpoint()
    assert checkpoint.sequence == 5
    with Unguarded() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE sequence >= 4")
    result = audit_verify()
    assert (result.intact, result.broken_sequence, result.reason) == (False, 4, "truncated")


@pytest.mark.django_db
def test_a_rewritten_tail_is_caught_by_the_checkpoint_hash():
    record(3)
    audit_checkpoint()
    with Unguarded() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE sequence = 3")
    record(1)  # a new event 3, correctly chained, but not the one that was signed
    result = audit_verify()
    assert (result.broken_sequence, result.reason) == (3, "checkpoint mismatch")


@pytest.mark.django_db
def test_checkpoints_are_signed_idempotent_and_exported_with_the_public_key(settings):
    from pathlib import Path

    assert audit_checkpoint() is None  # nothing to sign yet
    record(2)
    first = audit_checkpoint()
    assert audit_checkpoint_task() == 2
    assert AuditCheckpoint.objects.count() == 1  # the head has not moved
    record(1)
    audit_checkpoint()
    assert list(AuditCheckpoint.objects.values_list("sequence", flat=True)) == [2, 3]
    key_path = Path(settings.IMPRIMATUR_AUDIT_KEY)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    key = load_or_create_key()
    document = checkpoints_export(AuditCheckpoint.objects.all(), key)
    assert document["public_key"].startswith("-----BEGIN PUBLIC KEY-----")
    assert document["checkpoints"][0]["hash"] == first.hash
    result = audit_verify()
    assert result.intact and result.checkpoints == 2


def signed_checkpoint(sequence: int, **fields) -> AuditCheckpoint:
    """A checkpoint made and signed here with the platform key, as audit_checkpoint would,
    but with the fields given: how a wrong tree root or frontier gets signed in a test."""
    from django.utils import timezone

    from governance.audit.signing import checkpoint_message, sign

    key = load_or_create_key()
    head = AuditEvent.objects.get(sequence=sequence)
    checkpoint = AuditCheckpoint(
        sequence=sequence, hash=head.hash, created_at=timezone.now(), key_id=key.key_id, **fields
    )
    checkpoint.signature = sign(key, checkpoint_message(checkpoint))
    checkpoint.save()
    if checkpoint.tree_root:  # written to the witness as audit_checkpoint would
        witness_append(checkpoint)
    return checkpoint


def witness_append(checkpoint: AuditCheckpoint) -> None:
    from governance.audit.merkle import Frontier, consistency_path, event_leaf
    from governance.audit.witness import configured_witness, witness_entry

    witness = configured_witness()
    before = (witness.entries() or [None])[-1]
    size = before["sequence"] if before else 0
    hashes = list(AuditEvent.objects.order_by("sequence").values_list("hash", flat=True))
    old = Frontier()
    old.extend(event_leaf(h) for h in hashes[:size])
    new_leaves = [event_leaf(h) for h in hashes[size : checkpoint.sequence]]
    entry = witness_entry(
        checkpoint,
        previous=(size, before["tree_root"]) if before else None,
        consistency=consistency_path(old, new_leaves),
        hashes=hashes[size : checkpoint.sequence],
    )
    witness.append(entry)


@pytest.mark.django_db
def test_checkpoints_sign_the_merkle_root_and_grow_it_from_the_last_one():
    from governance.audit.merkle import event_leaf, tree_root

    record(5)
    first = audit_checkpoint()
    leaves = [event_leaf(h) for h in AuditEvent.objects.values_list("hash", flat=True)]
    assert first.tree_root == tree_root(leaves).hex()
    assert len(first.tree_frontier) == 2  # 5 = 4 + 1
    record(6)
    second = audit_checkpoint()
    leaves = [event_leaf(h) for h in AuditEvent.objects.values_list("hash", flat=True)]
    assert (second.sequence, second.tree_root) == (11, tree_root(leaves).hex())
    # A kept frontier whose root is not the signed one is not trusted: hashed from scratch.
    signed_checkpoint(11, tree_root=second.tree_root, tree_frontier=["00" * 32] * 3)
    record(1)
    third = audit_checkpoint()
    leaves = [event_leaf(h) for h in AuditEvent.objects.values_list("hash", flat=True)]
    assert third.tree_root == tree_root(leaves).hex()
    assert audit_verify().intact


@pytest.mark.django_db
def test_a_signed_tree_root_the_events_do_not_give_is_reported():
    record(4)
    audit_checkpoint()
    record(2)
    wrong = signed_checkpoint(6, tree_root="ab" * 32, tree_frontier=[])
    # The witness, which has the same checkpoint, says so from event 5 on (test_witness.py).
    assert audit_verify().broken_sequence == 5
    result = audit_verify(witness=False)
    assert (result.intact, result.broken_sequence, result.reason) == (
        False, 6, "tree root mismatch"
    )  # fmt: skip
    assert f"checkpoint {wrong.pk} signed tree root abababab" in result.detail


@pytest.mark.django_db
def test_a_checkpoint_from_before_the_tree_still_verifies():
    """Checkpoints signed before migration 0008 have no tree root and sign four fields."""
    record(3)
    old = signed_checkpoint(3)
    assert old.tree_root is None
    result = audit_verify()
    assert result.intact and result.checkpoints == 1
    # The next checkpoint at the same head does carry a tree root.
    assert audit_checkpoint().tree_root


@pytest.mark.django_db
def test_a_checkpoint_signed_by_another_key_is_reported(settings, tmp_path):
    record(2)
    audit_checkpoint()
    settings.IMPRIMATUR_AUDIT_KEY = str(tmp_path / "other.pem")
    result = audit_verify()
    assert (result.broken_sequence, result.reason) == (2, "bad signature")


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_on_postgresql_form_one_linear_chain():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers itself; the advisory lock is PostgreSQL's")
    writers, per_writer = 8, 25
    barrier = threading.Barrier(writers)
    errors = []

    def write(number):
        try:
            barrier.wait()
            for index in range(per_writer):
                with transaction.atomic():
                    audit_record(action="tenancy.project.update", data={"w": number, "i": index})
        except Exception as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert audit_flush()  # events written while the chain was busy, chained after commit
    assert not AuditPending.objects.exists()
    sequences = list(AuditEvent.objects.values_list("sequence", flat=True))
    assert sequences == list(range(1, writers * per_writer + 1))
    result = audit_verify()
    assert result.intact and result.last_sequence == writers * per_writer


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"prev_hash": "", "sequence": 0, "nested": {"prev_hash": "", "sequence": 0}},
        {"text": ',"prev_hash":"",\',"sequence":0,', "quote": '"', "é": ["ü", 1.5]},
    ],
)
def test_hashing_from_parts_is_hashing_the_event(data):
    """The parts a writer serialises (and PostgreSQL's chaining hashes) give the same hash
    as the event, even when the data holds the members' names and values."""
    fields = {**KNOWN_EVENT, "data": data, "target_repr": '"sequence":0, "prev_hash":""'}
    fields = event_fields(**fields)
    parts = event_hash_parts({**fields, "sequence": None, "prev_hash": None})
    for sequence, prev_hash in ((1, GENESIS_HASH), (987654321, "ab" * 32)):
        expected = event_hash({**fields, "sequence": sequence, "prev_hash": prev_hash})
        assert parts_hash(parts, sequence, prev_hash) == expected


def hold_chain_lock():
    """Another session holding the chain, as a writer in a long transaction would."""
    import psycopg

    settings_dict = connection.settings_dict
    other = psycopg.connect(
        host=settings_dict["HOST"],
        port=settings_dict["PORT"] or 5432,
        user=settings_dict["USER"],
        dbname=settings_dict["NAME"],
        password=settings_dict["PASSWORD"] or None,
    )
    other.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK])
    return other


def needs_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("Pending events exist only on PostgreSQL (SQLite serialises writers).")


@pytest.mark.django_db(transaction=True)
def test_an_event_written_while_the_chain_is_busy_is_chained_after_its_commit():
    needs_postgresql()
    first = audit_record(action="tenancy.project.update", data={"n": 1})
    other = hold_chain_lock()
    with transaction.atomic():
        waiting = audit_record(action="tenancy.project.update", data={"n": 2})
        assert waiting.sequence is None  # pending, not yet in the chain
    assert AuditPending.objects.count() == 1
    other.rollback()  # the busy writer ends: the sealer thread gets the chain
    other.close()
    assert audit_flush()
    assert not AuditPending.objects.exists()
    chained = AuditEvent.objects.get(sequence=2)
    assert chained.data == {"n": 2} and chained.prev_hash == first.hash
    assert audit_verify().intact


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_pending_event_leaves_nothing(monkeypatch):
    needs_postgresql()
    audit_record(action="tenancy.project.update", data={"n": 1})
    other = hold_chain_lock()
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(action="tenancy.project.update", data={"n": 2})
        raise RuntimeError("the caller's work failed")
    other.rollback()
    other.close()
    assert not AuditPending.objects.exists()
    audit_record(action="tenancy.project.update", data={"n": 3})
    assert list(AuditEvent.objects.values_list("sequence", flat=True)) == [1, 2]
    assert audit_verify().intact


@pytest.mark.django_db(transaction=True)
def test_events_a_dead_process_left_pending_are_chained_first_by_the_next_writer(monkeypatch):
    """A process that died between commit and chaining leaves pending events: the next
    writer to get the chain chains them before its own; the beat task sweeps the rest."""
    needs_postgresql()
    from governance.audit.tasks import audit_seal_task

    monkeypatch.setattr(services._sealer, "request", lambda using: None)  # "died"
    other = hold_chain_lock()
    for n in (1, 2):
        audit_record(action="tenancy.project.update", data={"n": n})
    other.rollback()
    assert AuditPending.objects.count() == 2 and not AuditEvent.objects.exists()
    assert "2 pending to be chained" in str(audit_verify())
    audit_record(action="tenancy.project.update", data={"n": 3})
    assert [e.data["n"] for e in AuditEvent.objects.order_by("sequence")] == [1, 2, 3]
    other.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK])
    audit_record(action="tenancy.project.update", data={"n": 4})
    other.rollback()
    other.close()
    assert audit_seal_task() == 1
    assert audit_checkpoint().sequence == 4 and audit_verify().intact


def _forge_at_20():
    events = AuditEvent.objects.get(sequence=20)
    forged = events.hashed_fields() | {"action": "tenancy.project.create"}
    return (
        "UPDATE audit_auditevent SET action = %s, hash = %s WHERE sequence = 20",
        [forged["action"], event_hash(forged)],
    )


TAMPERING = {
    "intact": (None, None),
    "changed in the second range": (
        ("UPDATE audit_auditevent SET target_repr = 'forged' WHERE sequence = 27", []),
        (27, "changed"),
    ),
    "the first range's last event deleted": (
        ("DELETE FROM audit_auditevent WHERE sequence = 20", []),
        (20, "missing"),
    ),
    "the second range's first event deleted": (
        ("DELETE FROM audit_auditevent WHERE sequence = 21", []),
        (21, "missing"),
    ),
    "an edit with its hash recomputed, at the seam": (_forge_at_20, (21, "broken link")),
    "the tail cut after a checkpoint": (
        ("DELETE FROM audit_auditevent WHERE sequence >= 35", []),
        (35, "truncated"),
    ),
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("case", list(TAMPERING))
def test_walking_in_parallel_finds_what_the_single_walk_finds(case):
    """Two processes walk halves of the chain (the command's --jobs); the seams between
    them are checked, so every break is found at the same place and for the same reason."""
    record(40)
    audit_checkpoint()
    tamper, expected = TAMPERING[case]
    if tamper is not None:
        sql, params = tamper() if callable(tamper) else tamper
        with Unguarded() as cursor:
            cursor.execute(sql, params)
    single = audit_verify(batch_size=5, witness=False)
    parallel = audit_verify(batch_size=5, jobs=2, witness=False)
    assert single == parallel
    if expected is None:
        assert single.intact and single.last_sequence == 40 and single.checkpoints == 1
    else:
        assert (single.broken_sequence, single.reason) == expected
    if case == "an edit with its hash recomputed, at the seam":  # the witness knows better
        assert audit_verify(jobs=2).broken_sequence == 20
