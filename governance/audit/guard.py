"""The append-only guard in the database: triggers that refuse UPDATE and DELETE on the
audit tables, whoever connects (the ORM, a shell, psql, sqlite3). No row is excepted.

Django's test flush empties every table between ``transaction=True`` and live-server tests:

- PostgreSQL: it uses ``TRUNCATE``, which row triggers do not see. A role that may truncate
  can empty the log; the witness outside the database (witness.py) still holds the
  checkpoints, so verification reports ``truncated``. Production can go further and
  ``REVOKE TRUNCATE`` from the application's role.
- SQLite (the embedded default) has no TRUNCATE: its flush is ``DELETE FROM``. The audit
  app's ``flush`` command (management/commands/flush.py) drops these triggers for the flush
  and installs them again after it; the triggers themselves refuse every DELETE. (Before
  issue 17 the trigger let the row with the lowest id go, so that the flush could work: it
  let anyone delete the oldest checkpoint.)

SQLite drops a table's triggers when Django rebuilds the table in a later migration, so the
guard is (re)installed after every ``migrate`` and ``flush`` (``post_migrate``, see apps.py);
installing is idempotent.
"""

MESSAGE = "audit events are append-only"
TABLES = ("audit_auditevent", "audit_auditcheckpoint")

_POSTGRESQL_FUNCTION = f"""
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{MESSAGE}: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def _postgresql_statements(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()",
    ]


def _sqlite_statements(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
    ]


def _sqlite_guard_current(connection) -> bool:
    """Whether SQLite's delete triggers are this version's (without the old exception)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND sql LIKE %s",
            ["%_no_delete %WHEN OLD.id%"],
        )
        return cursor.fetchone()[0] == 0


def install_guard(connection) -> None:
    """Create the triggers on ``connection``'s database (idempotent; on SQLite it replaces
    delete triggers of an earlier version that excepted the oldest row)."""
    if connection.vendor == "sqlite" and not _sqlite_guard_current(connection):
        remove_guard(connection)
    if connection.vendor == "postgresql":
        statements = [_POSTGRESQL_FUNCTION]
        for table in TABLES:
            statements += _postgresql_statements(table)
    elif connection.vendor == "sqlite":
        statements = [sql for table in TABLES for sql in _sqlite_statements(table)]
    else:
        raise NotImplementedError(f"No append-only guard for {connection.vendor}.")
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def remove_guard(connection) -> None:
    """Drop the triggers (migration rollback; tests that tamper on purpose)."""
    with connection.cursor() as cursor:
        for table in TABLES:
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            else:
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")


def guard_installed(connection) -> bool:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT count(*) FROM pg_trigger WHERE tgname = ANY(%s) AND NOT tgisinternal",
                [[f"{table}_append_only" for table in TABLES]],
            )
            return cursor.fetchone()[0] == len(TABLES)
        if not _sqlite_guard_current(connection):
            return False
        cursor.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN (%s, %s)",
            list(TABLES),
        )
        return cursor.fetchone()[0] == 2 * len(TABLES)
