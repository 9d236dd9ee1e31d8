"""An organisation's admins say which roles an identity provider's groups give
(``GroupRole``): SCIM provisioning and single sign-on read them through
``members.roles_for_groups``. Each change is audited."""

from django.core.exceptions import ValidationError
from django.db import transaction

from imprimatur.tenancy import events
from imprimatur.tenancy.models import GroupRole, Organization
from imprimatur.tenancy.permissions import Role


@transaction.atomic
def group_role_add(*, organization: Organization, group: str, role: str, actor) -> GroupRole:
    group = (group or "").strip()
    if not group or len(group) > 200:
        raise ValidationError(
            {"group": "Give the group's name at the provider (1 to 200 characters)."}
        )
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role; roles are {', '.join(Role.values)}."})
    mapping, created = GroupRole.objects.get_or_create(
        organization=organization, group=group, role=role
    )
    if not created:
        raise ValidationError({"group": f"{group} gives {mapping.get_role_display()} already."})
    events.group_role_added(mapping=mapping, actor=actor)
    return mapping


@transaction.atomic
def group_role_remove(*, mapping: GroupRole, actor) -> None:
    events.group_role_removed(mapping=mapping, actor=actor)
    mapping.delete()


def group_roles_replace(*, organization: Organization, group_roles: dict[str, set[str]]) -> None:
    """Make the organisation's whole group → role mapping ``group_roles`` (group → roles), as
    single sign-on's configuration sets it; its caller records the change."""
    unknown = {role for roles in group_roles.values() for role in roles} - set(Role.values)
    if unknown:
        raise ValidationError(
            {
                "group_roles": f"Unknown role {', '.join(sorted(unknown))}; roles are "
                f"{', '.join(Role.values)}."
            }
        )
    GroupRole.objects.filter(organization=organization).delete()
    GroupRole.objects.bulk_create(
        GroupRole(organization=organization, group=group, role=role)
        for group, roles in sorted(group_roles.items())
        for role in sorted(roles)
    )
