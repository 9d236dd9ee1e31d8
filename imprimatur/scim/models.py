"""What an organisation's identity provider provisioned over SCIM 2.0: its bearer token, the
users it provisioned (a link to a Django user) and its groups.

A user's roles in the organisation are not stored here: they are memberships, set from the
names of the user's groups through ``GroupRole`` rows (``imprimatur.tenancy.members``). A
provisioned user with no role is not a member, but keeps the link, so the provider still
sees them."""

import hashlib
import uuid

from django.conf import settings
from django.db import models

from imprimatur.tenancy.models import Organization
from imprimatur.tenancy.permissions import OrganizationScoped


def token_digest(raw: str) -> str:
    """What is stored of a SCIM token: its SHA-256 digest (tokens are random, 256 bits)."""
    return hashlib.sha256(raw.encode()).hexdigest()


class ScimToken(OrganizationScoped):
    """An organisation's SCIM bearer token; only its SHA-256 digest is kept. One token per
    organisation: rotating it replaces the old one at once."""

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="scim_token"
    )
    digest = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the token.")
    prefix = models.CharField(max_length=16, help_text="The token's first characters.")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"SCIM token {self.prefix}… of {self.organization}"


class ScimUser(OrganizationScoped):
    """A user as one organisation's provider provisioned them: the SCIM id it knows them by,
    the attributes it sent (returned as sent), and whether it holds them active."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="scim_users"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="scim_links"
    )
    user_name = models.CharField(max_length=150)
    external_id = models.CharField(max_length=300, blank=True)
    active = models.BooleanField(default=True)
    attributes = models.JSONField(default=dict, help_text="The SCIM attributes as sent.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Set when the provider deleted the user: the row stays as a tombstone, so the account is
    # still known to have been this organisation's and no other organisation's provider can
    # claim it; the same provider may provision it again.
    deprovisioned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["organization", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "user"],
                condition=models.Q(deprovisioned_at__isnull=True),
                name="scimuser_unique_user",
            ),
            models.UniqueConstraint(
                fields=["organization", "user_name"],
                condition=models.Q(deprovisioned_at__isnull=True),
                name="scimuser_unique_username",
            ),
        ]

    def __str__(self) -> str:
        return self.user_name


class ScimGroup(OrganizationScoped):
    """A group of an organisation's provider, with its members; its name maps to roles."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="scim_groups"
    )
    display_name = models.CharField(max_length=200)
    external_id = models.CharField(max_length=300, blank=True)
    members = models.ManyToManyField(ScimUser, related_name="groups", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization", "display_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "display_name"], name="scimgroup_unique_name"
            )
        ]

    def __str__(self) -> str:
        return self.display_name
