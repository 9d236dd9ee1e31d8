"""Webhook endpoints of an organisation, the deliveries of events to them, and each attempt.

An endpoint belongs to one organisation and receives only that organisation's events
(``catalog.py``). A delivery is one event for one endpoint: its message id (the
``webhook-id`` header, the same on every retry), the payload as first built, and where its
retries stand; each HTTP try is an ``Attempt``.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from imprimatur.tenancy.models import Organization
from imprimatur.tenancy.permissions import OrganizationScoped


class Endpoint(OrganizationScoped):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    # Event types it receives (catalog.EVENT_TYPES); empty: every type.
    event_types = models.JSONField(default=list, blank=True)
    # The signing secret, ``whsec_`` + base64 (Standard Webhooks), shown once when made. It
    # must be stored to sign, like any credential in this database.
    secret = models.CharField(max_length=200)
    # After a rotation the previous secret also signs until ``previous_secret_expires_at``.
    previous_secret = models.CharField(max_length=200, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    # The first failed attempt since the last success; None while it works.
    failing_since = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    organization_path = "organization"

    class Meta:
        ordering = ["organization", "pk"]

    def __str__(self) -> str:
        return f"Webhook endpoint {self.url}"

    def signing_secrets(self, now=None) -> list[str]:
        """The secrets that sign now: the current one, and the previous one during the
        rotation's overlap."""
        now = now or timezone.now()
        secrets = [self.secret]
        if (
            self.previous_secret
            and self.previous_secret_expires_at
            and now < (self.previous_secret_expires_at)
        ):
            secrets.append(self.previous_secret)
        return secrets


class Delivery(OrganizationScoped):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Delivered"
        FAILED = "failed", "Failed"  # every retry of the schedule failed

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    message_id = models.CharField(max_length=64, unique=True)
    event_type = models.CharField(max_length=64)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # Tries since it was queued or sent again by hand: its place in the retry schedule.
    round_attempts = models.PositiveIntegerField(default=0)
    # When the next try is due (None once it has ended); a sender claims a delivery by
    # moving this past its own timeout, so a second sender leaves it alone.
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    organization_path = "endpoint__organization"

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due")]

    def __str__(self) -> str:
        return f"{self.event_type} to {self.endpoint.url} ({self.message_id})"


class Attempt(OrganizationScoped):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_set")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    succeeded = models.BooleanField(default=False)
    error = models.CharField(max_length=500, blank=True)
    response_snippet = models.CharField(max_length=1000, blank=True)

    organization_path = "delivery__endpoint__organization"

    class Meta:
        ordering = ["delivery", "number"]
