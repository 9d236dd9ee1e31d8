"""Show a policy's judgement of a prompt: the prompt with each matched span highlighted, the
matches as stored and sent to clients, and the refusal in plain words.

Why: creators (live feedback, request page) and policy editors (test console) must see which
words a rule caught, in their own spelling; one function keeps both views alike and escaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe

from governance.policies.matching import Action, Outcome
from governance.policies.services import PolicyDecision

ACTION_STRENGTH = {Action.WARN.value: 1, Action.REVIEW.value: 2, Action.BLOCK.value: 3}
#: How each category is named to people (pages, live feedback).
CATEGORY_LABELS = {
    "sexual": "sexual content",
    "violence": "violence and gore",
    "hate": "hate symbols and slurs",
    "drugs": "drugs",
    "weapons": "weapons",
    "self_harm": "self-harm",
    "minors": "minors in unsafe contexts",
    "public_figures": "public figures and likeness",
    "competitor_brands": "trademarks and brands of others",
    "custom": "custom rule",
}


def with_category_labels(matches: list[dict]) -> list[dict]:
    """Stored matches with ``category_label``, the category in words, for display."""
    return [
        {**match, "category_label": CATEGORY_LABELS.get(match["category"], match["category"])}
        for match in matches
    ]


def _field(match: Any, name: str) -> Any:
    return match[name] if isinstance(match, Mapping) else getattr(match, name)


def highlight_matches(prompt: str, matches: Iterable[Any]) -> SafeString:
    """``prompt``, escaped, with each matched span in ``<mark class="match match-<action>">``.

    ``matches`` are ``Match`` objects or their stored dicts (``start``, ``end``, ``action``,
    ``category``). Overlapping spans merge and take the strongest action.
    """
    spans: list[list] = []
    ordered = sorted(matches, key=lambda m: (_field(m, "start"), _field(m, "end")))
    for match in ordered:
        start = max(0, _field(match, "start"))
        end = min(len(prompt), _field(match, "end"))
        action, category = str(_field(match, "action")), str(_field(match, "category"))
        if start >= end:
            continue
        if spans and start < spans[-1][1]:
            last = spans[-1]
            last[1] = max(last[1], end)
            last[2].add(category)
            if ACTION_STRENGTH.get(action, 0) > ACTION_STRENGTH.get(last[3], 0):
                last[3] = action
        else:
            spans.append([start, end, {category}, action])
    parts, position = [], 0
    for start, end, categories, action in spans:
        parts.append(conditional_escape(prompt[position:start]))
        parts.append(
            format_html(
                '<mark class="match match-{}" title="{}: {}">{}</mark>',
                action,
                action,
                ", ".join(sorted(c.replace("_", " ") for c in categories)),
                prompt[start:end],
            )
        )
        position = end
    parts.append(conditional_escape(prompt[position:]))
    # Every part was escaped above (conditional_escape), so bandit's B308/B703 do not apply.
    return mark_safe("".join(str(part) for part in parts))  # nosec B308 B703


def policy_matches_data(matches) -> list[dict]:
    """Policy matches as stored on a request and sent to API clients."""
    return [
        {
            "rule": match.rule_id,
            "category": str(match.category),
            "action": str(match.action),
            "term": match.term,
            "text": match.matched_text,
            "start": match.start,
            "end": match.end,
            "explanation": match.explanation,
        }
        for match in matches
    ]


def policy_refusal_message(decision: PolicyDecision) -> str:
    """Why a prompt is refused, in plain words: the matched words, categories and reasons."""
    stopping = [match for match in decision.matches if match.action != Action.WARN]
    reasons = "; ".join(
        f"\u201c{match.matched_text}\u201d matched a {match.category.replace('_', ' ')} rule: "
        f"{match.explanation}"
        for match in stopping
    )
    if decision.outcome == Outcome.BLOCK:
        return f"The prompt policy blocks this prompt. {reasons}"
    return (
        "This prompt needs a reviewer's approval, but the project's review workflow has no "
        f"prompt review stage: ask an admin to add one. {reasons}"
    )
