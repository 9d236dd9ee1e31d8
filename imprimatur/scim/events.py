"""The audit events of SCIM provisioning, registered from ``AppConfig.ready``. Role changes
and deactivations that provisioning causes are recorded by ``imprimatur.tenancy.members``
(``tenancy.membership.*``, ``tenancy.member.deactivate``, with ``via: scim``)."""

from governance.audit.services import audit_record

ACTIONS: dict[str, str] = {
    "scim.token.rotate": "An admin created or replaced the organisation's SCIM token.",
    "scim.token.revoke": "An admin revoked the organisation's SCIM token.",
    "scim.user.create": "The identity provider provisioned a user over SCIM.",
    "scim.user.update": "The identity provider changed a provisioned user over SCIM.",
    "scim.user.delete": "The identity provider deprovisioned a user over SCIM.",
    "scim.group.create": "The identity provider created a group over SCIM.",
    "scim.group.update": "The identity provider changed a group or its members over SCIM.",
    "scim.group.delete": "The identity provider deleted a group over SCIM.",
}


def token_rotated(*, token, actor):
    return audit_record(
        action="scim.token.rotate",
        actor=actor,
        organization=token.organization,
        target=token.organization,
        data={"prefix": token.prefix},
    )


def token_revoked(*, organization, actor, prefix: str):
    return audit_record(
        action="scim.token.revoke",
        actor=actor,
        organization=organization,
        target=organization,
        data={"prefix": prefix},
    )


def user_changed(*, action: str, link, data: dict | None = None):
    """``action``: create, update or delete (record a deletion before deleting)."""
    return audit_record(
        action=f"scim.user.{action}",
        organization=link.organization,
        target=link.user,
        data={
            "scim_id": str(link.id),
            "user_name": link.user_name,
            "active": link.active,
            **(data or {}),
        },
    )


def group_changed(*, action: str, group, data: dict | None = None):
    """``action``: create, update or delete (record a deletion before deleting)."""
    return audit_record(
        action=f"scim.group.{action}",
        organization=group.organization,
        target=group,
        data={"scim_id": str(group.id), "display_name": group.display_name, **(data or {})},
    )
