"""Writes of the webhooks app: endpoints (add, change, rotate the secret), deliveries queued
with the event that makes them, and sending one again. Each write is one transaction with
its audit event. Sending is ``sending.py``."""

import base64
import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from imprimatur.webhooks import dispatch, events
from imprimatur.webhooks.addresses import url_check
from imprimatur.webhooks.catalog import EVENT_TYPES, Event
from imprimatur.webhooks.models import Delivery, Endpoint


def secret_new() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def _event_types_clean(event_types) -> list[str]:
    chosen = list(dict.fromkeys(event_types or []))
    unknown = [name for name in chosen if name not in EVENT_TYPES]
    if unknown:
        raise ValidationError(
            {"event_types": f"Unknown event types {unknown}; known: {sorted(EVENT_TYPES)}."}
        )
    return sorted(chosen)


@transaction.atomic
def endpoint_create(
    *, organization, url: str, actor, description: str = "", event_types=()
) -> tuple[Endpoint, str]:
    """Add an endpoint; returns it and its secret (shown once)."""
    url_check(url)
    endpoint = Endpoint.objects.create(
        organization=organization,
        url=url,
        description=description.strip()[:200],
        event_types=_event_types_clean(event_types),
        secret=secret_new(),
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    events.endpoint_created(endpoint=endpoint, actor=actor)
    return endpoint, endpoint.secret


@transaction.atomic
def endpoint_update(
    *, endpoint: Endpoint, actor, url=None, description=None, event_types=None, enabled=None
) -> Endpoint:
    """Change an endpoint's address, description, event types or state. Enabling it again
    clears its failure record; deliveries still pending go out again (the sweep)."""
    endpoint = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
    changed = {}
    if url is not None and url != endpoint.url:
        url_check(url)
        endpoint.url = url
        changed["url"] = url
    if description is not None and description.strip() != endpoint.description:
        endpoint.description = description.strip()[:200]
        changed["description"] = endpoint.description
    if event_types is not None:
        cleaned = _event_types_clean(event_types)
        if cleaned != endpoint.event_types:
            endpoint.event_types = cleaned
            changed["event_types"] = cleaned
    if enabled is not None and enabled != endpoint.enabled:
        endpoint.enabled = enabled
        changed["enabled"] = enabled
        if enabled:
            endpoint.disabled_reason = ""
            endpoint.failing_since = None
        else:
            endpoint.disabled_reason = "Disabled by an admin."
    if changed:
        endpoint.save()
        events.endpoint_updated(endpoint=endpoint, actor=actor, changed=changed)
    return endpoint


@transaction.atomic
def endpoint_rotate_secret(*, endpoint: Endpoint, actor) -> tuple[Endpoint, str]:
    """A new secret signs from now on; the current one also signs for the overlap
    (``IMPRIMATUR_WEBHOOK_SECRET_OVERLAP_SECONDS``), so the receiver can switch in between.
    Returns the endpoint and its new secret (shown once)."""
    endpoint = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
    overlap = settings.IMPRIMATUR_WEBHOOK_SECRET_OVERLAP_SECONDS
    endpoint.previous_secret = endpoint.secret if overlap > 0 else ""
    endpoint.previous_secret_expires_at = (
        timezone.now() + timedelta(seconds=overlap) if overlap > 0 else None
    )
    endpoint.secret = secret_new()
    endpoint.save()
    events.endpoint_rotated(
        endpoint=endpoint, actor=actor, overlap_until=endpoint.previous_secret_expires_at
    )
    return endpoint, endpoint.secret


def payload_build(event: Event, *, organization_slug: str, occurred_at) -> dict:
    """The JSON a receiver gets (Standard Webhooks' ``type``, ``timestamp``, ``data``)."""
    return {
        "type": event.type,
        "timestamp": occurred_at.isoformat().replace("+00:00", "Z"),
        "data": {"organization": organization_slug, **event.data},
    }


def deliveries_queue(event: Event, *, occurred_at=None) -> list[Delivery]:
    """One delivery per enabled endpoint that asks for ``event``'s type, in the caller's
    transaction (the event's); each is sent once it commits."""
    endpoints = Endpoint.objects.filter(enabled=True).select_related("organization")
    if event.organization_id is not None:
        endpoints = endpoints.filter(organization_id=event.organization_id)
    occurred_at = occurred_at or timezone.now()
    deliveries = [
        Delivery(
            endpoint=endpoint,
            message_id=f"msg_{uuid.uuid4().hex}",
            event_type=event.type,
            payload=payload_build(
                event, organization_slug=endpoint.organization.slug, occurred_at=occurred_at
            ),
            next_attempt_at=timezone.now(),
        )
        for endpoint in endpoints
        if not endpoint.event_types or event.type in endpoint.event_types
    ]
    if not deliveries:
        return []
    created = Delivery.objects.bulk_create(deliveries)
    ids = (
        [delivery.pk for delivery in created]
        if created[0].pk
        else list(
            Delivery.objects.filter(
                message_id__in=[delivery.message_id for delivery in deliveries]
            ).values_list("pk", flat=True)
        )
    )
    for pk in ids:
        dispatch.delivery_send_on_commit(pk)
    return created


@transaction.atomic
def delivery_resend(*, delivery: Delivery, actor) -> Delivery:
    """Send a delivery again now, with its message id and payload, and a fresh retry
    schedule (whatever it ended with)."""
    delivery = Delivery.objects.select_for_update().select_related("endpoint").get(pk=delivery.pk)
    if not delivery.endpoint.enabled:
        raise ValidationError({"endpoint": "The endpoint is disabled: enable it first."})
    delivery.status = Delivery.Status.PENDING
    delivery.round_attempts = 0
    delivery.next_attempt_at = timezone.now()
    delivery.save(update_fields=["status", "round_attempts", "next_attempt_at"])
    events.delivery_resent(delivery=delivery, actor=actor)
    dispatch.delivery_send_on_commit(delivery.pk)
    return delivery
