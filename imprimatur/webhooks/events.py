"""The audit events the webhooks app records (registered from ``AppConfig.ready``). The
secret never goes into the log; its rotation does."""

from governance.audit.services import audit_record

ACTIONS: dict[str, str] = {
    "webhooks.endpoint.create": "An admin added a webhook endpoint.",
    "webhooks.endpoint.update": "An admin changed a webhook endpoint (address, events, state).",
    "webhooks.endpoint.rotate": "An admin rotated a webhook endpoint's signing secret.",
    "webhooks.endpoint.disable": "A webhook endpoint failing for too long was disabled.",
    "webhooks.delivery.resend": "An admin sent a webhook delivery again.",
}


def endpoint_created(*, endpoint, actor) -> None:
    audit_record(
        action="webhooks.endpoint.create",
        actor=actor,
        organization=endpoint.organization,
        target=endpoint,
        data={"url": endpoint.url, "event_types": endpoint.event_types},
    )


def endpoint_updated(*, endpoint, actor, changed: dict) -> None:
    audit_record(
        action="webhooks.endpoint.update",
        actor=actor,
        organization=endpoint.organization,
        target=endpoint,
        data={"changed": changed},
    )


def endpoint_rotated(*, endpoint, actor, overlap_until) -> None:
    audit_record(
        action="webhooks.endpoint.rotate",
        actor=actor,
        organization=endpoint.organization,
        target=endpoint,
        data={"previous_valid_until": overlap_until.isoformat() if overlap_until else None},
    )


def endpoint_disabled(*, endpoint, failing_since) -> None:
    audit_record(
        action="webhooks.endpoint.disable",
        organization=endpoint.organization,
        target=endpoint,
        data={"failing_since": failing_since.isoformat(), "reason": endpoint.disabled_reason},
    )


def delivery_resent(*, delivery, actor) -> None:
    audit_record(
        action="webhooks.delivery.resend",
        actor=actor,
        organization=delivery.endpoint.organization,
        target=delivery,
        data={"message_id": delivery.message_id, "event_type": delivery.event_type},
    )
