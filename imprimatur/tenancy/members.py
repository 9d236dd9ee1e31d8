"""People in organisations: a member's roles set as a whole, deactivation that ends the
member's sessions and API tokens, and the guard that keeps one admin in every organisation.

The members page, SCIM provisioning and single sign-on all change memberships through
these functions, so each change is audited the same way whichever door it came through
(``via``: "members", "scim", "sso", "admin", "command")."""

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from imprimatur.errors import LastAdmin
from imprimatur.tenancy import events
from imprimatur.tenancy.models import GroupRole, Membership, Organization
from imprimatur.tenancy.permissions import Role

User = get_user_model()


def roles_for_groups(organization: Organization, groups: Iterable[str]) -> set[str]:
    """The roles that the provider groups ``groups`` give in ``organization`` (GroupRole rows;
    group names compare exactly)."""
    names = {str(group) for group in groups}
    if not names:
        return set()
    return set(
        GroupRole.objects.filter(organization=organization, group__in=names).values_list(
            "role", flat=True
        )
    )


def _ensure_admin_remains(organization: Organization, *, losing_admin) -> None:
    """Refuse when ``losing_admin`` is the organisation's only active admin."""
    others = (
        Membership.objects.filter(organization=organization, role=Role.ADMIN, user__is_active=True)
        .exclude(user=losing_admin)
        .exists()
    )
    if not others:
        raise LastAdmin(
            f"{losing_admin.get_username()} is the last admin of {organization}; make someone "
            "else an admin first."
        )


@transaction.atomic
def member_roles_set(
    *, organization: Organization, user, roles: Iterable[str], actor=None, via: str = "members"
) -> tuple[set[str], set[str]]:
    """Make ``user``'s roles in ``organization`` exactly ``roles``: (granted, revoked).

    Each role granted or revoked is one audit event. Taking the admin role from the last
    active admin raises ``LastAdmin`` and changes nothing."""
    wanted = set(roles)
    unknown = wanted - set(Role.values)
    if unknown:
        raise ValueError(
            f"Unknown role {', '.join(sorted(unknown))}; roles are {', '.join(Role.values)}."
        )
    # Lock the organisation's admin rows: two concurrent demotions cannot both pass the guard.
    list(Membership.objects.select_for_update().filter(organization=organization, role=Role.ADMIN))
    current = set(
        Membership.objects.filter(organization=organization, user=user).values_list(
            "role", flat=True
        )
    )
    revoked, granted = current - wanted, wanted - current
    if Role.ADMIN in revoked:
        _ensure_admin_remains(organization, losing_admin=user)
    for membership in Membership.objects.filter(
        organization=organization, user=user, role__in=revoked
    ):
        events.membership_revoked(membership=membership, actor=actor, via=via)
        membership.delete()
    for role in sorted(granted):
        membership = Membership.objects.create(organization=organization, user=user, role=role)
        events.membership_granted(membership=membership, actor=actor, via=via)
    return granted, revoked


def user_sessions_end(user) -> int:
    """End every web session of ``user`` and delete their API token: the number of sessions.

    Sessions are stored in the database (Django's default engine); each unexpired one is
    decoded to find its user."""
    ended = 0
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if session.get_decoded().get("_auth_user_id") == str(user.pk):
            session.delete()
            ended += 1
    Token.objects.filter(user=user).delete()
    return ended


@transaction.atomic
def member_deactivate(
    *, organization: Organization, user, actor=None, via: str = "members"
) -> dict:
    """Take every role of ``user`` in ``organization`` and end their sessions and API token.

    A user left with no organisation (and not a superuser) is made inactive, so they cannot
    sign in at all. Refuses (``LastAdmin``) to remove the organisation's last admin."""
    _granted, revoked = member_roles_set(
        organization=organization, user=user, roles=(), actor=actor, via=via
    )
    sessions = user_sessions_end(user)
    deactivated = False
    if not user.is_superuser and not user.memberships.exists() and user.is_active:
        user.is_active = False
        user.save(update_fields=["is_active"])
        deactivated = True
    events.member_deactivated(
        organization=organization,
        user=user,
        actor=actor,
        via=via,
        roles=sorted(revoked),
        sessions=sessions,
        account_disabled=deactivated,
    )
    return {"roles": sorted(revoked), "sessions": sessions, "account_disabled": deactivated}
