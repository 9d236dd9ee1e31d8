"""Audit log: concurrent appends, verifying a chain of a million events, and list pages.

PostgreSQL only (``DATABASE_URL=postgres://…``; it refuses to run on SQLite): the append
lock under test is PostgreSQL's advisory lock. Use a scratch database: the benchmark
migrates it, needs an empty audit log, and leaves a million events behind.

1. **append**: ``--writers`` (8) processes, each with its own connection, each recording
   ``--per-writer`` (500) events through ``audit_record``, one transaction per event, all
   starting together; each process waits at the end until its pending events are chained
   (``audit_flush``). ``append_per_s`` = events / wall-clock seconds. Then the chain must
   be linear: sequences 1..N without gaps, nothing pending, ``audit_verify`` intact.
   **Baseline**, run just before by the same processes: one-row ``INSERT`` transactions into
   a plain table (``baseline_per_s``, what this machine gives any transaction); the ratio
   is what the chain costs.
2. **bulk chain**: continues the chain to ``--events`` (1,000,000) events with hashes
   computed here and written with COPY (bypassing ``audit_record``, for speed; the result
   is a valid chain: step 3 checks it), then signs one checkpoint at the head.
3. **verify**: ``audit_verify(jobs=--jobs)`` over the whole chain, as ``manage.py
   audit_verify`` runs it: ``--jobs`` processes (default: the CPU count) walk ranges of it
   in keyset batches of 5,000, every hash recomputed, the seams and the checkpoint's
   signature checked, then the checkpoint's Merkle tree root recomputed from the events.
   ``verify_1m_s`` is its wall time. Then one event's inclusion proof is built (timed,
   printed, not on the last line).
4. **pages**: the audit browser's list page (``/audit/``, rendered through Django's test
   client, signed in as an auditor of the organisation the bulk events belong to): the
   first page and a deep one (``?before=`` the 1,000th bulk event, near the chain's start;
   the events of step 1 belong to no organisation). Medians of
   ``--rounds`` (20) requests, in milliseconds.

The last line is always ``append_per_s=<x> verify_1m_s=<x> list_page_ms=<median>
deep_page_ms=<median>``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imprimatur.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, connections, transaction  # noqa: E402

from governance.audit.chain import FIELDS, format_timestamp  # noqa: E402
from governance.audit.head import chain_head  # noqa: E402
from governance.audit.models import AuditEvent, AuditPending  # noqa: E402
from governance.audit.proofs import audit_checkpoint, inclusion_proof  # noqa: E402
from governance.audit.services import audit_flush, audit_record  # noqa: E402
from governance.audit.verify import audit_verify  # noqa: E402

ACTIONS = ("generation.request.submit", "generation.job.transition", "reviews.task.decide")


def writer(count: int, start_at: float) -> None:
    connections.close_all()  # a fresh connection of this process's own
    while time.time() < start_at:
        time.sleep(0.001)
    for index in range(count):
        with transaction.atomic():
            audit_record(action=ACTIONS[index % 3], data={"writer": os.getpid(), "i": index})
    audit_flush()  # this process's events, chained after their commits
    connections.close_all()


def baseline_writer(count: int, start_at: float) -> None:
    connections.close_all()
    while time.time() < start_at:
        time.sleep(0.001)
    for index in range(count):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO bench_baseline (data, at) VALUES (%s::jsonb, now())",
                [json.dumps({"writer": os.getpid(), "i": index})],
            )
    connections.close_all()


def concurrent_appends(writers: int, per_writer: int, target=writer) -> float:
    connections.close_all()
    context = multiprocessing.get_context("fork")
    start_at = time.time() + 1.0
    processes = [
        context.Process(target=target, args=(per_writer, start_at)) for _ in range(writers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
        if process.exitcode != 0:
            raise SystemExit(f"a writer failed (exit code {process.exitcode})")
    elapsed = time.time() - start_at
    return writers * per_writer / elapsed


def bulk_chain(total: int, organization_id: int, batch: int = 50_000) -> None:
    """Append events up to ``total`` with COPY, computing the chain here."""
    sequence, prev_hash = chain_head()
    moment = datetime.now(UTC)
    columns = (*FIELDS, "hash")
    sql_columns = ", ".join(columns)
    dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
    sha256 = hashlib.sha256
    while sequence < total:
        with transaction.atomic(), connection.cursor() as cursor:
            raw = cursor.cursor  # psycopg's own cursor, for COPY
            with raw.copy(f"COPY audit_auditevent ({sql_columns}) FROM STDIN") as copy:
                for _ in range(min(batch, total - sequence)):
                    sequence += 1
                    moment += timedelta(microseconds=1000)
                    event = {
                        "sequence": sequence,
                        "created_at": format_timestamp(moment),
                        "actor_id": None,
                        "actor_name": "system",
                        "organization_id": organization_id,
                        "action": ACTIONS[sequence % 3],
                        "target_type": "jobs.generationjob",
                        "target_id": str(sequence),
                        "target_repr": f"Job {sequence}",
                        "data": {"i": sequence, "status": "succeeded"},
                        "request_id": f"{sequence:032x}",
                        "prev_hash": prev_hash,
                    }
                    prev_hash = sha256(dumps(event).encode("utf-8")).hexdigest()
                    event["data"] = dumps(event["data"])
                    copy.write_row([event[c] for c in FIELDS] + [prev_hash])
        print(f"  bulk: {sequence} events", file=sys.stderr)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE audit_auditevent")


def page_ms(client, before: int | None, rounds: int) -> float:
    url = "/audit/" if before is None else f"/audit/?before={before}"
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        response = client.get(url, HTTP_HOST="localhost")
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.status_code
        assert response.content.count(b'<a href="/audit/events/') == 50
    return statistics.median(times)


def auditor_client(organization):
    from django.contrib.auth import get_user_model
    from django.test import Client

    from imprimatur.tenancy.models import Membership

    user = get_user_model().objects.create_user("bench-auditor", password=None)
    Membership.objects.create(user=user, organization=organization, role="auditor")
    client = Client()
    client.force_login(user)
    return client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--per-writer", type=int, default=500)
    parser.add_argument("--events", type=int, default=1_000_000, help="chain length (1e6)")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="processes walking the chain in step 3, as `manage.py audit_verify` (CPU count)",
    )
    args = parser.parse_args()

    if connection.vendor != "postgresql":
        raise SystemExit(
            "bench/audit.py needs PostgreSQL: set DATABASE_URL=postgres://… to a scratch "
            f"database (this is {connection.vendor})."
        )
    call_command("migrate", verbosity=0)
    if AuditEvent.objects.exists():
        raise SystemExit("The audit log of this database is not empty: use a scratch database.")

    appends = args.writers * args.per_writer
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_baseline "
            "(id bigserial PRIMARY KEY, data jsonb, at timestamptz)"
        )
    baseline_per_s = concurrent_appends(args.writers, args.per_writer, baseline_writer)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_baseline")
    append_per_s = concurrent_appends(args.writers, args.per_writer)
    sequences = list(AuditEvent.objects.values_list("sequence", flat=True))
    result = audit_verify()
    pending = AuditPending.objects.count()
    linear = sequences == list(range(1, appends + 1)) and result.intact and not pending
    print(
        f"baseline: {appends} one-row insert transactions from {args.writers} processes, "
        f"{baseline_per_s:.0f}/s; audit appends run at "
        f"{append_per_s / baseline_per_s:.2f}x of it"
    )
    print(
        f"append: {appends} events from {args.writers} processes, {append_per_s:.0f}/s, "
        f"chain linear: {linear} ({result}, {pending} pending)"
    )
    if not linear:
        raise SystemExit("the concurrent appends did not make one linear chain")

    from imprimatur.tenancy.models import Organization

    organization = Organization.objects.create(name="Bench", slug="bench-audit")
    start = time.perf_counter()
    bulk_chain(args.events, organization.pk)
    print(f"bulk chain to {args.events} events in {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    audit_checkpoint()
    print(
        f"checkpoint: signed with the Merkle root of {args.events} events, hashed from the "
        f"start, in {time.perf_counter() - start:.1f} s"
    )

    start = time.perf_counter()
    result = audit_verify(jobs=args.jobs)
    verify_s = time.perf_counter() - start
    print(f"verify: {result} in {verify_s:.1f} s")
    if not result.intact or result.last_sequence != args.events:
        raise SystemExit("the bulk chain does not verify")

    start = time.perf_counter()
    proof = inclusion_proof(appends + 1000)
    print(
        f"proof: event {appends + 1000} in the tree of {proof['tree_size']} events, "
        f"{len(proof['audit_path'])} hashes, in {time.perf_counter() - start:.1f} s"
    )

    client = auditor_client(organization)
    list_ms = page_ms(client, None, args.rounds)
    deep_ms = page_ms(client, appends + 1000, args.rounds)  # the bulk events' first 1,000
    print(
        f"append_per_s={append_per_s:.0f} verify_1m_s={verify_s:.1f} "
        f"list_page_ms={list_ms:.2f} deep_page_ms={deep_ms:.2f}"
    )


if __name__ == "__main__":
    main()
