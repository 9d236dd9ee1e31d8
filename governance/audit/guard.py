"""The append-only guard in the database: triggers that refuse UPDATE and DELETE on the
audit tables, whoever connects (the ORM, a shell, psql, sqlite3).

What the triggers let through, on purpose, so that Django's test flush keeps working (it
empties every table between ``transaction=True`` and live-server tests):

- PostgreSQL: ``TRUNCATE``. Row triggers do not fire on it, and the flush uses it. A role
  that may truncate can empty the log; verification then reports ``truncated`` against the
  last checkpoint (keep exported checkpoints outside the database). Production can go
  further and ``REVOKE TRUNCATE`` from the application's role.
- SQLite (the embedded default): deleting the *oldest* row. SQLite has no TRUNCATE and no
  statement triggers, and the flush's ``DELETE FROM`` removes rows in id order, so the
  trigger refuses any deletion except of the row with the lowest id. Removing events from
  the start of the log is therefore possible on SQLite; verification reports it as
  ``missing`` at sequence 1 (the chain must start at 1 with the genesis hash) or
  ``truncated``. Every other DELETE, and every UPDATE, is refused.

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
        # bandit: SQL from constants of this module (table and column names), values as parameters.
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table} "  # nosec B608
        f"WHEN OLD.id <> (SELECT min(id) FROM {table}) "
        f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
    ]


def install_guard(connection) -> None:
    """Create the triggers on ``connection``'s database (idempotent)."""
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
        cursor.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN (%s, %s)",
            list(TABLES),
        )
        return cursor.fetchone()[0] == 2 * len(TABLES)
