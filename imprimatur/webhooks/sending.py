"""Sending one delivery: sign (Standard Webhooks, with every secret valid now), POST to the
endpoint's checked address with bounded timeouts, record the attempt, and either end the
delivery or schedule its next try (``IMPRIMATUR_WEBHOOK_RETRY_SCHEDULE``). An endpoint
failing without a success for ``IMPRIMATUR_WEBHOOK_DISABLE_AFTER_SECONDS`` is disabled and
its organisation's admins are told.

No database transaction is open while the request is in flight: the delivery is claimed
first (its ``next_attempt_at`` moves past the request's timeout, so neither a duplicate
message nor the sweep sends it twice), then the attempt is recorded in a second transaction.
"""

import json
import logging
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import urllib3
from django.conf import settings
from django.core.mail import send_mass_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from standardwebhooks import Webhook

from imprimatur.tenancy.models import Membership
from imprimatur.tenancy.permissions import Role
from imprimatur.webhooks import dispatch, events
from imprimatur.webhooks.addresses import AddressRefused, address_resolve, url_parts
from imprimatur.webhooks.models import Attempt, Delivery, Endpoint

logger = logging.getLogger(__name__)

SNIPPET_BYTES = 1000
CLAIM_MARGIN_S = 30
USER_AGENT = "Imprimatur-Webhooks/1"


def signature_header(secrets: list[str], *, message_id: str, sent_at: datetime, body: str) -> str:
    """``webhook-signature``: one ``v1,<base64>`` per secret, space-separated."""
    return " ".join(Webhook(secret).sign(message_id, sent_at, body) for secret in secrets)


def http_post(url: str, body: bytes, headers: dict, timeout: float) -> tuple[int, str]:
    """POST ``body`` to ``url`` at the address checked now; (status, start of the answer).
    No redirect is followed: a redirect is an answer, and not a success."""
    scheme, host, port = url_parts(url)
    address = address_resolve(host, port)
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    limits = urllib3.Timeout(connect=min(timeout, 5.0), read=timeout, total=timeout)
    if scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            address, port, timeout=limits, retries=False, server_hostname=host,
            assert_hostname=host, cert_reqs="CERT_REQUIRED",
        )  # fmt: skip
    else:
        pool = urllib3.HTTPConnectionPool(address, port, timeout=limits, retries=False)
    default_port = (scheme == "https" and port == 443) or (scheme == "http" and port == 80)
    headers = {**headers, "Host": host if default_port else f"{host}:{port}"}
    with pool:
        response = pool.urlopen(
            "POST", path, body=body, headers=headers, redirect=False, retries=False,
            preload_content=False, assert_same_host=False,
        )  # fmt: skip
        try:
            snippet = response.read(SNIPPET_BYTES)
        finally:
            response.release_conn()
    return response.status, snippet.decode("utf-8", errors="replace")


def _claim(delivery_id: int, now) -> tuple[Delivery, list[str]] | None:
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(of=("self",))
            .select_related("endpoint")
            .filter(pk=delivery_id)
            .first()
        )
        if (
            delivery is None
            or delivery.status != Delivery.Status.PENDING
            or not delivery.endpoint.enabled
            or delivery.next_attempt_at is None
            or delivery.next_attempt_at > now
        ):
            return None  # ended, disabled, not due yet, or another sender has it
        timeout = settings.IMPRIMATUR_WEBHOOK_TIMEOUT_SECONDS
        delivery.next_attempt_at = now + timedelta(seconds=timeout + CLAIM_MARGIN_S)
        delivery.save(update_fields=["next_attempt_at"])
        return delivery, delivery.endpoint.signing_secrets(now)


def delivery_attempt(delivery_id: int) -> Attempt | None:
    """Try delivery ``delivery_id`` once if it is due; the attempt, or None if it was not."""
    claimed = _claim(delivery_id, timezone.now())
    if claimed is None:
        return None
    delivery, secrets = claimed
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True)
    sent_at = datetime.now(UTC).replace(microsecond=0)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signature_header(
            secrets, message_id=delivery.message_id, sent_at=sent_at, body=body
        ),
    }
    started_at = timezone.now()
    started = time.monotonic()
    status_code, snippet, error = None, "", ""
    try:
        status_code, snippet = http_post(
            delivery.endpoint.url,
            body.encode("utf-8"),
            headers,
            settings.IMPRIMATUR_WEBHOOK_TIMEOUT_SECONDS,
        )
        if not 200 <= status_code < 300:
            error = f"The endpoint answered HTTP {status_code}."
    except AddressRefused as exc:
        error = str(exc)
    except Exception as exc:  # connection refused, timeout, TLS: the attempt failed
        error = f"{type(exc).__name__}: {exc}"
    return _attempt_record(
        delivery_id,
        started_at=started_at,
        duration_ms=round((time.monotonic() - started) * 1000),
        status_code=status_code,
        snippet=snippet,
        error=error,
    )


@transaction.atomic
def _attempt_record(delivery_id, *, started_at, duration_ms, status_code, snippet, error):
    delivery = Delivery.objects.select_for_update().get(pk=delivery_id)
    endpoint = Endpoint.objects.select_for_update().get(pk=delivery.endpoint_id)
    succeeded = not error
    delivery.attempts += 1
    delivery.round_attempts += 1
    attempt = Attempt.objects.create(
        delivery=delivery,
        number=delivery.attempts,
        started_at=started_at,
        duration_ms=duration_ms,
        status_code=status_code,
        succeeded=succeeded,
        error=error[:500],
        response_snippet=snippet[:1000],
    )
    now = timezone.now()
    if succeeded:
        delivery.status = Delivery.Status.SUCCEEDED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        if endpoint.failing_since is not None:
            endpoint.failing_since = None
            endpoint.save(update_fields=["failing_since"])
    else:
        schedule = settings.IMPRIMATUR_WEBHOOK_RETRY_SCHEDULE
        if delivery.round_attempts < len(schedule):
            delay = schedule[delivery.round_attempts]
            delivery.next_attempt_at = now + timedelta(seconds=delay)
            dispatch.delivery_send_on_commit(delivery.pk, countdown=delay)
        else:
            delivery.status = Delivery.Status.FAILED
            delivery.next_attempt_at = None
        _endpoint_failed(endpoint, started_at, now)
    delivery.save(
        update_fields=["attempts", "round_attempts", "status", "delivered_at", "next_attempt_at"]
    )
    return attempt


def _endpoint_failed(endpoint: Endpoint, failed_at, now) -> None:
    if endpoint.failing_since is None:
        endpoint.failing_since = failed_at
        endpoint.save(update_fields=["failing_since"])
        return
    limit = timedelta(seconds=settings.IMPRIMATUR_WEBHOOK_DISABLE_AFTER_SECONDS)
    if endpoint.enabled and now - endpoint.failing_since >= limit:
        endpoint.enabled = False
        endpoint.disabled_reason = (
            f"Every delivery failed since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC."
        )
        endpoint.save(update_fields=["enabled", "disabled_reason"])
        events.endpoint_disabled(endpoint=endpoint, failing_since=endpoint.failing_since)
        _admins_tell(endpoint)


def _admins_tell(endpoint: Endpoint) -> None:
    """Email the organisation's admins, once the disabling commits."""
    admins = Membership.objects.filter(
        organization_id=endpoint.organization_id, role=Role.ADMIN, user__is_active=True
    ).select_related("user")
    url = settings.IMPRIMATUR_BASE_URL + reverse("webhooks:endpoint", args=[endpoint.pk])
    subject = f"[Imprimatur] Webhook endpoint disabled: {endpoint.url}"[:150]
    text = (
        f"The webhook endpoint {endpoint.url} of {endpoint.organization} was disabled: "
        f"{endpoint.disabled_reason}\nEnable it again once it answers: {url}\n"
    )
    mails = [
        (subject, text, settings.DEFAULT_FROM_EMAIL, [m.user.email]) for m in admins if m.user.email
    ]
    if not mails:
        return

    def send() -> None:
        try:
            send_mass_mail(mails, fail_silently=False)
        except Exception:  # the page shows it too; a mail hiccup must not fail the worker
            logger.exception("Could not email the admins about a disabled webhook endpoint")

    transaction.on_commit(send)


def deliveries_due_send(limit: int = 500) -> int:
    """Send again every pending delivery whose try is overdue (its message was lost, or the
    endpoint was enabled again); the number sent. Beat runs it every minute."""
    overdue = timezone.now() - timedelta(seconds=CLAIM_MARGIN_S)
    due = list(
        Delivery.objects.filter(
            status=Delivery.Status.PENDING, next_attempt_at__lte=overdue, endpoint__enabled=True
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in due:
        dispatch.delivery_send(pk)
    return len(due)
