"""The audit events this app records: their names and meanings, registered from
``AppConfig.ready`` (see ``governance.audit.registry``)."""

ACTIONS: dict[str, str] = {
    "reviews.workflow.update": "An admin saved a new version of a project's review workflow.",
    "reviews.review.open": "An object was sent to review.",
    "reviews.task.decide": "A reviewer approved or rejected a review stage.",
    "reviews.override": "An admin decided a review stage outside the rules, with a reason.",
    "reviews.task.remind": "A review stage was overdue: its reviewers were reminded.",
    "reviews.task.escalate": "A review stage stayed overdue: it was escalated to the admins.",
    "reviews.review.end": "A review ended: approved, rejected or withdrawn.",
}
