"""The audit events of single sign-on, registered from ``AppConfig.ready``; one function
per event. Call them inside the transaction that makes the change."""

from governance.audit.services import audit_record

ACTIONS: dict[str, str] = {
    "identity.sso.configure": "An organisation's single sign-on (provider, client, password "
    "login, break-glass admins or group mapping) was set up or changed.",
    "identity.sso.signin": "A user signed in through their organisation's identity provider; "
    "their roles were set from the provider's groups.",
    "identity.sso.provision": "Single sign-on created an account on a subject's first sign-in.",
    "identity.sso.link": "Single sign-on linked a provider's subject to an existing account "
    "(same verified email, already a member of the organisation).",
    "identity.sso.refuse": "A sign-in through an identity provider was refused (no role from "
    "the user's groups, an account that cannot be linked safely, a disabled account).",
    "identity.sso.admin_kept": "The identity provider no longer gives the organisation's last "
    "admin the admin role; the role was kept so that the organisation keeps an admin.",
    "identity.password.refuse": "A correct password was refused: the user's organisations sign "
    "in with single sign-on only.",
}


def sso_configured(*, sso, actor, fields: list[str], group_roles: dict):
    return audit_record(
        action="identity.sso.configure",
        actor=actor,
        organization=sso.organization,
        target=sso,
        data={
            "fields": sorted(fields),
            "issuer": sso.issuer,
            "client_id": sso.client_id,
            "password_login": sso.password_login,
            "break_glass": sorted(user.get_username() for user in sso.break_glass_users.all()),
            "group_roles": group_roles,
        },
    )


def sso_signed_in(*, sso, user, subject: str, groups: list[str], granted, revoked):
    return audit_record(
        action="identity.sso.signin",
        actor=user,
        organization=sso.organization,
        target=user,
        data={
            "issuer": sso.issuer,
            "subject": subject,
            "groups": sorted(groups),
            "granted": sorted(granted),
            "revoked": sorted(revoked),
        },
    )


def sso_provisioned(*, sso, user, subject: str):
    return audit_record(
        action="identity.sso.provision",
        actor=None,
        organization=sso.organization,
        target=user,
        data={"issuer": sso.issuer, "subject": subject, "user": user.get_username()},
    )


def sso_linked(*, sso, user, subject: str):
    return audit_record(
        action="identity.sso.link",
        actor=None,
        organization=sso.organization,
        target=user,
        data={"issuer": sso.issuer, "subject": subject, "user": user.get_username()},
    )


def sso_refused(*, sso, subject: str, reason: str, user=None, groups: list[str] = ()):
    return audit_record(
        action="identity.sso.refuse",
        actor=None,
        organization=sso.organization,
        target=user,
        data={
            "issuer": sso.issuer,
            "subject": subject,
            "reason": reason,
            "groups": sorted(groups),
            **({"user": user.get_username()} if user is not None else {}),
        },
    )


def sso_admin_kept(*, sso, user, groups: list[str]):
    return audit_record(
        action="identity.sso.admin_kept",
        actor=None,
        organization=sso.organization,
        target=user,
        data={"issuer": sso.issuer, "user": user.get_username(), "groups": sorted(groups)},
    )


def password_refused(*, user, organization):
    return audit_record(
        action="identity.password.refuse",
        actor=None,
        organization=organization,
        target=user,
        data={"user": user.get_username()},
    )
