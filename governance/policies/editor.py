"""The structured draft editor: a policy document as form data and back, and the
document's validation errors put back on the fields they belong to.

The forms only parse; ``documents.document_clean`` judges the document they add up to.
Its error paths (``draft.rules[2].pattern``) count the rows of that document, which are
not the rows of the formsets when rows are deleted or left blank, so ``form_positions``
keeps, for each list, the form index of every document row.
"""

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.forms import BaseFormSet, Form

from governance.policies.diffs import document_output_concepts
from governance.policies.forms import (
    ConceptFormSet,
    ExampleFormSet,
    PolicyEditorForm,
    PolicyLimitsForm,
    RuleFormSet,
)
from governance.policies.limits import QUOTA_KEYS

LIST_SEPARATOR = re.compile(r"[,\n]")
SECTION_WORDS = {
    "rules": "Rule",
    "examples": "Example",
    "negative_additions": "Negative addition",
    "output_concepts": "Output concept",
    "terms": "term",
}
LIMIT_NUMBERS = ("max_steps", "max_guidance", "max_images", "max_side")
#: Error path (after ``draft.``) → (form, field) for the fields that are not rows.
SINGLE_FIELDS = {
    "negative_additions": ("main", "negative_additions"),
    "limits.models": ("limits", "models"),
    "limits.quotas": ("limits", None),
    "limits": ("limits", None),
    **{f"limits.{key}": ("limits", key) for key in LIMIT_NUMBERS},
    **{f"limits.quotas.{key}": ("limits", key) for key in QUOTA_KEYS},
}
ROW_PATH = re.compile(r"^(rules|output_concepts|examples)\[(\d+)\](?:\.([a-z_]+))?(?:\[(\d+)\])?$")
TEXT_ITEM_PATH = re.compile(r"^(negative_additions|limits\.models)\[(\d+)\]$")


@dataclass
class EditorForms:
    """Every form of the editor page."""

    main: PolicyEditorForm
    limits: PolicyLimitsForm
    rules: BaseFormSet
    concepts: BaseFormSet
    examples: BaseFormSet

    @property
    def lists(self) -> dict[str, BaseFormSet]:
        """The formsets by the document key of their rows."""
        return {"rules": self.rules, "output_concepts": self.concepts, "examples": self.examples}

    def is_valid(self) -> bool:
        results = [form.is_valid() for form in (self.main, self.limits, *self.lists.values())]
        return all(results)


def place_in_words(path: str, document) -> str:
    """``draft.rules[0].pattern`` → ``Rule 1 (nudity), pattern``: where an error is, for people."""
    rest = path.removeprefix("draft").lstrip(".")
    words = []
    rules = document.get("rules") if isinstance(document, dict) else None
    for name, index in re.findall(r"([A-Za-z_]+)(?:\[(\d+)\])?", rest):
        label = SECTION_WORDS.get(name, name.replace("_", " "))
        if index == "":
            words.append(label if name in SECTION_WORDS and words else name.replace("_", " "))
            continue
        number = int(index)
        label = f"{label} {number + 1}"
        if name == "rules" and isinstance(rules, list) and number < len(rules):
            rule = rules[number]
            if isinstance(rule, dict) and isinstance(rule.get("id"), str) and rule["id"]:
                label += f" ({rule['id']})"
        words.append(label)
    text = ", ".join(words) or "The document"
    return text[0].upper() + text[1:]


# --- Document → initial form data ---------------------------------------------------------


def _number_text(value) -> str:
    return "" if value is None else str(value)


def document_to_initial(document: dict) -> dict:
    """Initial data for each form and formset of the editor, from a (clean) document."""
    limits = document.get("limits") or {}
    quotas = limits.get("quotas") or {}
    rules = []
    for rule in document.get("rules", []):
        is_pattern = "pattern" in rule
        rules.append(
            {
                "id": rule.get("id", ""),
                "category": rule.get("category", ""),
                "action": rule.get("action", ""),
                "explanation": rule.get("explanation", ""),
                "kind": "pattern" if is_pattern else "terms",
                "terms": "" if is_pattern else "\n".join(rule.get("terms", [])),
                "pattern": rule.get("pattern", "") if is_pattern else "",
            }
        )
    return {
        "main": {"negative_additions": "\n".join(document.get("negative_additions", []))},
        "limits": {
            "models": ", ".join(limits.get("models", [])),
            **{key: limits.get(key) for key in LIMIT_NUMBERS},
            **{key: quotas.get(key) for key in QUOTA_KEYS},
        },
        "rules": rules,
        "concepts": [
            {
                "concept": concept.get("concept", ""),
                "action": concept.get("action", "flag"),
                "threshold": concept.get("threshold"),
            }
            for concept in document_output_concepts(document)
        ],
        "examples": [
            {"prompt": example.get("prompt", ""), "expected": example.get("expected", "")}
            for example in document.get("examples", [])
        ],
    }


def editor_forms(data=None, *, initial: dict | None = None, name: str = "") -> EditorForms:
    """The editor's forms: bound to ``data`` (a POST) or filled from ``initial``."""
    initial = initial or {}
    if data is not None:
        return EditorForms(
            main=PolicyEditorForm(data),
            limits=PolicyLimitsForm(data, prefix="limits"),
            rules=RuleFormSet(data, prefix="rules"),
            concepts=ConceptFormSet(data, prefix="concepts"),
            examples=ExampleFormSet(data, prefix="examples"),
        )
    return EditorForms(
        main=PolicyEditorForm(initial={"name": name, **initial.get("main", {})}),
        limits=PolicyLimitsForm(initial=initial.get("limits", {}), prefix="limits"),
        rules=RuleFormSet(initial=initial.get("rules", []), prefix="rules"),
        concepts=ConceptFormSet(initial=initial.get("concepts", []), prefix="concepts"),
        examples=ExampleFormSet(initial=initial.get("examples", []), prefix="examples"),
    )


# --- Form data → document -------------------------------------------------------------------


def _split(text: str | None, separator=re.compile(r"\n")) -> list[str]:
    return [part.strip() for part in separator.split(text or "") if part.strip()]


def _data(form: Form) -> dict:
    """What the form parsed (only the valid fields of an invalid form)."""
    return getattr(form, "cleaned_data", None) or {}


def _rule_is_blank(data: dict) -> bool:
    return not any(
        (data.get(key) or "").strip() for key in ("id", "explanation", "terms", "pattern")
    )


def _concept_is_blank(data: dict) -> bool:
    return not (data.get("concept") or "").strip() and data.get("threshold") is None


def _example_is_blank(data: dict) -> bool:
    return not (data.get("prompt") or "").strip()


BLANK = {
    "rules": _rule_is_blank,
    "output_concepts": _concept_is_blank,
    "examples": _example_is_blank,
}


def _kept_rows(formset: BaseFormSet, key: str) -> list[tuple[int, dict]]:
    """(form index, parsed data) of each row that becomes a document row: not deleted and
    not left blank."""
    rows = []
    for index, form in enumerate(formset.forms):
        data = _data(form)
        if data.get("DELETE") or BLANK[key](data):
            continue
        rows.append((index, data))
    return rows


def form_positions(forms: EditorForms) -> dict[str, list[int]]:
    """For each list of the document, the form index of each of its rows."""
    return {
        key: [index for index, _data_ in _kept_rows(formset, key)]
        for key, formset in forms.lists.items()
    }


def _rule(data: dict) -> dict:
    rule = {
        "id": data.get("id") or "",
        "category": data.get("category") or "",
        "action": data.get("action") or "",
        "explanation": data.get("explanation") or "",
    }
    kind = data.get("kind")
    if not kind:  # no choice made: whichever field was filled
        kind = (
            "pattern" if (data.get("pattern") or "").strip() and not data.get("terms") else "terms"
        )
    if kind == "pattern":
        rule["pattern"] = data.get("pattern") or ""
    else:
        rule["terms"] = _split(data.get("terms"))
    return rule


def _concept(data: dict) -> dict:
    concept = {"concept": data.get("concept") or "", "action": data.get("action") or "flag"}
    if data.get("threshold") is not None:
        concept["threshold"] = data["threshold"]
    return concept


#: Document parts this editor leaves as they are (edited as JSON): saving keeps them.
NOT_EDITED_HERE = ("safety_classes", "packs")  # packs: on the packs page


def forms_to_document(forms: EditorForms) -> dict:
    """The policy document the (cleaned) forms describe; ``document_clean`` judges it."""
    main, limits_data = _data(forms.main), _data(forms.limits)
    limits: dict = {}
    models = _split(limits_data.get("models"), LIST_SEPARATOR)
    if models:
        limits["models"] = models
    for key in LIMIT_NUMBERS:
        if limits_data.get(key) is not None:
            limits[key] = limits_data[key]
    quotas = {key: limits_data[key] for key in QUOTA_KEYS if limits_data.get(key) is not None}
    if quotas:
        limits["quotas"] = quotas
    return {
        "rules": [_rule(data) for _index, data in _kept_rows(forms.rules, "rules")],
        "negative_additions": _split(main.get("negative_additions")),
        "output_concepts": [
            _concept(data) for _index, data in _kept_rows(forms.concepts, "output_concepts")
        ],
        "limits": limits,
        "examples": [
            {"prompt": data.get("prompt") or "", "expected": data.get("expected") or ""}
            for _index, data in _kept_rows(forms.examples, "examples")
        ],
    }


# --- Errors back onto the fields ----------------------------------------------------------


def _shown(text) -> str:
    text = str(text)
    return text if len(text) <= 40 else text[:37] + "…"


def _item(document: dict, path: str, index: int):
    """The text at ``negative_additions[index]``, ``limits.models[index]`` and the like."""
    value = document
    for key in path.split("."):
        value = value.get(key, {}) if isinstance(value, dict) else {}
    return value[index] if isinstance(value, list) and index < len(value) else None


def place_errors(
    error: ValidationError, *, forms: EditorForms, document: dict, positions: dict
) -> list[dict]:
    """Add each error of ``error`` (paths of ``document``) to the field it belongs to; the
    errors with no field, as ``{"path", "place", "messages"}`` for a list above the form."""
    unplaced = []
    for path, texts in error.message_dict.items():
        if not _place(path, texts, forms, document, positions):
            unplaced.append(
                {"path": path, "place": place_in_words(path, document), "messages": texts}
            )
    return unplaced


def _place(path: str, texts: list[str], forms: EditorForms, document, positions) -> bool:
    if path == "name":
        forms.main.add_error("name", texts)
        return True
    if not path.startswith("draft."):
        return False
    rest = path.removeprefix("draft.")
    if rest in SINGLE_FIELDS:
        form_name, field = SINGLE_FIELDS[rest]
        getattr(forms, form_name).add_error(field, texts)
        return True
    item = TEXT_ITEM_PATH.match(rest)
    if item:
        list_path, index = item.group(1), int(item.group(2))
        form_name, field = SINGLE_FIELDS[list_path]
        value = _item(document, list_path, index)
        prefix = f"“{_shown(value)}”: " if isinstance(value, str) else f"Entry {index + 1}: "
        getattr(forms, form_name).add_error(field, [prefix + text for text in texts])
        return True
    row = ROW_PATH.match(rest)
    if not row:
        return False
    key, index, field, item_index = row.group(1), int(row.group(2)), row.group(3), row.group(4)
    if index >= len(positions.get(key, ())):
        return False
    form = forms.lists[key].forms[positions[key][index]]
    if field is not None and field not in form.fields:
        return False
    if item_index is not None:  # one term of a rule
        value = _item(document[key][index], field, int(item_index))
        prefix = f"“{_shown(value)}”: " if isinstance(value, str) else ""
        texts = [prefix + text for text in texts]
    form.add_error(field, texts)
    return True


ROW_WORDS = {"rules": "Rule", "output_concepts": "Concept", "examples": "Example"}


def error_summary(forms: EditorForms, problems: list[dict] = ()) -> list[dict]:
    """Every error on the page in page order, as ``{"place", "messages", "anchor"}``: the
    list above the form links each one to its field."""
    summary = [
        {"place": problem["place"], "messages": problem["messages"], "anchor": ""}
        for problem in problems
    ]

    def add_form(form: Form, where: str, anchor: str, fields=None) -> None:
        if fields is None:
            for error in form.non_field_errors():
                summary.append({"place": where or "Form", "messages": [error], "anchor": anchor})
        for field in form:
            if field.errors and (fields is None or field.name in fields):
                place = f"{where}: {field.label}" if where else field.label
                summary.append(
                    {"place": place, "messages": list(field.errors), "anchor": field.auto_id}
                )

    def add_rows(key: str) -> None:
        formset = forms.lists[key]
        for error in formset.non_form_errors():
            summary.append({"place": f"{ROW_WORDS[key]}s", "messages": [error], "anchor": ""})
        for index, form in enumerate(formset.forms):
            where = f"{ROW_WORDS[key]} {index + 1}"
            rule_id = form["id"].value() if key == "rules" else None
            if rule_id:
                where += f" ({rule_id})"
            add_form(form, where, form.prefix)

    add_form(forms.main, "", "editor-general", fields=("name",))
    add_rows("rules")
    add_form(forms.main, "", "editor-negative", fields=("negative_additions",))
    add_rows("output_concepts")
    add_form(forms.limits, "Limits", "editor-limits")
    add_rows("examples")
    return summary
