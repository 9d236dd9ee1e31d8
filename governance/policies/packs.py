"""Baseline policy packs (issue 19): term lists shipped with the platform, versioned.

A pack is a JSON file ``packs/<pack>/v<version>.json`` (never edited once shipped: a change
is a new version, so a published policy version that names ``{"pack", "version"}`` is judged
the same way for ever). It holds, per language (``en``, ``de``, ``fr``, ``es``, ``it``, ``pt``,
or ``any`` for names and brands):

- ``terms``: words and phrases matched with their inflections (``inflection``);
- ``exact``: words matched only as written (an inflection would be another word);
- ``exceptions`` (optional): phrases inside which the pack's terms do not count, because
  there they mean something harmless ("nude lipstick", "naked cake");
- ``pairs`` (optional): ``subjects`` and ``contexts``; a subject within six words of a
  context, in either order, matches (minors in unsafe contexts);

and ``examples`` (prompts that must be blocked, reviewed, warned or allowed when the pack is
adopted with its default action: tests run them). An organisation adopts a pack in its
policy document (``"packs": [{"pack": "sexual", "version": 1, "action": "block"}]``); the
pack's rules then join the document's own rules (see ``documents.document_rules``).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from pathlib import Path

from governance.policies.inflection import LANGUAGES, term_forms
from governance.policies.matching import Action, Rule
from governance.policies.normalize import normalize

PACKS_DIR = Path(__file__).with_name("packs")
PACK_KEYS = ("pack", "version", "action")
_VERSION_FILE = re.compile(r"^v([1-9][0-9]*)\.json$")
PAIR_DISTANCE = 6  # words between a subject and a context


class PackError(ValueError):
    """A pack or pack version that does not exist or is malformed."""


def _packs_dir() -> Path:
    return PACKS_DIR


@functools.cache
def _load(directory: str, pack: str, version: int) -> dict:
    path = Path(directory) / pack / f"v{version}.json"
    if not path.is_file():
        raise PackError(f"There is no version {version} of the pack {pack!r}.")
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("pack") != pack or data.get("version") != version:
        raise PackError(f"{path} names pack {data.get('pack')!r} version {data.get('version')!r}.")
    for key in ("terms", "exact", "exceptions"):
        unknown = set(data.get(key, {})) - set(LANGUAGES)
        if unknown:
            raise PackError(f"{path}: unknown languages {sorted(unknown)} in {key}.")
    return data


def pack_get(pack: str, version: int) -> dict:
    """One pack version's data (read once per process)."""
    return _load(str(_packs_dir()), pack, version)


def pack_names() -> list[str]:
    directory = _packs_dir()
    return sorted(p.name for p in directory.iterdir() if p.is_dir() and pack_versions(p.name))


def pack_versions(pack: str) -> list[int]:
    folder = _packs_dir() / pack
    if not re.fullmatch(r"[a-z_]{1,40}", pack) or not folder.is_dir():
        return []
    found = (_VERSION_FILE.match(path.name) for path in folder.iterdir())
    return sorted(int(match.group(1)) for match in found if match)


def pack_latest(pack: str) -> dict:
    versions = pack_versions(pack)
    if not versions:
        raise PackError(f"There is no pack {pack!r}.")
    return pack_get(pack, versions[-1])


def packs_latest() -> list[dict]:
    """The latest version of every shipped pack, by name."""
    return [pack_latest(name) for name in pack_names()]


def _alternation(words: list[str], language: str) -> str:
    forms = {form for word in words for form in term_forms(normalize(word).strict, language)}
    return "|".join(re.escape(form) for form in sorted(forms, key=lambda f: (-len(f), f)))


def _pairs_pattern(pairs: dict, language: str) -> str | None:
    subjects = pairs.get("subjects", {}).get(language)
    contexts = pairs.get("contexts", {}).get(language)
    if not subjects or not contexts:
        return None
    subject = f"(?:{_alternation(subjects, language)})"
    context = f"(?:{_alternation(contexts, language)})"
    gap = f"(?: [^ ]+){{0,{PAIR_DISTANCE}}} "
    return rf"\b(?:{subject}{gap}{context}|{context}{gap}{subject})\b"


def pack_rules(pack: str, version: int, action: str) -> list[Rule]:
    """The rules of one adopted pack version, with the organisation's chosen action."""
    data = pack_get(pack, version)
    category, explanation = data["category"], data["explanation"]
    # A pack's exceptions hold for its terms in every language ("nude lipstick").
    exceptions = tuple(p for phrases in data.get("exceptions", {}).values() for p in phrases)
    rules = []
    for kind, inflect, suffix in (("terms", True, ""), ("exact", False, ".exact")):
        for language, terms in sorted(data.get(kind, {}).items()):
            if terms:
                rules.append(
                    Rule(
                        f"pack.{pack}.{language}{suffix}",
                        category,
                        action,
                        explanation,
                        tuple(terms),
                        inflect=inflect,
                        language=language,
                        exceptions=exceptions,
                    )
                )
    for language in LANGUAGES:
        pattern = _pairs_pattern(data.get("pairs", {}), language)
        if pattern:
            rules.append(Rule(f"pack.{pack}.{language}.pairs", category, action, explanation,
                              pattern=pattern))  # fmt: skip
    return rules


def _term_set(data: dict) -> set[tuple[str, str, str]]:
    found = set()
    for kind in ("terms", "exact", "exceptions"):
        for language, terms in data.get(kind, {}).items():
            found.update((language, kind, term) for term in terms)
    for kind, by_language in data.get("pairs", {}).items():
        for language, terms in by_language.items():
            found.update((language, f"pair {kind}", term) for term in terms)
    return found


def pack_diff(pack: str, before: int | None, after: int) -> dict:
    """What a pack version adds and removes compared with an earlier one (None: nothing
    adopted yet): terms by language and kind, and whether the category, default action or
    explanation changed."""
    new = pack_get(pack, after)
    old = pack_get(pack, before) if before else {}
    added, removed = _term_set(new) - _term_set(old), _term_set(old) - _term_set(new)

    def rows(items):
        return [
            {"language": language, "kind": kind, "term": term}
            for language, kind, term in sorted(items)
        ]

    return {
        "pack": pack,
        "from": before,
        "to": after,
        "added": rows(added),
        "removed": rows(removed),
        "changed": {
            key: {"before": old.get(key), "after": new.get(key)}
            for key in ("category", "default_action", "explanation")
            if old and old.get(key) != new.get(key)
        },
    }


def packs_clean(raw, add_error: Callable[[str, str], None]) -> list[dict]:
    """A document's adopted packs, checked: each a shipped pack version, with an action,
    each pack at most once. Problems go to ``add_error(path, message)``."""
    if not isinstance(raw, list):
        add_error("packs", "Give the adopted packs as a list of {pack, version, action}.")
        return []
    clean: list[dict] = []
    for index, entry in enumerate(raw):
        path = f"packs[{index}]"
        if not isinstance(entry, dict) or set(entry) - set(PACK_KEYS):
            add_error(path, "Give each adopted pack as an object with pack, version and action.")
            continue
        pack, version, action = entry.get("pack"), entry.get("version"), entry.get("action")
        if not isinstance(pack, str) or not pack_versions(pack):
            add_error(f"{path}.pack", f"Unknown pack {pack!r}; one of: {', '.join(pack_names())}.")
            continue
        if isinstance(version, bool) or version not in pack_versions(pack):
            known = ", ".join(map(str, pack_versions(pack)))
            add_error(f"{path}.version", f"The pack {pack!r} has versions {known}.")
            continue
        if action not in Action._value2member_map_:
            add_error(f"{path}.action", f"Unknown action {action!r}; one of: block, review, warn.")
            continue
        if any(existing["pack"] == pack for existing in clean):
            add_error(f"{path}.pack", f"The pack {pack!r} is adopted twice.")
            continue
        clean.append({"pack": pack, "version": version, "action": action})
    return clean


def packs_rules(packs: list[dict]) -> list[Rule]:
    """The rules of every adopted pack of a document."""
    return [
        rule
        for entry in packs
        for rule in pack_rules(entry["pack"], entry["version"], entry["action"])
    ]
