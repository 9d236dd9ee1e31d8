"""The one place where audit actions are named. Recording an unlisted action is an error."""

ACTIONS: dict[str, str] = {
    "tenancy.organization.create": "An organisation was created.",
    "tenancy.membership.grant": "A user was given a role in an organisation.",
    "tenancy.project.create": "A brand project was created.",
    "tenancy.project.update": "A brand project or its brand kit was changed.",
    "tenancy.reference.add": "An admin added a reference image to a brand kit.",
    "tenancy.reference.remove": "An admin removed a reference image from a brand kit.",
    "auth.token.create": "A user created an API token.",
    "auth.token.revoke": "A user revoked their API token.",
    "generation.request.submit": "A generation request was submitted.",
    "generation.request.blocked": "The prompt policy refused a generation request.",
    "generation.request.transition": "A generation request changed status.",
    "generation.request.cancel": "A user asked to cancel a generation request.",
    "generation.job.transition": "A generation job changed status.",
    "generation.asset.create": "A generated image was stored as an asset.",
    "generation.asset.check": "The output checks ran on an image: verdict, scores, quarantine.",
    "generation.asset.recheck": "Someone asked to run an image's checks again.",
    "generation.asset.publish": "An approved image was signed again, with its approval.",
    "generation.model.create": "An admin added a model to the catalog.",
    "generation.model.update": "An admin changed a model of the catalog.",
    "policies.policy.create": "A prompt policy was created.",
    "policies.draft.update": "The draft of a prompt policy was changed.",
    "policies.version.publish": "A new version of a prompt policy was published.",
    "reviews.workflow.update": "An admin saved a new version of a project's review workflow.",
    "reviews.review.open": "An object was sent to review.",
    "reviews.task.decide": "A reviewer approved or rejected a review stage.",
    "reviews.override": "An admin decided a review stage outside the rules, with a reason.",
    "reviews.task.remind": "A review stage was overdue: its reviewers were reminded.",
    "reviews.task.escalate": "A review stage stayed overdue: it was escalated to the admins.",
    "reviews.review.end": "A review ended: approved, rejected or withdrawn.",
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


class UnknownAuditAction(ValueError):
    pass


def ensure_registered(action: str) -> None:
    if action not in ACTIONS:
        raise UnknownAuditAction(
            f"Audit action {action!r} is not registered in governance/audit/registry.py."
        )
