"""Django's ``flush``, which on SQLite lifts the audit tables' append-only guard for the
flush only (guard.py): SQLite has no TRUNCATE, and the guard refuses every DELETE."""

from django.core.management.commands.flush import Command as DjangoFlush
from django.db import connections

from governance.audit.guard import guard_installed, install_guard, remove_guard


class Command(DjangoFlush):
    help = (
        DjangoFlush.help + " On SQLite the audit log's append-only triggers are dropped for "
        "the flush and installed again after it (PostgreSQL's flush uses TRUNCATE)."
    )

    def handle(self, **options):
        connection = connections[options["database"]]
        if connection.vendor != "sqlite" or not guard_installed(connection):
            return super().handle(**options)
        remove_guard(connection)
        try:
            return super().handle(**options)
        finally:
            install_guard(connection)
