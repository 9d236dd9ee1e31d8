"""Writes of single sign-on: configuring an organisation's provider, and what one sign-in
does (find or create the user, set their roles from the provider's groups)."""

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from imprimatur.errors import LastAdmin
from imprimatur.identity import events
from imprimatur.identity.discovery import provider_discover
from imprimatur.identity.models import IdentityLink, SingleSignOn
from imprimatur.tenancy.group_roles import group_roles_replace
from imprimatur.tenancy.members import member_roles_set, roles_for_groups
from imprimatur.tenancy.models import GroupRole, Organization
from imprimatur.tenancy.permissions import Role

User = get_user_model()
logger = logging.getLogger(__name__)

DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
CONFIG_FIELDS = (
    "enabled", "issuer", "client_id", "client_secret", "scopes", "groups_claim",
    "email_domains", "password_login",
)  # fmt: skip


def issuer_check(issuer: str) -> None:
    parts = urlsplit(issuer)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return  # a provider on this machine (development, the tests)
    raise ValidationError(
        {"issuer": f"The issuer must be an https:// URL (or http:// on loopback), not {issuer!r}."}
    )


def domains_clean(organization: Organization, domains: Iterable[str]) -> list[str]:
    cleaned = sorted({domain.strip().lower().lstrip("@") for domain in domains if domain.strip()})
    bad = [domain for domain in cleaned if not DOMAIN.match(domain)]
    if bad:
        raise ValidationError({"email_domains": f"Not a domain: {', '.join(bad)}."})
    for other in SingleSignOn.objects.exclude(organization=organization):
        taken = set(cleaned) & {domain.lower() for domain in other.email_domains}
        if taken:
            raise ValidationError(
                {"email_domains": f"{', '.join(sorted(taken))} already finds another organisation."}
            )
    return cleaned


def break_glass_check(sso: SingleSignOn, users: list) -> None:
    admin_ids = set(
        User.objects.filter(
            memberships__organization=sso.organization,
            memberships__role=Role.ADMIN,
            is_active=True,
        ).values_list("pk", flat=True)
    )
    not_admins = [user.get_username() for user in users if user.pk not in admin_ids]
    if not_admins:
        raise ValidationError(
            {
                "break_glass_users": f"Break-glass users must be active admins of "
                f"{sso.organization}: {', '.join(sorted(not_admins))} is not."
            }
        )
    if not sso.password_login and not any(user.has_usable_password() for user in users):
        raise ValidationError(
            {
                "break_glass_users": "Turning password login off needs at least one break-glass "
                "admin with a password, who can still sign in should the provider fail."
            }
        )


def sso_configure(
    *,
    organization: Organization,
    actor=None,
    group_roles: dict[str, set[str]] | None = None,
    break_glass: Iterable | None = None,
    rediscover: bool = False,
    metadata=None,
    **values,
) -> SingleSignOn:
    """Create or change ``organization``'s single sign-on. ``values``: fields of
    ``SingleSignOn`` (``CONFIG_FIELDS``); ``group_roles`` ({group: {roles}}) replaces the
    organisation's group mapping; ``break_glass`` (users) replaces its break-glass admins.

    The discovery document is read when the issuer is new or changes (or ``rediscover``),
    before the transaction (``metadata``: a document already read). Raises
    ``ValidationError`` (by field) on bad input."""
    unknown = set(values) - set(CONFIG_FIELDS)
    if unknown:
        raise TypeError(f"Unknown single sign-on fields: {', '.join(sorted(unknown))}.")
    sso = SingleSignOn.objects.filter(organization=organization).first()
    issuer = values.get("issuer", sso.issuer if sso else "")
    if not issuer:
        raise ValidationError({"issuer": "Give the provider's issuer URL."})
    issuer_check(issuer)
    if metadata is None and (sso is None or rediscover or issuer != sso.issuer):
        metadata = provider_discover(issuer)
    return _sso_save(
        organization=organization,
        sso=sso,
        actor=actor,
        values=values,
        metadata=metadata,
        group_roles=group_roles,
        break_glass=None if break_glass is None else list(break_glass),
    )


@transaction.atomic
def _sso_save(*, organization, sso, actor, values, metadata, group_roles, break_glass):
    changed = [name for name, value in values.items() if sso is None or getattr(sso, name) != value]
    if sso is None:
        sso = SingleSignOn(organization=organization)
    for name, value in values.items():
        setattr(sso, name, value)
    if "email_domains" in values:
        sso.email_domains = domains_clean(organization, values["email_domains"])
    if not sso.client_id.strip():
        raise ValidationError({"client_id": "Give the client id registered at the provider."})
    if metadata is not None:
        for name in (
            "authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
            "token_auth_method",
        ):  # fmt: skip
            setattr(sso, name, getattr(metadata, name))
        sso.discovered_at = timezone.now()
        changed.append("discovery")
    sso.full_clean(exclude=["organization", "break_glass_users"])
    sso.save()
    if break_glass is not None:
        sso.break_glass_users.set(break_glass)
        changed.append("break_glass_users")
    # Checked when the list or the switch changes: a break-glass admin demoted since does
    # not block other changes (``selectors.break_glass_admins`` then falls back to every admin).
    if break_glass is not None or values.get("password_login") is False:
        break_glass_check(sso, list(sso.break_glass_users.all()))
    mapping = {}
    if group_roles is not None:
        group_roles_replace(organization=organization, group_roles=group_roles)
        changed.append("group_roles")
    for row in GroupRole.objects.filter(organization=organization):
        mapping.setdefault(row.group, []).append(row.role)
    events.sso_configured(sso=sso, actor=actor, fields=changed, group_roles=mapping)
    return sso


# --- One sign-in ----------------------------------------------------------------------


@dataclass
class SignIn:
    """What a sign-in came to: the user to log in, or why not (a sentence for the page)."""

    user: object = None
    refused: str = ""
    roles: set[str] = field(default_factory=set)


def claim_groups(claims: dict, name: str) -> list[str]:
    """The groups a claim lists: a list of names, or one name; anything else none."""
    value = claims.get(name)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [str(item) for item in value if isinstance(item, str | int)]
    return []


def _email_verified(claims: dict) -> bool:
    # Some providers send the boolean as a string.
    return claims.get("email_verified") in (True, "true", "True")


def _username_for(claims: dict) -> str:
    base = claims.get("preferred_username") or (claims.get("email") or "").split("@")[0]
    base = re.sub(r"[^\w.@+-]", "-", str(base)).strip("-")[:140] or "sso-user"
    username, number = base, 1
    while User.objects.filter(username__iexact=username).exists():
        number += 1
        username = f"{base}-{number}"
    return username


def _link_candidate(sso: SingleSignOn, claims: dict):
    """The existing account that a first sign-in may take over by email, or why not.

    Only an account that is already a member of this organisation, not yet linked to a
    subject of this issuer, with the email the provider says it verified (in one of the
    organisation's domains when it names any): the provider's word alone never hands over
    an account that the organisation did not already hold."""
    email = (claims.get("email") or "").strip()
    if not email:
        return None, ""
    accounts = list(User.objects.filter(email__iexact=email))
    if not accounts:
        return None, ""
    reason = (
        f"An account with the email {email} already exists and cannot be linked to this "
        "sign-in automatically"
    )
    domain = email.rsplit("@", 1)[-1].lower()
    if not _email_verified(claims):
        return None, reason + ": the provider did not say the email is verified."
    if sso.email_domains and domain not in {name.lower() for name in sso.email_domains}:
        return None, reason + f": {domain} is not one of {sso.organization}'s email domains."
    safe = [
        user
        for user in accounts
        if user.is_active
        and user.memberships.filter(organization=sso.organization).exists()
        and not IdentityLink.objects.filter(user=user, issuer=sso.issuer).exists()
    ]
    if len(safe) != 1:
        return None, reason + f": it is not a member of {sso.organization} (or not only one is)."
    return safe[0], ""


def _roles_apply(sso: SingleSignOn, user, roles: set[str], groups: list[str]):
    """Set ``user``'s roles in the organisation to ``roles``. When that would take the
    admin role from the last admin, the admin role is kept (and recorded): an organisation
    without an admin could only be repaired by the platform's operators."""
    try:
        return member_roles_set(
            organization=sso.organization, user=user, roles=roles, actor=None, via="sso"
        )
    except LastAdmin:
        logger.warning(
            "%s's provider no longer makes %s an admin, but they are its last admin: kept.",
            sso.organization,
            user.get_username(),
        )
        events.sso_admin_kept(sso=sso, user=user, groups=groups)
        roles.add(Role.ADMIN)
        return member_roles_set(
            organization=sso.organization, user=user, roles=roles, actor=None, via="sso"
        )


def sso_sign_in(*, sso: SingleSignOn, claims: dict) -> SignIn:
    """``_sso_sign_in``, tried once more when a concurrent first sign-in of the same subject
    (two tabs, a double click at the provider) created the user or the link first: the
    second try finds that link instead of answering 500."""
    try:
        return _sso_sign_in(sso=sso, claims=claims)
    except IntegrityError:
        return _sso_sign_in(sso=sso, claims=claims)


@transaction.atomic
def _sso_sign_in(*, sso: SingleSignOn, claims: dict) -> SignIn:
    """One sign-in with the verified claims of ``sso``'s provider (``sub`` from the ID
    token): the user, found by their (issuer, subject) link, linked or created on their
    first sign-in; their email kept; their roles set from their groups, every time.

    Refusals are returned, not raised, so that what they did (roles taken from a user the
    provider no longer puts in any mapped group) and their audit events are kept."""
    subject = str(claims["sub"])
    groups = claim_groups(claims, sso.groups_claim)
    roles = roles_for_groups(sso.organization, groups)
    link = (
        IdentityLink.objects.select_for_update()
        .select_related("user")
        .filter(issuer=sso.issuer, subject=subject)
        .first()
    )

    def refuse(reason: str, message: str, user=None) -> SignIn:
        events.sso_refused(sso=sso, subject=subject, reason=reason, user=user, groups=groups)
        return SignIn(refused=message)

    no_role = (
        f"You signed in at {sso.organization}'s identity provider, but none of your groups "
        f"there ({', '.join(sorted(groups)) or 'none'}) gives a role in Imprimatur. Ask "
        f"{sso.organization}'s administrators to add you to a group that does."
    )
    if link is None:
        if not roles:
            return refuse("no_role", no_role)
        user, why_not = _link_candidate(sso, claims)
        if why_not:
            return refuse("email_in_use", why_not + " Ask an administrator.")
        if user is not None:
            events.sso_linked(sso=sso, user=user, subject=subject)
        else:
            user = User(username=_username_for(claims), email=claims.get("email") or "")
            user.set_unusable_password()
            user.save()
            events.sso_provisioned(sso=sso, user=user, subject=subject)
        link = IdentityLink.objects.create(
            user=user, organization=sso.organization, issuer=sso.issuer, subject=subject
        )
    user = link.user
    if not user.is_active:
        return refuse("inactive", "Your account is disabled. Ask an administrator.", user)
    email = (claims.get("email") or "").strip()
    if email and email != user.email:
        user.email = email
        user.save(update_fields=["email"])
    granted, revoked = _roles_apply(sso, user, set(roles), groups)
    held = set(
        user.memberships.filter(organization=sso.organization).values_list("role", flat=True)
    )
    if not held:
        return refuse("no_role", no_role, user)
    link.last_sign_in_at = timezone.now()
    link.save(update_fields=["last_sign_in_at"])
    events.sso_signed_in(
        sso=sso, user=user, subject=subject, groups=groups, granted=granted, revoked=revoked
    )
    return SignIn(user=user, roles=held)
