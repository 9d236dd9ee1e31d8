"""The audit events this app records: their names and meanings, registered from
``AppConfig.ready`` (see ``governance.audit.registry``)."""

ACTIONS: dict[str, str] = {
    "tenancy.organization.create": "An organisation was created.",
    "tenancy.membership.grant": "A user was given a role in an organisation.",
    "tenancy.project.create": "A brand project was created.",
    "tenancy.project.update": "A brand project or its brand kit was changed.",
    "tenancy.reference.add": "An admin added a reference image to a brand kit.",
    "tenancy.reference.remove": "An admin removed a reference image from a brand kit.",
    "auth.token.create": "A user created an API token.",
    "auth.token.revoke": "A user revoked their API token.",
}
