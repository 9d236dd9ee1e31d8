from functools import partial

from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
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


def _sessions_audited(sender=None, **kwargs) -> None:
    """Sign-ins, sign-outs and failed sign-ins, in each organisation the user belongs to
    (so its auditors see them). A failed sign-in for a username nobody has is not recorded:
    it belongs to no organisation, and recording it would let anyone fill the log."""
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from governance.audit import events
    from imprimatur.tenancy.models import Organization

    signal = kwargs["signal"]
    if signal is user_login_failed:
        username = (kwargs.get("credentials") or {}).get("username", "")
        user = get_user_model().objects.filter(username=username).first()
        record = partial(events.sign_in_failed, username=username)
    else:
        user = kwargs.get("user")
        signed = events.signed_in if signal is user_logged_in else events.signed_out
        record = partial(signed, user=user)
    if user is None:
        return
    organizations = Organization.objects.filter(memberships__user=user).distinct().order_by("pk")
    with transaction.atomic():
        for organization in organizations:
            record(organization=organization)


class AuditConfig(AppConfig):
    name = "governance.audit"
    label = "audit"

    def ready(self) -> None:
        from governance.audit.events import ACTIONS
        from governance.audit.registry import register_actions

        register_actions(self.label, ACTIONS)

        post_migrate.connect(_ensure_guard, sender=self, dispatch_uid="audit-guard")
        for signal in (user_logged_in, user_logged_out, user_login_failed):
            signal.connect(_sessions_audited, dispatch_uid=f"audit-{id(signal)}")

        from governance.audit.reports import activity_section, register_report_section

        register_report_section("activity", activity_section, order=60)
