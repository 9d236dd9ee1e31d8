"""Single sign-on: one OpenID Connect provider per organisation, and the link from a
provider's (issuer, subject) to the user it signs in."""

from django.conf import settings
from django.db import models

from imprimatur.tenancy.models import Organization
from imprimatur.tenancy.permissions import OrganizationScoped

DEFAULT_SCOPES = "openid email profile"


class SingleSignOn(OrganizationScoped):
    """An organisation's OpenID Connect provider (its "issuer"), the client registered
    there, and whether its members may still sign in with a password.

    The provider's endpoints come from its discovery document
    (``<issuer>/.well-known/openid-configuration``), fetched when the configuration is
    saved (``services.sso_configure``); the signing keys (JWKS) at each sign-in, so a key
    rotation at the provider needs nothing here. Which provider group gives which role is
    ``tenancy.GroupRole``."""

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="single_sign_on"
    )
    enabled = models.BooleanField(default=True, help_text="Offer sign-in through this provider.")
    issuer = models.URLField(
        max_length=500, help_text="The provider's issuer URL, exactly as its tokens name it."
    )
    client_id = models.CharField(max_length=255)
    # Never shown back (admin, command); stored as the provider gave it, like any
    # credential in this database.
    client_secret = models.CharField(max_length=500, blank=True)
    scopes = models.CharField(max_length=300, default=DEFAULT_SCOPES)
    groups_claim = models.CharField(
        max_length=100,
        default="groups",
        help_text="The claim (ID token or userinfo) that lists the user's groups.",
    )
    email_domains = models.JSONField(
        default=list,
        blank=True,
        help_text="Work email domains that find this organisation on the login page, e.g. "
        '["acme.com"]; empty: found by its slug only.',
    )
    password_login = models.BooleanField(
        default=True,
        help_text="Members may also sign in with a password. Off: only the break-glass admins "
        "may (a member of another organisation that allows passwords still may).",
    )
    break_glass_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="+",
        help_text="Admins of the organisation who keep their password when password login is "
        "off. Should none of them remain an active admin with a password, every active admin "
        "keeps theirs: an organisation cannot lock itself out.",
    )
    # From the discovery document.
    authorization_endpoint = models.URLField(max_length=500)
    token_endpoint = models.URLField(max_length=500)
    userinfo_endpoint = models.URLField(max_length=500, blank=True)
    jwks_uri = models.URLField(max_length=500)
    token_auth_method = models.CharField(
        max_length=30,
        default="client_secret_post",
        help_text="How the client authenticates at the token endpoint (from discovery).",
    )
    discovered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "single sign-on"
        verbose_name_plural = "single sign-on"

    def __str__(self) -> str:
        return f"{self.organization} · {self.issuer}"


class IdentityLink(OrganizationScoped):
    """The user a provider's subject signs in as. (issuer, subject) is the only identity
    single sign-on trusts: emails change and can be reused, subjects cannot."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="identity_links"
    )
    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="identity_links",
        help_text="The organisation whose provider first signed this subject in.",
    )
    issuer = models.CharField(max_length=500)
    subject = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["issuer", "subject"]
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="identitylink_unique"),
            # One account holds at most one subject of an issuer.
            models.UniqueConstraint(fields=["user", "issuer"], name="identitylink_user_issuer"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer} → {self.user}"
