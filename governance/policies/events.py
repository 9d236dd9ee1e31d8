"""The audit events this app records: their names and meanings, registered from
``AppConfig.ready`` (see ``governance.audit.registry``), and one function per event that
records it with its data. Call them inside the transaction that makes the change."""

from governance.audit.services import audit_record

ACTIONS: dict[str, str] = {
    "policies.policy.create": "A prompt policy was created.",
    "policies.draft.update": "The draft of a prompt policy was changed.",
    "policies.version.publish": "A new version of a prompt policy was published.",
    "policies.pack.adopt": "A baseline policy pack (or a new version of it) was adopted in a "
    "policy's draft.",
    "policies.pack.drop": "A baseline policy pack was removed from a policy's draft.",
}


def policy_created(*, policy, actor, draft_sha256: str):
    return audit_record(
        action="policies.policy.create",
        actor=actor,
        organization=policy.organization,
        target=policy,
        data={
            "project": policy.project.slug if policy.project else None,
            "draft_sha256": draft_sha256,
        },
    )


def policy_draft_updated(*, policy, actor, draft_sha256: str, name: str | None = None):
    """``name``: the new name, when the policy was renamed."""
    return audit_record(
        action="policies.draft.update",
        actor=actor,
        organization=policy.organization,
        target=policy,
        project=policy.project,
        data={
            "draft_sha256": draft_sha256,
            "rules": len(policy.draft["rules"]),
            **({"name": name} if name is not None else {}),
        },
    )


def policy_version_published(*, version, actor):
    policy = version.policy
    return audit_record(
        action="policies.version.publish",
        actor=actor,
        organization=policy.organization,
        target=version,
        project=policy.project,
        data={
            "policy": policy.pk,
            "number": version.number,
            "content_sha256": version.content_sha256,
            "summary": version.diff["summary"],
        },
    )


def policy_pack_adopted(*, policy, actor, pack: str, version: int, action: str, previous):
    """``previous``: the pack's entry in the draft before (None: newly adopted)."""
    return audit_record(
        action="policies.pack.adopt",
        actor=actor,
        organization=policy.organization,
        target=policy,
        project=policy.project,
        data={"pack": pack, "version": version, "action": action, "previous": previous},
    )


def policy_pack_dropped(*, policy, actor, pack: str, previous: dict):
    return audit_record(
        action="policies.pack.drop",
        actor=actor,
        organization=policy.organization,
        target=policy,
        project=policy.project,
        data={"pack": pack, "previous": previous},
    )
