"""The audit events this app records: their names and meanings, registered from
``AppConfig.ready`` (see ``governance.audit.registry``), and one function per event that
records it with its data. Call them inside the transaction that makes the change."""

from governance.audit.services import audit_record

ACTIONS: dict[str, str] = {
    "admin.object.add": "Someone added an object in the Django admin (/admin/).",
    "admin.object.change": "Someone changed an object in the Django admin, and what.",
    "admin.object.delete": "Someone deleted an object in the Django admin.",
    "auth.login": "A user signed in.",
    "auth.logout": "A user signed out.",
    "auth.login.failed": "A sign-in failed (the username tried is kept, never the password).",
    "audit.export": "Someone exported audit events (CSV or JSON Lines), with the filters used.",
    "audit.report.pdf": "Someone downloaded a PDF audit report, for a period and scope.",
    "audit.proof": "Someone downloaded an event's inclusion proof (Merkle path, checkpoint).",
    "audit.verify": "Someone verified the audit chain from the UI, with the result.",
    "audit.checkpoints": "Someone downloaded the signed checkpoints held by the witness.",
}


# --- The Django admin (admin.py: AuditedAdmin) ------------------------------------------------


def _admin_event(action: str, *, actor, obj, organization, change: str):
    return audit_record(
        action=action,
        actor=actor,
        organization=organization,
        target=obj,
        data={"model": obj._meta.label_lower, "change": change},
    )


def admin_object_added(*, actor, obj, organization, change: str):
    """``change``: Django's description of the change (its change message), or ""."""
    return _admin_event(
        "admin.object.add", actor=actor, obj=obj, organization=organization, change=change
    )


def admin_object_changed(*, actor, obj, organization, change: str):
    return _admin_event(
        "admin.object.change", actor=actor, obj=obj, organization=organization, change=change
    )


def admin_object_deleted(*, actor, obj, organization):
    return _admin_event(
        "admin.object.delete", actor=actor, obj=obj, organization=organization, change=""
    )


# --- Sessions (apps.py), in each organisation the user belongs to ----------------------------


def signed_in(*, user, organization):
    return audit_record(action="auth.login", actor=user, organization=organization, data={})


def signed_out(*, user, organization):
    return audit_record(action="auth.logout", actor=user, organization=organization, data={})


def sign_in_failed(*, username: str, organization):
    """Nobody is the actor: the sign-in failed. Only the username tried is kept."""
    return audit_record(
        action="auth.login.failed",
        actor=None,
        organization=organization,
        data={"username": username[:150]},
    )


# --- Reading the log (views.py) -------------------------------------------------------------


def audit_exported(*, actor, organization, file_format: str, filters: dict):
    return audit_record(
        action="audit.export",
        actor=actor,
        organization=organization,
        data={"format": file_format, "filters": filters},
    )


def audit_verified(*, actor, organization, intact: bool, result: str):
    return audit_record(
        action="audit.verify",
        actor=actor,
        organization=organization,
        data={"intact": intact, "result": result},
    )


def audit_checkpoints_downloaded(*, actor, organization, count: int, via: str):
    return audit_record(
        action="audit.checkpoints",
        actor=actor,
        organization=organization,
        data={"checkpoints": count, "via": via},
    )


def audit_proof_downloaded(*, actor, organization, sequence: int, tree_size: int):
    return audit_record(
        action="audit.proof",
        actor=actor,
        organization=organization,
        data={"sequence": sequence, "tree_size": tree_size},
    )


def audit_report_downloaded(*, actor, scope):
    """A PDF report of ``scope`` (reports.ReportScope) was made."""
    return audit_record(
        action="audit.report.pdf",
        actor=actor,
        organization=scope.organization,
        project=scope.project,
        data={"since": scope.since.isoformat(), "until": scope.until.isoformat()},
    )
