"""The policy document: strict validation, its content hash, the diff between two versions,
and the ``matching.Rule`` objects it compiles to.

A document is the JSON that a draft holds and a version freezes::

    {
      "rules": [
        {"id": "nudity", "category": "sexual", "action": "block",
         "explanation": "No nudity in brand imagery.", "terms": ["nude", "naked"]},
        {"id": "gore", "category": "violence", "action": "review",
         "explanation": "Blood needs a reviewer.", "pattern": "blood(y|ied)?"}
      ],
      "negative_additions": ["watermark"],
      "output_concepts": ["blood", {"concept": "weapons", "threshold": 0.6, "action": "fail"}],
      "limits": {"models": ["demo-shapes"], "max_steps": 30, "quotas": {"user_day": 50}},
      "safety_classes": {"BELLY_EXPOSED": {"threshold": 0.7, "action": "ignore"}},
      "examples": [{"prompt": "a nude statue", "expected": "block"}]
    }

A rule has either ``terms`` (words or phrases) or one ``pattern`` (RE2 syntax). A term rule
may set ``inflect`` (default true: plurals and other simple inflections match too) and
``language`` (whose inflection rules apply; default "en"). ``packs`` (optional) lists the
baseline packs the policy adopts, each ``{"pack", "version", "action"}`` (see ``packs``).
Output concepts are what the image checks look for in generated images (a text is short for
``{"concept": text, "action": "flag"}``; without a threshold the checks use their default).
The limits are described in ``limits``; ``safety_classes`` (optional) sets how the image
checks treat NudeNet classes (threshold and action per class; see ``limits``).
"""

import hashlib
import json
import re

from django.core.exceptions import ValidationError

from governance.policies.diffs import diff_documents
from governance.policies.inflection import LANGUAGES
from governance.policies.limits import limits_clean, safety_classes_clean
from governance.policies.matching import (
    MAX_PROMPT_CHARS,
    Action,
    Category,
    CompiledPolicy,
    Outcome,
    PolicyRuleError,
    Rule,
    compile_pattern,
)
from governance.policies.packs import packs_clean, packs_rules

DOCUMENT_KEYS = (
    "rules",
    "negative_additions",
    "output_concepts",
    "limits",
    "safety_classes",
    "examples",
    "packs",
)
RULE_KEYS = ("id", "category", "action", "explanation", "terms", "pattern", "inflect", "language")
PACK_RULE_PREFIX = "pack."  # the ids of adopted packs' rules (``packs.pack_rules``)
EXAMPLE_KEYS = ("prompt", "expected")
CONCEPT_KEYS = ("concept", "threshold", "action")
CONCEPT_ACTIONS = ("flag", "fail")
RULE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
MAX_RULES = 1000
MAX_TERMS_PER_RULE = 5000
MAX_TERM_CHARS = 200
MAX_EXPLANATION_CHARS = 500
MAX_TEXTS = 200  # negative additions, output concepts
MAX_TEXT_CHARS = 200
MAX_EXAMPLES = 500


def empty_document() -> dict:
    return {
        "rules": [],
        "negative_additions": [],
        "output_concepts": [],
        "limits": {},
        "examples": [],
        "packs": [],
    }


def _one_of(values) -> str:
    return ", ".join(str(value) for value in values)


class _Errors:
    """Collects every problem of a document, keyed by its path (``draft.rules[2].pattern``)."""

    def __init__(self, field: str):
        self.field = field
        self.by_path: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        key = f"{self.field}.{path}" if path else self.field
        self.by_path.setdefault(key, []).append(message)


def document_clean(document, *, field: str = "draft") -> dict:
    """The document with every key present and texts stripped, or a ValidationError that
    lists every problem by path, so an editor can fix them all in one go."""
    errors = _Errors(field)
    if not isinstance(document, dict):
        raise ValidationError(
            {field: [f"Give the policy as a JSON object with the keys {_one_of(DOCUMENT_KEYS)}."]}
        )
    unknown = sorted(set(document) - set(DOCUMENT_KEYS))
    if unknown:
        errors.add("", f"Unknown keys {_one_of(unknown)}; allowed: {_one_of(DOCUMENT_KEYS)}.")
    clean = empty_document()
    rules = document.get("rules", [])
    if not isinstance(rules, list):
        errors.add("rules", "Give the rules as a list.")
    elif len(rules) > MAX_RULES:
        errors.add("rules", f"A policy has at most {MAX_RULES} rules.")
    else:
        first_index: dict[str, int] = {}
        for index, raw in enumerate(rules):
            rule_id = raw.get("id") if isinstance(raw, dict) else None
            if isinstance(rule_id, str) and rule_id in first_index:
                errors.add(
                    f"rules[{index}].id",
                    f"Duplicate rule id {rule_id!r} (also rules[{first_index[rule_id]}]).",
                )
                continue
            if isinstance(rule_id, str):
                first_index[rule_id] = index
            rule = _rule_clean(raw, f"rules[{index}]", errors)
            if rule is not None:
                clean["rules"].append(rule)
    clean["negative_additions"] = _texts_clean(
        document.get("negative_additions", []), "negative_additions", errors
    )
    clean["output_concepts"] = _concepts_clean(document.get("output_concepts", []), errors)
    clean["limits"] = limits_clean(
        document.get("limits"), lambda path, message: errors.add(_join("limits", path), message)
    )
    safety = safety_classes_clean(
        document.get("safety_classes"),
        lambda path, message: errors.add(f"safety_classes{path}", message),
    )
    if safety:
        clean["safety_classes"] = safety
    clean["examples"] = _examples_clean(document.get("examples", []), errors)
    clean["packs"] = packs_clean(document.get("packs", []), errors.add)
    if errors.by_path:
        raise ValidationError(errors.by_path)
    return clean


def _join(prefix: str, path: str) -> str:
    if not path:
        return prefix
    return f"{prefix}{path}" if path.startswith("[") else f"{prefix}.{path}"


def _text(value, path: str, errors: _Errors, *, limit: int, what: str) -> str | None:
    if not isinstance(value, str) or not value.strip():
        errors.add(path, f"Give the {what} as a non-empty text.")
        return None
    if len(value) > limit:
        errors.add(path, f"The {what} is longer than {limit} characters.")
        return None
    return value.strip()


def _rule_clean(raw, path: str, errors: _Errors) -> dict | None:
    if not isinstance(raw, dict):
        errors.add(path, "Give each rule as an object with id, category, action, explanation "
                         "and either terms or pattern.")  # fmt: skip
        return None
    before = len(errors.by_path)
    unknown = sorted(set(raw) - set(RULE_KEYS))
    if unknown:
        errors.add(path, f"Unknown keys {_one_of(unknown)}; allowed: {_one_of(RULE_KEYS)}.")
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not RULE_ID.match(rule_id):
        errors.add(
            f"{path}.id",
            "Give the rule an id of 1 to 64 letters, digits, '_', '.', ':' or '-'.",
        )
    elif rule_id.startswith(PACK_RULE_PREFIX):
        errors.add(f"{path}.id", f"Rule ids starting {PACK_RULE_PREFIX!r} are the packs' own.")
    inflect, language = raw.get("inflect", True), raw.get("language", "en")
    if not isinstance(inflect, bool):
        errors.add(f"{path}.inflect", "Give inflect as true or false.")
    if language not in LANGUAGES:
        errors.add(f"{path}.language", f"Unknown language {language!r}; one of: "
                                       f"{_one_of(LANGUAGES)}.")  # fmt: skip
    category = raw.get("category")
    if category not in Category._value2member_map_:
        errors.add(
            f"{path}.category", f"Unknown category {category!r}; one of: {_one_of(Category)}."
        )
    action = raw.get("action")
    if action not in Action._value2member_map_:
        errors.add(f"{path}.action", f"Unknown action {action!r}; one of: {_one_of(Action)}.")
    explanation = _text(
        raw.get("explanation"),
        f"{path}.explanation",
        errors,
        limit=MAX_EXPLANATION_CHARS,
        what="explanation",
    )
    has_terms, has_pattern = "terms" in raw, "pattern" in raw
    if has_terms == has_pattern:
        errors.add(path, "A rule has either a list of terms or one pattern (not both).")
        return None
    terms: list[str] = []
    pattern = None
    if has_terms:
        raw_terms = raw["terms"]
        if not isinstance(raw_terms, list):
            errors.add(f"{path}.terms", "Give the terms as a list of words or phrases.")
        elif not raw_terms:
            errors.add(f"{path}.terms", "The term list is empty.")
        elif len(raw_terms) > MAX_TERMS_PER_RULE:
            errors.add(f"{path}.terms", f"A rule has at most {MAX_TERMS_PER_RULE} terms.")
        else:
            for index, raw_term in enumerate(raw_terms):
                term = _text(
                    raw_term, f"{path}.terms[{index}]", errors, limit=MAX_TERM_CHARS, what="term"
                )
                if term is not None and term not in terms:
                    terms.append(term)
    else:
        pattern = raw["pattern"]
        if not isinstance(pattern, str):
            errors.add(f"{path}.pattern", "Give the pattern as a text.")
    if len(errors.by_path) > before:
        return None
    try:
        if pattern is not None:
            compile_pattern(rule_id, pattern)
        else:
            rule = Rule(rule_id, category, action, explanation, tuple(terms), None, inflect,
                        language)  # fmt: skip
            CompiledPolicy.from_rules([rule])
    except PolicyRuleError as error:
        errors.add(f"{path}.pattern" if pattern is not None else f"{path}.terms", error.reason)
        return None
    rule = {"id": rule_id, "category": category, "action": action, "explanation": explanation}
    if pattern is not None:
        rule["pattern"] = pattern
    else:
        rule["terms"] = terms
        if inflect is not True:  # stored only when not the default
            rule["inflect"] = inflect
        if language != "en":
            rule["language"] = language
    return rule


def _texts_clean(raw, key: str, errors: _Errors) -> list[str]:
    if not isinstance(raw, list):
        errors.add(key, "Give a list of texts.")
        return []
    if len(raw) > MAX_TEXTS:
        errors.add(key, f"At most {MAX_TEXTS} entries.")
        return []
    texts: list[str] = []
    for index, value in enumerate(raw):
        text = _text(value, f"{key}[{index}]", errors, limit=MAX_TEXT_CHARS, what="entry")
        if text is not None and text not in texts:
            texts.append(text)
    return texts


def _concepts_clean(raw, errors: _Errors) -> list[dict]:
    if not isinstance(raw, list):
        errors.add("output_concepts", "Give a list of concepts.")
        return []
    if len(raw) > MAX_TEXTS:
        errors.add("output_concepts", f"At most {MAX_TEXTS} concepts.")
        return []
    concepts: list[dict] = []
    for index, value in enumerate(raw):
        path = f"output_concepts[{index}]"
        if isinstance(value, str):
            value = {"concept": value}
        if not isinstance(value, dict):
            errors.add(path, "Give a concept as a text or as {concept, threshold, action}.")
            continue
        unknown = sorted(set(value) - set(CONCEPT_KEYS))
        if unknown:
            errors.add(path, f"Unknown keys {_one_of(unknown)}; allowed: {_one_of(CONCEPT_KEYS)}.")
            continue
        text = _text(value.get("concept"), f"{path}.concept", errors, limit=MAX_TEXT_CHARS,
                     what="concept")  # fmt: skip
        action = value.get("action", "flag")
        if action not in CONCEPT_ACTIONS:
            errors.add(f"{path}.action", f"Unknown action {action!r}; one of: flag, fail.")
            continue
        concept = {"concept": text, "action": action}
        threshold = value.get("threshold")
        if threshold is not None:
            if (
                not isinstance(threshold, int | float)
                or isinstance(threshold, bool)
                or not 0 < threshold < 1
            ):
                errors.add(f"{path}.threshold", "Give a threshold between 0 and 1 (exclusive).")
                continue
            concept["threshold"] = float(threshold)
        if text is None:
            continue
        if any(existing["concept"] == text for existing in concepts):
            errors.add(f"{path}.concept", f"The concept {text!r} is listed twice.")
            continue
        concepts.append(concept)
    return concepts


def _examples_clean(raw, errors: _Errors) -> list[dict]:
    if not isinstance(raw, list):
        errors.add("examples", "Give the examples as a list of {prompt, expected} objects.")
        return []
    if len(raw) > MAX_EXAMPLES:
        errors.add("examples", f"A policy has at most {MAX_EXAMPLES} examples.")
        return []
    examples: list[dict] = []
    seen: set[str] = set()
    for index, example in enumerate(raw):
        path = f"examples[{index}]"
        if not isinstance(example, dict):
            errors.add(path, "Give each example as an object with prompt and expected.")
            continue
        unknown = sorted(set(example) - set(EXAMPLE_KEYS))
        if unknown:
            errors.add(path, f"Unknown keys {_one_of(unknown)}; allowed: prompt, expected.")
        prompt = _text(
            example.get("prompt"), f"{path}.prompt", errors, limit=MAX_PROMPT_CHARS, what="prompt"
        )
        expected = example.get("expected")
        if expected not in Outcome._value2member_map_:
            errors.add(
                f"{path}.expected",
                f"Unknown expected outcome {expected!r}; one of: {_one_of(Outcome)}.",
            )
            continue
        if prompt is None or unknown:
            continue
        if prompt in seen:
            errors.add(f"{path}.prompt", "The same prompt is already an example.")
            continue
        seen.add(prompt)
        examples.append({"prompt": prompt, "expected": expected})
    return examples


def document_sha256(document: dict) -> str:
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def document_rules(document: dict) -> list[Rule]:
    """The document's own rules, then those of the packs it adopts."""
    own = [
        Rule(
            id=rule["id"],
            category=rule["category"],
            action=rule["action"],
            explanation=rule["explanation"],
            terms=tuple(rule.get("terms", ())),
            pattern=rule.get("pattern"),
            inflect=rule.get("inflect", True),
            language=rule.get("language", "en"),
        )
        for rule in document.get("rules", [])
    ]
    return own + packs_rules(document.get("packs", []))


#: What changed from one document to another (see ``diffs``).
document_diff = diff_documents
