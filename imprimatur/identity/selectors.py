"""Reads of single sign-on: finding an organisation's provider from the login page, and
who may still sign in with a password."""

from django.contrib.auth import get_user_model

from imprimatur.identity.models import SingleSignOn
from imprimatur.tenancy.permissions import Role

User = get_user_model()


def sso_find(query: str) -> SingleSignOn | None:
    """The enabled provider for what a visitor typed on the login page: an organisation's
    slug, or a work email whose domain an organisation named. None when nothing matches."""
    query = (query or "").strip().lower()
    if not query:
        return None
    enabled = SingleSignOn.objects.filter(enabled=True).select_related("organization")
    if "@" in query:
        domain = query.rsplit("@", 1)[1]
        # Few organisations: the domain lists are compared here rather than in SQL
        # (a JSON array lookup that SQLite and PostgreSQL spell differently).
        for sso in enabled:
            if domain in {name.lower() for name in sso.email_domains}:
                return sso
        return None
    return enabled.filter(organization__slug=query).first()


def sso_any_enabled() -> bool:
    return SingleSignOn.objects.filter(enabled=True).exists()


def organization_admins(organization):
    return User.objects.filter(
        memberships__organization=organization, memberships__role=Role.ADMIN, is_active=True
    ).distinct()


def break_glass_admins(sso: SingleSignOn) -> list:
    """The users who keep their password while ``sso`` has password login off: its chosen
    break-glass users who are still active admins with a password; should none be left,
    every active admin of the organisation (so it can never lock itself out)."""
    admins = list(organization_admins(sso.organization))
    chosen_ids = set(sso.break_glass_users.values_list("pk", flat=True))
    chosen = [user for user in admins if user.pk in chosen_ids and user.has_usable_password()]
    return chosen or admins


def password_sign_in_refusal(user) -> tuple[str, SingleSignOn] | None:
    """Why ``user`` (whose password was right) may not sign in with it, and the provider
    they must use; None when they may.

    A user may while any of their organisations allows passwords (no enabled single sign-on
    or password login on), while they are a break-glass admin of one that does not, and
    always when they are a superuser (the platform's operators) or in no organisation."""
    if user.is_superuser:
        return None
    organization_ids = set(user.memberships.values_list("organization_id", flat=True))
    if not organization_ids:
        return None
    closed = list(
        SingleSignOn.objects.filter(
            organization_id__in=organization_ids, enabled=True, password_login=False
        ).select_related("organization")
    )
    if len(closed) < len(organization_ids):
        return None
    for sso in closed:
        if any(admin.pk == user.pk for admin in break_glass_admins(sso)):
            return None
    names = " and ".join(sorted(sso.organization.name for sso in closed))
    verb = "sign" if len(closed) > 1 else "signs"
    return (
        f"{names} {verb} in with single sign-on: use “Sign in with your organisation's single "
        "sign-on” below.",
        closed[0],
    )
