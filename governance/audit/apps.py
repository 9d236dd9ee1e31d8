from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_guard(sender, using="default", **kwargs) -> None:
    """Re-install the append-only triggers after migrate and flush (see guard.py)."""
    from django.db import connections
    from django.db.migrations.recorder import MigrationRecorder

    from governance.audit.guard import guard_installed, install_guard

    connection = connections[using]
    if connection.vendor not in ("postgresql", "sqlite"):
        return
    applied = MigrationRecorder(connection).applied_migrations()
    if ("audit", "0004_chain_constraints_and_guard") not in applied:
        return  # migrated backwards, or not yet this far: the migration installs it
    if not guard_installed(connection):
        install_guard(connection)


class AuditConfig(AppConfig):
    name = "governance.audit"
    label = "audit"

    def ready(self) -> None:
        post_migrate.connect(_ensure_guard, sender=self, dispatch_uid="audit-guard")

        from governance.audit.reports import activity_section, register_report_section

        register_report_section("activity", activity_section, order=60)
