"""The webhook event types, and how each is made from what the platform records.

The single source is the audit log: every change worth telling already records an audit
event, with its organisation, inside the transaction that makes it (``governance.audit
.signals.event_recorded``). Two facts are not audit events of their own, so their apps send
a signal: a review stage opening for reviewers (``governance.reviews.services.task_opened``)
and a signed checkpoint of the audit chain (``governance.audit.signals.checkpoint_signed``).
This module reads action names and data fields as text and imports no app it describes.

Payloads carry the event type, when it happened and ids with a minimal summary of the
target: no prompt, no file, nothing of another organisation (an endpoint receives only its
own organisation's events; a checkpoint covers the whole chain and says only its position,
hash and signing key, as the public checkpoint export does).
"""

from dataclasses import dataclass

#: Every event type an endpoint may ask for, and what it means.
EVENT_TYPES: dict[str, str] = {
    "request.succeeded": "A generation request finished with its images.",
    "request.failed": "A generation request failed.",
    "asset.approved": "An image's review ended in approval.",
    "asset.rejected": "An image's review ended in rejection.",
    "review.task.assigned": "A review stage opened and waits for its role's reviewers.",
    "policy.published": "A new version of a prompt policy was published.",
    "audit.checkpoint.signed": "The audit chain was checkpointed and signed.",
}


@dataclass(frozen=True)
class Event:
    """One event to deliver: its type, its organisation's id (None: every organisation's
    endpoints), and the payload's ``data``."""

    type: str
    organization_id: int | None
    data: dict


def _target_id(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def from_audit_event(event) -> Event | None:
    """The webhook event an audit event makes, or None."""
    data = event.data or {}
    project = {"project": data["project"]} if data.get("project") else {}
    action = event.action
    if action == "generation.request.transition" and data.get("to") in ("succeeded", "failed"):
        return Event(
            f"request.{data['to']}",
            event.organization_id,
            {"request": {"id": _target_id(event.target_id), "status": data["to"]}, **project},
        )
    if action in ("generation.asset.approve", "generation.asset.reject"):
        status = "approved" if action.endswith("approve") else "rejected"
        return Event(
            f"asset.{status}",
            event.organization_id,
            {
                "asset": {"id": _target_id(event.target_id), "status": status},
                "request": {"id": data.get("request")},
                **project,
            },
        )
    if action == "policies.version.publish":
        return Event(
            "policy.published",
            event.organization_id,
            {"policy": {"id": data.get("policy"), "version": data.get("number")}, **project},
        )
    return None


def from_review_task(task) -> Event:
    review = task.review
    return Event(
        "review.task.assigned",
        review.organization_id,
        {
            "task": {
                "id": task.pk,
                "stage": task.name,
                "role": task.role,
                "due_at": task.due_at.isoformat() if task.due_at else None,
            },
            "review": {"id": review.pk, "kind": review.kind},
            "project": review.project.slug,
        },
    )


def from_checkpoint(checkpoint) -> Event:
    return Event(
        "audit.checkpoint.signed",
        None,
        {
            "checkpoint": {
                "id": checkpoint.pk,
                "sequence": checkpoint.sequence,
                "hash": checkpoint.hash,
                "tree_root": checkpoint.tree_root or None,
                "key_id": checkpoint.key_id,
            }
        },
    )
