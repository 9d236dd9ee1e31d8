"""The audit events this app records: their names and meanings, registered from
``AppConfig.ready`` (see ``governance.audit.registry``)."""

ACTIONS: dict[str, str] = {
    "policies.policy.create": "A prompt policy was created.",
    "policies.draft.update": "The draft of a prompt policy was changed.",
    "policies.version.publish": "A new version of a prompt policy was published.",
}
