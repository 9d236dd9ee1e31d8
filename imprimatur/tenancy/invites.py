"""What an organisation's admin does to people besides setting roles: invite someone by
e-mail, and revoke a member's API token. Roles and deactivation are ``members.py``'s."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from rest_framework.authtoken.models import Token

from imprimatur.tenancy import events
from imprimatur.tenancy.members import member_roles_set
from imprimatur.tenancy.models import Membership, Organization
from imprimatur.tenancy.permissions import Role

User = get_user_model()


def set_password_path(user) -> str:
    """The path of the page where ``user`` chooses a password (Django's password-reset token:
    valid once, until the password changes, for ``PASSWORD_RESET_TIMEOUT``)."""
    return reverse(
        "password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )


def _invitation_text(*, organization, user, actor, roles, site_url: str) -> str:
    labels = ", ".join(label for value, label in Role.choices if value in roles)
    who = actor.get_username() if actor is not None else "An admin"
    lines = [f"{who} added you to {organization.name} on Imprimatur, as: {labels}.", ""]
    if user.has_usable_password():
        lines.append(f"Sign in as {user.get_username()} at {site_url}{reverse('login')}")
    else:
        days = max(1, settings.PASSWORD_RESET_TIMEOUT // 86400)
        lines += [
            f"Your username is {user.get_username()}. Choose your password here (the link "
            f"works once, within {days} days):",
            f"{site_url}{set_password_path(user)}",
        ]
    lines += [
        "",
        "If your organisation signs in with single sign-on, sign in that way instead; you "
        "need no password then.",
    ]
    return "\n".join(lines)


@transaction.atomic
def member_invite(*, organization: Organization, email: str, roles, actor) -> tuple[object, bool]:
    """Give the person with this e-mail ``roles`` in ``organization`` and e-mail them: an
    existing account (found by e-mail) or a new one, with no password until they choose one
    from the link in the e-mail. Links start with ``IMPRIMATUR_BASE_URL`` (never the request's
    Host header, which a caller could forge). Returns (user, whether the account was
    created)."""
    email = (email or "").strip()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"email": "Enter a valid e-mail address."}) from None
    roles = sorted(set(roles or ()))
    if not roles:
        raise ValidationError({"roles": "Choose at least one role."})
    matches = list(User.objects.filter(email__iexact=email)[:2])
    if len(matches) > 1:
        raise ValidationError({"email": "Several accounts have this e-mail; ask a site admin."})
    created = not matches
    if created:
        if User.objects.filter(username__iexact=email).exists():
            raise ValidationError({"email": "An account with this username exists already."})
        user = User(username=email, email=email)
        user.set_unusable_password()
        user.save()
    else:
        user = matches[0]
        if Membership.objects.filter(organization=organization, user=user).exists():
            raise ValidationError(
                {"email": f"{user.get_username()} is a member already; change their roles below."}
            )
        if not user.is_active and not user.memberships.exists():
            # Disabled when their last organisation removed them; invited back now.
            user.is_active = True
            user.save(update_fields=["is_active"])
    member_roles_set(organization=organization, user=user, roles=roles, actor=actor, via="members")
    events.member_invited(
        organization=organization, user=user, actor=actor, roles=roles, account_created=created
    )
    text = _invitation_text(
        organization=organization,
        user=user,
        actor=actor,
        roles=roles,
        site_url=settings.IMPRIMATUR_BASE_URL.rstrip("/"),
    )
    transaction.on_commit(
        lambda: send_mail(
            f"You were added to {organization.name} on Imprimatur",
            text,
            None,  # DEFAULT_FROM_EMAIL
            [user.email],
        )
    )
    return user, created


@transaction.atomic
def member_token_revoke(*, organization: Organization, user, actor) -> bool:
    """Delete a member's API token (they may create a new one in their settings). The token
    is the user's, so clients using it lose access in every organisation."""
    deleted, _ = Token.objects.filter(user=user).delete()
    if deleted:
        events.member_token_revoked(organization=organization, user=user, actor=actor)
    return bool(deleted)
