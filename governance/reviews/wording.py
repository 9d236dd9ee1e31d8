"""Workflows in words: each stage's role, kinds and condition as people read them, and what
changed between two versions of a workflow.

The labels here are the workflow editor's own (kept small and local); the stage format is
``stages.py``'s.
"""

from imprimatur.tenancy.permissions import Role

#: The conditions a stage may wait for (``stages.CONDITIONS``), in words.
CONDITION_LABELS = {
    "always": "Always",
    "prompt_review": "The prompt matched a policy review rule",
    "check_flagged": "An image check flagged it",
    "check_failed": "An image check failed it (quarantined)",
    "brand_below": "The brand score is under the threshold",
    "face_detected": "A face was found (if the project asks for likeness review)",
}

#: The reviewable kinds a stage applies to (``stages.KINDS``), in words.
KIND_LABELS = {
    "prompt": "Prompts (before generation)",
    "asset": "Images (after)",
    "style": "Brand styles (before use)",
}
KIND_NOUNS = {"prompt": "prompts", "asset": "images", "style": "brand styles"}

#: What each field of a stage is called where a change to it is listed.
FIELD_LABELS = {
    "role": "Decided by",
    "approvals": "Approvals",
    "kinds": "Reviews",
    "when": "When",
    "due_hours": "Due within",
}


def role_label(role: str) -> str:
    return Role(role).label if role in Role.values else str(role)


def condition_label(when: str) -> str:
    return CONDITION_LABELS.get(when, str(when).replace("_", " ").capitalize())


def kinds_words(kinds: list[str]) -> str:
    """``["prompt", "asset"]`` → "prompts and images"."""
    return " and ".join(KIND_NOUNS.get(kind, kind) for kind in kinds) or "nothing"


def due_words(hours) -> str:
    if not hours:
        return "no due time"
    if hours % 24 == 0:
        days = hours // 24
        return f"{days} day{'s' if days != 1 else ''}"
    return f"{hours} hour{'s' if hours != 1 else ''}"


def _field_words(field: str, value) -> str:
    if field == "role":
        return role_label(value)
    if field == "kinds":
        return kinds_words(value)
    if field == "when":
        return condition_label(value)
    if field == "due_hours":
        return due_words(value)
    return str(value)


def stage_words(stage: dict) -> dict:
    """One stage with every code said in words, for the read-only view and the versions."""
    approvals = stage.get("approvals") or 1
    role = role_label(stage.get("role", "")).lower()
    return {
        **stage,
        "role_label": role_label(stage.get("role", "")),
        "decided_by": f"{'an' if role[:1] in 'aeiou' else 'a'} {role}",
        "kinds_label": kinds_words(stage.get("kinds") or []),
        "when_label": condition_label(stage.get("when", "always")),
        "approvals_label": f"{approvals} approval{'s' if approvals != 1 else ''}",
        "due_label": due_words(stage.get("due_hours")),
    }


def workflow_diff(old, new) -> dict:
    """What changed from workflow version ``old`` to ``new`` (``Workflow`` rows or anything
    with ``stages`` and ``distinct_approvers``). Stages are matched by name (ignoring case):
    a stage only in ``new`` was added, one only in ``old`` removed; a stage in both lists each
    field that changed, from → to in words, and whether it moved in the order."""
    old_stages = {stage["name"].casefold(): (i, stage) for i, stage in enumerate(old.stages)}
    new_stages = {stage["name"].casefold(): (i, stage) for i, stage in enumerate(new.stages)}
    added = [stage_words(stage) for key, (_, stage) in new_stages.items() if key not in old_stages]
    removed = [
        stage_words(stage) for key, (_, stage) in old_stages.items() if key not in new_stages
    ]
    changed = []
    # Order among the stages both versions have: a stage moved if its place among those did.
    kept_old = [key for key in old_stages if key in new_stages]
    kept_new = [key for key in new_stages if key in old_stages]
    for key in kept_new:
        (old_index, before), (new_index, after) = old_stages[key], new_stages[key]
        fields = [
            {
                "field": field,
                "label": label,
                "before": _field_words(field, before.get(field)),
                "after": _field_words(field, after.get(field)),
            }
            for field, label in FIELD_LABELS.items()
            if _normalised(field, before.get(field)) != _normalised(field, after.get(field))
        ]
        moved = kept_old.index(key) != kept_new.index(key)
        if fields or moved or before["name"] != after["name"]:
            changed.append(
                {
                    "name": after["name"],
                    "renamed_from": before["name"] if before["name"] != after["name"] else "",
                    "fields": fields,
                    "moved": moved,
                    "from_position": old_index + 1,
                    "to_position": new_index + 1,
                }
            )
    settings = []
    if bool(old.distinct_approvers) != bool(new.distinct_approvers):
        settings.append(
            {
                "label": "A different person at each stage",
                "before": "yes" if old.distinct_approvers else "no",
                "after": "yes" if new.distinct_approvers else "no",
            }
        )
    return {
        "added": added,
        "removed": removed,
        "changed": changed,
        "settings": settings,
        "same": not (added or removed or changed or settings),
    }


def _normalised(field: str, value):
    if field == "kinds":
        return sorted(value or [])
    if field == "approvals":
        return value or 1
    return value
