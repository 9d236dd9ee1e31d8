"""The audit events this app records: their names and meanings, registered from
``AppConfig.ready`` (see ``governance.audit.registry``), and one function per event that
records it with its data. Call them inside the transaction that makes the change."""

from governance.audit.services import audit_record

ACTIONS: dict[str, str] = {
    "tenancy.organization.create": "An organisation was created.",
    "tenancy.membership.grant": "A user was given a role in an organisation.",
    "tenancy.membership.revoke": "A user's role in an organisation was taken away.",
    "tenancy.member.deactivate": "A member was removed from an organisation; their sessions "
    "and API token were ended.",
    "tenancy.project.create": "A brand project was created.",
    "tenancy.project.update": "A brand project or its brand kit was changed.",
    "tenancy.reference.add": "An admin added a reference image to a brand kit.",
    "tenancy.reference.remove": "An admin removed a reference image from a brand kit.",
    "tenancy.member.invite": "An admin invited someone to an organisation by e-mail, with "
    "their roles.",
    "tenancy.member.token_revoke": "An admin revoked a member's API token.",
    "tenancy.group_role.add": "An admin made a provider group give a role (SCIM, single sign-on).",
    "tenancy.group_role.remove": "An admin stopped a provider group giving a role.",
    "auth.token.create": "A user created an API token.",
    "auth.token.revoke": "A user revoked their API token.",
}


def organization_created(*, organization, actor=None):
    return audit_record(
        action="tenancy.organization.create",
        actor=actor,
        organization=organization,
        target=organization,
    )


def _membership_event(action: str, membership, actor, via: str):
    return audit_record(
        action=action,
        actor=actor,
        organization=membership.organization,
        target=membership,
        data={
            "user": membership.user.get_username(),
            "role": membership.role,
            **({"via": via} if via else {}),
        },
    )


def membership_granted(*, membership, actor=None, via: str = ""):
    return _membership_event("tenancy.membership.grant", membership, actor, via)


def membership_revoked(*, membership, actor=None, via: str = ""):
    """Record before deleting the membership."""
    return _membership_event("tenancy.membership.revoke", membership, actor, via)


def member_deactivated(
    *, organization, user, actor, via: str, roles: list, sessions: int, account_disabled: bool
):
    return audit_record(
        action="tenancy.member.deactivate",
        actor=actor,
        organization=organization,
        target=user,
        data={
            "user": user.get_username(),
            "roles": roles,
            "sessions_ended": sessions,
            "account_disabled": account_disabled,
            "via": via,
        },
    )


def project_created(*, project, actor=None):
    return audit_record(
        action="tenancy.project.create",
        actor=actor,
        organization=project.organization,
        target=project,
        project=project,
        data={"slug": project.slug},
    )


def project_updated(*, project, actor, fields: list[str], changes: dict, via: str = ""):
    """``fields``: the names that changed; ``changes``: {name: {"before", "after"}} for those
    whose values the event keeps; ``via``: the page it was changed from, when not the kit's."""
    return audit_record(
        action="tenancy.project.update",
        actor=actor,
        organization=project.organization,
        target=project,
        project=project,
        data={"fields": fields, **changes, **({"via": via} if via else {})},
    )


def reference_added(*, reference, actor):
    project = reference.project
    return audit_record(
        action="tenancy.reference.add",
        actor=actor,
        organization=project.organization,
        target=reference,
        data={"project": project.slug, "caption": reference.caption, "file": reference.image.name},
    )


def reference_removed(*, reference, actor):
    """Record before deleting: the event names the file the reference had."""
    project = reference.project
    return audit_record(
        action="tenancy.reference.remove",
        actor=actor,
        organization=project.organization,
        target=reference,
        data={"project": project.slug, "caption": reference.caption, "file": reference.image.name},
    )


def api_token_created(*, user):
    return audit_record(action="auth.token.create", actor=user, target=user)


def api_token_revoked(*, user):
    return audit_record(action="auth.token.revoke", actor=user, target=user)


def member_invited(*, organization, user, actor, roles: list, account_created: bool):
    return audit_record(
        action="tenancy.member.invite",
        actor=actor,
        organization=organization,
        target=user,
        data={
            "user": user.get_username(),
            "email": user.email,
            "roles": roles,
            "account_created": account_created,
        },
    )


def member_token_revoked(*, organization, user, actor):
    return audit_record(
        action="tenancy.member.token_revoke",
        actor=actor,
        organization=organization,
        target=user,
        data={"user": user.get_username()},
    )


def group_role_added(*, mapping, actor):
    return audit_record(
        action="tenancy.group_role.add",
        actor=actor,
        organization=mapping.organization,
        target=mapping,
        data={"group": mapping.group, "role": mapping.role},
    )


def group_role_removed(*, mapping, actor):
    """Record before deleting the mapping."""
    return audit_record(
        action="tenancy.group_role.remove",
        actor=actor,
        organization=mapping.organization,
        target=mapping,
        data={"group": mapping.group, "role": mapping.role},
    )
