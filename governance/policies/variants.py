"""Two more ways of disguising a word, read back for the matcher (issue 19).

- **Repeated letters** for emphasis ("nuuuude", "killllll"): the prompt is read with every
  run of a repeated letter squeezed to one, and a term matches where each of its letters
  stands for a run of the same letter that is either exactly as long as in the term or three
  letters or longer. So "nuuude" is "nude" but "annals" is not "anals": doubling a letter is
  how real words differ, tripling one is not.
- **Right-to-left override** (U+202E): the characters after it, up to a POP DIRECTIONAL
  FORMATTING (U+202C), a newline or the end, are shown reversed; "\u202eedun" is shown as
  "nude". ``visual_order`` gives the text in the order it is shown, with where each shown
  character comes from, so that the matcher can read it as shown and report spans in the
  original.

Plain Python, no Django.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from governance.policies.normalize import LEET_AS_I, NormalizedText

_RUN = re.compile(r"([^\W\d_])\1\1")  # a letter three times in a row
RIGHT_TO_LEFT_OVERRIDE = "\u202e"
#: Characters that end an override: POP DIRECTIONAL FORMATTING, another override or
#: embedding start (their own run), and line or paragraph ends.
_OVERRIDE_ENDS = frozenset("\u202c\u202a\u202b\u202d\u202e\u2066\u2067\u2068\u2069\n\r\u2029")


def run_text(strict: str) -> str:
    """The text runs are counted on: leet read as letters, "l" kept apart from "i"."""
    return strict.translate(LEET_AS_I)


def has_letter_runs(strict: str) -> bool:
    """Whether a normalised text has a letter three times in a row (cheap pre-check)."""
    return _RUN.search(strict) is not None


def squeeze(text: str) -> str:
    """Every run of one character squeezed to that character: "nuuude" -> "nude"."""
    return "".join(char for index, char in enumerate(text) if index == 0 or text[index - 1] != char)


def squeeze_runs(text: str) -> tuple[str, list[int], list[int]]:
    """``squeeze(text)``, and per squeezed character where its run starts and how long it is."""
    chars: list[str] = []
    starts: list[int] = []
    lengths: list[int] = []
    for index, char in enumerate(text):
        if chars and chars[-1] == char:
            lengths[-1] += 1
        else:
            chars.append(char)
            starts.append(index)
            lengths.append(1)
    return "".join(chars), starts, lengths


def runs_agree(
    term: str,
    text: NormalizedText,
    starts: list[int],
    lengths: list[int],
    first: int,
    count: int,
    char_agrees: Callable[[str, NormalizedText, int], bool],
) -> bool:
    """Whether the ``count`` runs of the text from run ``first`` spell ``term`` (normalised):
    each term run as long as the text's, or the text's three or longer, and every letter
    one that may stand for the term's (``char_agrees``)."""
    _squeezed, term_starts, term_lengths = squeeze_runs(run_text(term))
    if len(term_lengths) != count:
        return False
    for index in range(count):
        wanted, have = term_lengths[index], lengths[first + index]
        if have != wanted and (have < 3 or have < wanted):
            return False
        term_start, text_start = term_starts[index], starts[first + index]
        for offset in range(wanted):
            if not char_agrees(term[term_start + offset], text, text_start + offset):
                return False
    return True


def visual_order(prompt: str) -> tuple[str, list[int]] | None:
    """The prompt as shown, with each right-to-left override run reversed, and for each
    shown character its index in ``prompt``; None when the prompt has no override."""
    if RIGHT_TO_LEFT_OVERRIDE not in prompt:
        return None
    shown: list[str] = []
    origins: list[int] = []
    index, length = 0, len(prompt)
    while index < length:
        char = prompt[index]
        if char != RIGHT_TO_LEFT_OVERRIDE:
            shown.append(char)
            origins.append(index)
            index += 1
            continue
        end = index + 1
        while end < length and prompt[end] not in _OVERRIDE_ENDS:
            end += 1
        for position in range(end - 1, index, -1):
            shown.append(prompt[position])
            origins.append(position)
        index = end + 1 if end < length and prompt[end] == "\u202c" else end
    return "".join(shown), origins
