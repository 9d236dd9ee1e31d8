"""Show a policy's judgement of a prompt: the prompt with each matched span highlighted.

Why: creators (live feedback, request page) and policy editors (test console) must see which
words a rule caught, in their own spelling; one function keeps both views alike and escaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe

from governance.policies.matching import Action

ACTION_STRENGTH = {Action.WARN.value: 1, Action.REVIEW.value: 2, Action.BLOCK.value: 3}


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
    return mark_safe("".join(str(part) for part in parts))  # every part was escaped above
