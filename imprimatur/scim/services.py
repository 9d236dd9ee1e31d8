"""Writes of SCIM provisioning, each in one transaction with its audit event: the
organisation's token, provisioned users and groups.

Roles follow groups: whenever a user's groups change, their roles in the organisation become
``roles_for_groups(organization, names of their groups)``, set with ``member_roles_set``
(via "scim"). ``active: false`` and deletion end the membership with ``member_deactivate``
(roles taken, sessions and API token ended). The account itself is changed only where this
organisation alone holds it: a person who is also in another organisation keeps their name,
e-mail and sign-in."""

import secrets
import uuid

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from scim2_models import InvalidValueException, UniquenessException

from imprimatur.scim import events
from imprimatur.scim.models import ScimGroup, ScimToken, ScimUser, token_digest
from imprimatur.scim.resources import stored_user_attributes
from imprimatur.tenancy.members import member_deactivate, member_roles_set, roles_for_groups
from imprimatur.tenancy.models import Membership, Organization

User = get_user_model()

# bandit: the visible prefix of every SCIM token (tells a leaked one apart), not a secret.
TOKEN_PREFIX = "scim_"  # nosec B105


@transaction.atomic
def scim_token_rotate(*, organization: Organization, actor=None) -> str:
    """A new SCIM token for ``organization``, replacing its old one: the token itself, which
    is shown once and never stored (only its digest is)."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    ScimToken.objects.filter(organization=organization).delete()
    token = ScimToken.objects.create(
        organization=organization,
        digest=token_digest(raw),
        prefix=raw[: len(TOKEN_PREFIX) + 4],
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    events.token_rotated(token=token, actor=actor)
    return raw


@transaction.atomic
def scim_token_revoke(*, organization: Organization, actor=None) -> bool:
    token = ScimToken.objects.filter(organization=organization).first()
    if token is None:
        return False
    events.token_revoked(organization=organization, actor=actor, prefix=token.prefix)
    token.delete()
    return True


# -- Accounts ------------------------------------------------------------------------------------


def _held_elsewhere(organization: Organization, user) -> bool:
    """Whether another organisation holds ``user`` (a role there, or provisioned there, even
    if deprovisioned since), or the account is staff: then this organisation's provider may
    not change the account."""
    return (
        user.is_staff
        or user.is_superuser
        or Membership.objects.filter(user=user).exclude(organization=organization).exists()
        or ScimUser.objects.filter(user=user).exclude(organization=organization).exists()
    )


def _may_link(organization: Organization, user) -> bool:
    """An existing account may be linked when it is already a member of the organisation, or
    when nobody holds it and nobody can sign in with it (no roles, no provider, no password):
    then the provider takes over an account it deprovisioned earlier."""
    if Membership.objects.filter(organization=organization, user=user).exists():
        return True
    return not (
        _held_elsewhere(organization, user)
        or Membership.objects.filter(user=user).exists()
        or user.has_usable_password()
    )


def _primary_email(attributes: dict) -> str:
    emails = attributes.get("emails") or []
    chosen = next((email for email in emails if email.get("primary")), emails[0] if emails else {})
    return (chosen.get("value") or "")[:254]


def _account_update(link: ScimUser, *, rename: bool) -> None:
    """Copy the provisioned name and e-mail onto the account (and the userName onto its
    username when ``rename``); only for accounts this organisation alone holds."""
    user = link.user
    if _held_elsewhere(link.organization, user):
        return
    name = link.attributes.get("name") or {}
    user.first_name = (name.get("givenName") or "")[:150]
    user.last_name = (name.get("familyName") or "")[:150]
    user.email = _primary_email(link.attributes)
    if rename and user.username != link.user_name:
        if User.objects.filter(username__iexact=link.user_name).exclude(pk=user.pk).exists():
            raise UniquenessException(detail=f"userName {link.user_name!r} is already taken.")
        user.username = link.user_name
    user.save()


def _resource_fields(resource) -> dict:
    user_name = (resource.user_name or "").strip()
    if not user_name or len(user_name) > 150:
        raise InvalidValueException(detail="userName must be 1 to 150 characters.")
    return {
        "user_name": user_name,
        "external_id": (resource.external_id or "")[:300],
        "active": resource.active is not False,
        "attributes": stored_user_attributes(resource),
    }


def _ensure_user_name_free(organization, user_name: str, *, exclude=None) -> None:
    taken = ScimUser.objects.filter(
        organization=organization, user_name__iexact=user_name, deprovisioned_at__isnull=True
    )
    if exclude is not None:
        taken = taken.exclude(pk=exclude.pk)
    if taken.exists():
        raise UniquenessException(detail=f"userName {user_name!r} is already provisioned.")


def _deactivate(link: ScimUser) -> None:
    member_deactivate(organization=link.organization, user=link.user, via="scim")


def _roles_sync(organization: Organization, links) -> None:
    """Each active link's roles := the roles of its groups (``GroupRole``). An account given
    roles is enabled: it was disabled only for being in no organisation (another
    organisation's provider may have deactivated it while this one held it without a role)."""
    for link in links:
        if not link.active:
            continue
        names = list(link.groups.values_list("display_name", flat=True))
        roles = roles_for_groups(organization, names)
        member_roles_set(organization=organization, user=link.user, roles=roles, via="scim")
        if roles and not link.user.is_active:
            link.user.is_active = True
            link.user.save(update_fields=["is_active"])


@transaction.atomic
def scim_user_create(*, organization: Organization, resource) -> ScimUser:
    """Provision a user: a new account (no password: they sign in with single sign-on or
    set one through a reset e-mail), or a link to an account the organisation may take."""
    fields = _resource_fields(resource)
    _ensure_user_name_free(organization, fields["user_name"])
    user = User.objects.filter(username__iexact=fields["user_name"]).first()
    if user is None:
        user = User(username=fields["user_name"], is_active=fields["active"])
        user.set_unusable_password()
        user.save()
        account = "created"
    elif _may_link(organization, user):
        account = "linked"
    else:
        raise UniquenessException(
            detail=f"userName {fields['user_name']!r} belongs to an account outside this "
            "organisation; an admin can invite it on the members page first."
        )
    # This provider deleted the account earlier: its tombstone gives way to the new link.
    ScimUser.objects.filter(
        organization=organization, user=user, deprovisioned_at__isnull=False
    ).delete()
    link = ScimUser.objects.create(organization=organization, user=user, **fields)
    _account_update(link, rename=False)
    if not link.active and account == "linked":
        _deactivate(link)
    events.user_changed(action="create", link=link, data={"account": account})
    return link


@transaction.atomic
def scim_user_replace(*, link: ScimUser, resource) -> ScimUser:
    """Replace a provisioned user's attributes (PUT, and PATCH once applied)."""
    link = ScimUser.objects.select_for_update().get(pk=link.pk)
    fields = _resource_fields(resource)
    _ensure_user_name_free(link.organization, fields["user_name"], exclude=link)
    was_active = link.active
    for name, value in fields.items():
        setattr(link, name, value)
    link.save()
    _account_update(link, rename=True)
    if was_active and not link.active:
        _deactivate(link)
    elif link.active and not was_active:
        user = link.user
        if not user.is_active and not _held_elsewhere(link.organization, user):
            user.is_active = True
            user.save(update_fields=["is_active"])
        _roles_sync(link.organization, [link])
    events.user_changed(action="update", link=link)
    return link


@transaction.atomic
def scim_user_delete(*, link: ScimUser) -> None:
    """Deprovision: the membership ends as with ``active: false``, the user leaves its groups
    and disappears from SCIM (the row stays as a tombstone); the account stays (audit events
    name it), disabled unless another organisation holds it."""
    link = ScimUser.objects.select_for_update().get(pk=link.pk)
    if (
        link.active
        or Membership.objects.filter(organization=link.organization, user=link.user).exists()
    ):
        _deactivate(link)
    events.user_changed(action="delete", link=link)
    link.groups.clear()
    link.deprovisioned_at = timezone.now()
    link.save(update_fields=["deprovisioned_at", "updated_at"])


# -- Groups --------------------------------------------------------------------------------------


def _group_fields(organization, resource, *, exclude=None) -> tuple[dict, list[ScimUser]]:
    display_name = (resource.display_name or "").strip()
    if not display_name or len(display_name) > 200:
        raise InvalidValueException(detail="displayName must be 1 to 200 characters.")
    taken = ScimGroup.objects.filter(organization=organization, display_name__iexact=display_name)
    if exclude is not None:
        taken = taken.exclude(pk=exclude.pk)
    if taken.exists():
        raise UniquenessException(detail=f"A group named {display_name!r} already exists.")
    ids = [member.value for member in resource.members or []]
    members = _members(organization, ids)
    return {
        "display_name": display_name,
        "external_id": (resource.external_id or "")[:300],
    }, members


def _members(organization, ids: list) -> list[ScimUser]:
    """The organisation's provisioned users with these SCIM ids (an unknown one is refused)."""
    valid = set()
    for value in {str(value) for value in ids}:
        try:
            valid.add(uuid.UUID(value))
        except (TypeError, ValueError):
            raise InvalidValueException(detail=f"No user with id {value!r}.") from None
    found = list(
        ScimUser.objects.filter(
            organization=organization, pk__in=valid, deprovisioned_at__isnull=True
        )
    )
    if len(found) != len(valid):
        missing = sorted(str(value) for value in valid - {link.pk for link in found})
        raise InvalidValueException(detail=f"No user with id {', '.join(missing)}.")
    return found


@transaction.atomic
def scim_group_create(*, organization: Organization, resource) -> ScimGroup:
    fields, members = _group_fields(organization, resource)
    group = ScimGroup.objects.create(organization=organization, **fields)
    group.members.set(members)
    _roles_sync(organization, members)
    events.group_changed(action="create", group=group, data={"members": len(members)})
    return group


@transaction.atomic
def scim_group_replace(*, group: ScimGroup, resource) -> ScimGroup:
    """Replace a group's name and members (PUT, and PATCH once applied); the roles of every
    user whose groups changed are set again."""
    group = ScimGroup.objects.select_for_update().get(pk=group.pk)
    fields, members = _group_fields(group.organization, resource, exclude=group)
    before = set(group.members.all())
    renamed = fields["display_name"] != group.display_name
    for name, value in fields.items():
        setattr(group, name, value)
    group.save()
    group.members.set(members)
    after = set(members)
    affected = before | after if renamed else before ^ after
    _roles_sync(group.organization, sorted(affected, key=lambda link: str(link.pk)))
    events.group_changed(
        action="update",
        group=group,
        data={"added": len(after - before), "removed": len(before - after), "renamed": renamed},
    )
    return group


@transaction.atomic
def scim_group_delete(*, group: ScimGroup) -> None:
    group = ScimGroup.objects.select_for_update().get(pk=group.pk)
    members = list(group.members.all())
    events.group_changed(action="delete", group=group, data={"members": len(members)})
    group.delete()
    _roles_sync(group.organization, members)


@transaction.atomic
def scim_roles_resync(*, organization: Organization) -> int:
    """Set again the roles of every provisioned user who is in a group, after the groups'
    roles (``GroupRole``) changed: the number of users looked at. Users in no group keep
    the roles they have."""
    links = list(
        ScimUser.objects.filter(
            organization=organization,
            active=True,
            deprovisioned_at__isnull=True,
            groups__isnull=False,
        )
        .distinct()
        .select_related("user")
    )
    _roles_sync(organization, links)
    return len(links)
