"""The audit events this app records: their names and meanings, registered from
``AppConfig.ready`` (see ``governance.audit.registry``)."""

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
}
