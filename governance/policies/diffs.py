"""The diff between two policy documents: what a new version changes (rules by id with their
fields and terms, adopted packs, texts, output concepts, limits, examples), with a one-line
summary. Split from ``documents`` to keep modules short; ``documents`` re-exports it as
``document_diff``.
"""


def document_output_concepts(document: dict) -> list[dict]:
    """The output concepts as objects, also for a document stored before concepts could
    carry a threshold and action (a plain text then)."""
    return [
        {"concept": value, "action": "flag"} if isinstance(value, str) else value
        for value in document.get("output_concepts", [])
    ]


_RULE_FIELDS = ("category", "action", "explanation", "pattern")


def _added_removed(before: list, after: list) -> dict:
    return {
        "added": [item for item in after if item not in before],
        "removed": [item for item in before if item not in after],
    }


def _keyed_diff(before: list[dict], after: list[dict], key: str) -> dict:
    old = {item[key]: item for item in before}
    new = {item[key]: item for item in after}
    return {
        "added": [item for name, item in new.items() if name not in old],
        "removed": [item for name, item in old.items() if name not in new],
        "changed": [
            {key: name, "before": old[name], "after": item}
            for name, item in new.items()
            if name in old and old[name] != item
        ],
    }


def _flat_safety(document: dict) -> dict:
    """Safety class settings as diffable limits: ``safety.CLASS`` -> its rule."""
    return {f"safety.{name}": rule for name, rule in document.get("safety_classes", {}).items()}


def _flat_limits(limits: dict) -> dict:
    flat = {key: value for key, value in limits.items() if key != "quotas"}
    flat.update({f"quotas.{key}": value for key, value in limits.get("quotas", {}).items()})
    return flat


def _limits_diff(before: dict, after: dict) -> dict:
    """Each limit whose value changed, with both values (None: not set)."""
    old, new = _flat_limits(before), _flat_limits(after)
    return {
        "changed": [
            {"limit": key, "before": old.get(key), "after": new.get(key)}
            for key in sorted(set(old) | set(new))
            if old.get(key) != new.get(key)
        ]
    }


def diff_documents(before: dict, after: dict) -> dict:
    """What changed from ``before`` to ``after``: rules by id (fields and terms), texts,
    and examples by prompt, with a one-line summary."""
    rules_before = {rule["id"]: rule for rule in before.get("rules", [])}
    rules_after = {rule["id"]: rule for rule in after.get("rules", [])}
    changed = []
    for rule_id, new in rules_after.items():
        old = rules_before.get(rule_id)
        if old is None or old == new:
            continue
        fields = {
            name: {"before": old.get(name), "after": new.get(name)}
            for name in _RULE_FIELDS
            if old.get(name) != new.get(name)
        }
        terms = _added_removed(old.get("terms", []), new.get("terms", []))
        changed.append(
            {
                "id": rule_id,
                "fields": fields,
                "terms_added": terms["added"],
                "terms_removed": terms["removed"],
            }
        )
    examples_before = {e["prompt"]: e["expected"] for e in before.get("examples", [])}
    examples_after = {e["prompt"]: e["expected"] for e in after.get("examples", [])}
    diff = {
        "rules": {
            "added": [rule_id for rule_id in rules_after if rule_id not in rules_before],
            "removed": [rule_id for rule_id in rules_before if rule_id not in rules_after],
            "changed": changed,
        },
        "packs": _keyed_diff(before.get("packs", []), after.get("packs", []), "pack"),
        "negative_additions": _added_removed(
            before.get("negative_additions", []), after.get("negative_additions", [])
        ),
        "output_concepts": _keyed_diff(
            document_output_concepts(before), document_output_concepts(after), "concept"
        ),
        "limits": _limits_diff(
            {**before.get("limits", {}), **_flat_safety(before)},
            {**after.get("limits", {}), **_flat_safety(after)},
        ),
        "examples": {
            "added": [
                {"prompt": prompt, "expected": expected}
                for prompt, expected in examples_after.items()
                if prompt not in examples_before
            ],
            "removed": [
                {"prompt": prompt, "expected": expected}
                for prompt, expected in examples_before.items()
                if prompt not in examples_after
            ],
            "changed": [
                {"prompt": prompt, "before": examples_before[prompt], "after": expected}
                for prompt, expected in examples_after.items()
                if prompt in examples_before and examples_before[prompt] != expected
            ],
        },
    }
    diff["summary"] = _summary(diff)
    return diff


def _summary(diff: dict) -> str:
    parts = []
    for section, label in (
        ("rules", "rules"),
        ("packs", "packs"),
        ("negative_additions", "negative additions"),
        ("output_concepts", "output concepts"),
        ("limits", "limits"),
        ("examples", "examples"),
    ):
        counts = [
            f"{len(diff[section][kind])} {kind}"
            for kind in ("added", "removed", "changed")
            if diff[section].get(kind)
        ]
        if counts:
            parts.append(f"{label}: {', '.join(counts)}")
    return "; ".join(parts) or "no changes"
