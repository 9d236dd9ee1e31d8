"""Prompt normalisation for policy matching: undo the usual ways of disguising a word.

A prompt goes through three stages, each of which keeps a way back to the original string so
that a match can be reported as ``(start, end)`` offsets into what the creator typed:

1. **Per-character fold**: Unicode NFKC (fullwidth, ligatures, mathematical letters), case
   folding, removal of format characters (category Cf: zero-width space/joiners, word joiner,
   BOM, soft hyphen, bidi controls) and other invisible fillers, removal of combining marks
   (NFD, then categories Mn and Me dropped), and homoglyphs folded to their Latin base.
2. **Split letters joined**: a run of three or more single-character tokens separated by
   short runs of separators (space, dot, dash, underscore, ...) is joined, so "n u d e" and
   "s.e.x" read as words while "I am a fan" does not change.
3. **Word layout**: every run of non-word characters becomes one space (none at the ends),
   so phrases match however they are spaced or hyphenated.

Leetspeak (``0→o``, ``3→e``, ``$→s``, ...) is applied on top of that as a one-to-one
translation, so the leet and non-leet texts share offsets. ``1``, ``!`` and ``|`` (and, in
the text, ``l`` and a capital ``I`` among lower-case letters, which most fonts draw alike)
may stand for either ``i`` or ``l``: the matcher searches a text where both read as ``i``
and then checks each hit letter by letter against the term (see ``matching``).

Homoglyph data: ``confusable-homoglyphs`` (3.3.1), not ``confusables`` (1.2.0). Both ship
the Unicode TR39 ``confusables.txt`` table, but ``confusable-homoglyphs`` is maintained,
ships a recent table as plain JSON together with the code to refresh it from unicode.org,
and gives direct character pairs; ``confusables`` last shipped in 2021 with Unicode 8.0
data, and its API expands a string into all its look-alike spellings, which is the wrong
shape for a one-pass fold. We read its JSON once (on first use) into a ``char -> letter``
table limited to characters whose TR39 prototype is one ASCII letter or digit.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import json
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# Leetspeak: character -> the letters it may stand for. The first letter is the one the
# folded text uses; a term letter matches if it is any of them.
LEET: dict[str, str] = {
    "0": "o",
    "1": "il",
    "3": "e",
    "4": "a",
    "5": "s",
    "7": "t",
    "8": "b",
    "9": "g",
    "@": "a",
    "$": "s",
    "!": "il",
    "|": "il",
    "+": "t",
    "¡": "i",
    "€": "e",
}
# Leet characters that are punctuation: at the edge of a word they are more likely plain
# punctuation ("sale!") than a letter, so a term match may end (or start) next to them.
EDGE_SYMBOLS = "@$!|+¡€"
AMBIGUOUS_LEET = frozenset(c for c, letters in LEET.items() if len(letters) > 1)

# Characters that render as nothing (or as blank space inside a word) but are not Cf.
INVISIBLE = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u2800\u3164\uffa0")
_DROPPED_CATEGORIES = frozenset({"Mn", "Me", "Cf"})

_SYMBOL_CLASS = EDGE_SYMBOLS  # word characters, like letters and digits
# "ss" is one letter of a split word too: what a German sharp s ("ß") folds to.
_WORD = rf"(?:ss|[^\W_]|[{re.escape(_SYMBOL_CLASS)}])"
_NOT_AFTER_WORD = rf"(?<![^\W_])(?<![{re.escape(_SYMBOL_CLASS)}])"
_NOT_BEFORE_WORD = rf"(?![^\W_])(?![{re.escape(_SYMBOL_CLASS)}])"
_SEPARATOR = r"[\s.\-_*~·•/,]"
# Three or more single-character tokens, each pair separated by 1-3 separator characters.
SPLIT_RUN = re.compile(
    rf"{_NOT_AFTER_WORD}{_WORD}(?:{_SEPARATOR}{{1,3}}{_WORD}{_NOT_BEFORE_WORD}){{2,}}"
)
_SPLIT_LETTER = re.compile(_WORD)
_SYMBOL_RUN = re.compile(f"[{re.escape(_SYMBOL_CLASS)}]+")
_HAS_AMBIGUOUS = re.compile(f"[{re.escape(''.join(sorted(AMBIGUOUS_LEET)))}]")


class _TranslationTable(dict[int, int]):
    """A one-to-one ``str.translate`` table; unlisted characters map to themselves.

    Every ASCII code is listed, so ``translate`` never looks up a missing key (slow) for
    ASCII text; other characters are added as they are seen.
    """

    def __init__(self, changes: dict[str, str]):
        super().__init__({code: code for code in range(128)})
        self.update({ord(old): ord(new) for old, new in changes.items()})

    def __missing__(self, code: int) -> int:
        if len(self) < 200_000:
            self[code] = code
        return code


# strict -> leet text (ambiguous characters read as "i", or as "l"); strict -> search key
# (leet, and "l" read as "i" as well).
LEET_AS_I = _TranslationTable({c: letters[0] for c, letters in LEET.items()})
LEET_AS_L = _TranslationTable(
    {c: ("l" if c in AMBIGUOUS_LEET else letters[0]) for c, letters in LEET.items()}
)
SEARCH_KEY = _TranslationTable({**{c: letters[0] for c, letters in LEET.items()}, "l": "i"})

_CONFUSABLES_JSON = "confusables.json"
_BIDI_MARKS = str.maketrans("", "", "\u200e\u200f")
# Look-alikes TR39 maps to a small capital, to kra, to another Greek or Cyrillic letter or
# to no Latin letter at all, although they pass for a Latin letter in a word (issue 19):
# Greek eta reads as "n" and epsilon as "e". Beyond the UTS #39 skeleton on purpose: the map
# is applied after it, so it also overrides TR39 where TR39 gives another letter. Written as
# escapes, by script and Latin letter (``unicodedata.name`` says which character is which).
_LOOKALIKES_BY_SCRIPT = {
    "latin": {
        "k": "\u0138",
    },
    "greek": {
        "a": "\u03b1",
        "b": "\u03b2",
        "c": "\u03f2\u03f9\u03c2",
        "e": "\u03b5\u03f5",
        "i": "\u03b9",
        "k": "\u03ba\u03f0",
        "n": "\u03b7\u03c0\u03a0",
        "o": "\u03bf",
        "p": "\u03f1\u03c1",
        "t": "\u03c4",
        "u": "\u03bc\u03c5",
        "v": "\u03bd",
        "w": "\u03c9",
        "x": "\u03c7",
        "y": "\u03b3",
    },
    "cyrillic": {
        "b": "\u044c\u042c\u044a\u042a",
        "c": "\u04ab",
        "e": "\u0454\u0404\u044d\u042d",
        "h": "\u045b\u040b\u0452\u0402\u043d",
        "l": "\u04cf\u04c0",
        "n": "\u043f\u041f\u0418\u0419\u040d",
        "q": "\u051b",
        "r": "\u044f\u042f\u0433",
        "u": "\u0438\u0439\u045d\u0446\u0426\u045f\u040f",
        "v": "\u0475\u0474",
        "w": "\u0448\u0428\u0449\u0429\u051d",
    },
    "armenian": {
        "g": "\u0581",
        "h": "\u0570",
        "l": "\u053c\u056c\u0582\u0552",
        "n": "\u0578\u057c\u0580",
        "o": "\u0585\u0555",
        "p": "\u0584",
        "q": "\u0566",
        "u": "\u057d\u054d",
        "w": "\u0561",
    },
    "cherokee": {
        "a": "\u13aa",
        "b": "\u13f4",
        "c": "\u13df",
        "d": "\u13a0",
        "e": "\u13ac",
        "g": "\u13c0",
        "h": "\u13bb",
        "i": "\u13a5\u13c6",
        "j": "\u13ab",
        "k": "\u13e6",
        "l": "\u13de",
        "m": "\u13b7",
        "n": "\u13c1",
        "o": "\u13be",
        "p": "\u13e2",
        "r": "\u13a1\u13d2",
        "s": "\u13da",
        "t": "\u13a2",
        "v": "\u13d9",
        "w": "\u13b3\u13d4",
        "y": "\u13a9\u13bd",
        "z": "\u13c3",
    },
}
_EXTRA_HOMOGLYPHS = {
    char: latin
    for table in _LOOKALIKES_BY_SCRIPT.values()
    for latin, chars in table.items()
    for char in chars
}
# Letters of the languages the packs cover that TR39 likens to a Greek letter: they are real
# letters, folded by case folding ("ß" -> "ss"), never read as a look-alike.
_REAL_LETTERS = {"ß": "ss"}


@functools.cache
def homoglyph_table() -> dict[str, str]:
    """Non-ASCII character -> the lowercase ASCII letter or digit it imitates (TR39)."""
    import confusable_homoglyphs

    data_file = Path(confusable_homoglyphs.__file__).with_name(_CONFUSABLES_JSON)
    raw: dict[str, list[dict[str, str]]] = json.loads(data_file.read_text(encoding="utf-8"))
    pairs = {
        key.translate(_BIDI_MARKS): [entry["c"].translate(_BIDI_MARKS) for entry in entries]
        for key, entries in raw.items()
    }
    table: dict[str, str] = {}
    for char, lookalikes in pairs.items():
        if len(char) != 1 or char.isascii():
            continue
        bases = {c.lower() for c in lookalikes if len(c) == 1 and c.isascii() and c.isalnum()}
        if len(bases) == 1:
            table[char] = bases.pop()
    for char in map(chr, range(0x80, 0x2000)):
        name = unicodedata.name(char, "")
        if name.startswith("LATIN LETTER SMALL CAPITAL ") and len(name) == 28:
            table.setdefault(char, name[-1].lower())
    table.update(_EXTRA_HOMOGLYPHS)
    # One more hop, e.g. Cyrillic small TE -> Latin small capital T -> "t".
    for char, lookalikes in pairs.items():
        if len(char) != 1 or char.isascii() or char in _REAL_LETTERS:
            continue
        if char not in table:
            for lookalike in lookalikes:
                if lookalike in table:
                    table[char] = table[lookalike]
                    break
    return table


def fold_char(char: str) -> str:
    """One character of a prompt, folded (stage 1). ASCII folds to ``char.lower()``.

    NFKC goes first, so that compatibility forms keep their meaning (a fullwidth capital I
    is "i", a mathematical bold one is "1"); the homoglyph table applies to what NFKC leaves
    alone, before case folding (Cyrillic capital EN imitates "H"; its lower case does not).
    """
    if char.isascii():
        return char.lower()
    if char in INVISIBLE:
        return ""
    if char in _EXTRA_HOMOGLYPHS:  # before NFKC, which turns some into another letter
        return _EXTRA_HOMOGLYPHS[char]
    homoglyphs = homoglyph_table()
    compatible = unicodedata.normalize("NFKC", char)
    if compatible == char and char in homoglyphs:
        return homoglyphs[char]
    decomposed = unicodedata.normalize("NFD", compatible.casefold())
    return "".join(
        homoglyphs.get(c, c)
        for c in decomposed
        if c not in INVISIBLE and unicodedata.category(c) not in _DROPPED_CATEGORIES
    )


class _FoldTable(dict[str, str]):
    """Memo of ``fold_char`` for non-ASCII characters, filled as characters are seen."""

    def __missing__(self, char: str) -> str:
        folded = fold_char(char)
        if len(self) < 200_000:
            self[char] = folded
        return folded


_FOLD = _FoldTable()


@functools.lru_cache(maxsize=4096)
def reads_as_i_or_l(char: str) -> bool:
    """Whether an original prompt character could be meant as either "i" or "l".

    True for "l", capital "I", "1", "!", "|" and their look-alikes (TR39 gives "l" as the
    prototype of all of them); false for a dotted lowercase "i" and for capital "L". The
    matcher does not count a capital "I" in an all-capitals word ("BAILS" is not "BALLS").
    """
    if char in "lI1!|\u04cf":  # the last is Cyrillic small palochka, which TR39 likens to "i"
        return True
    if char.isascii():
        return False
    compatible = unicodedata.normalize("NFKC", char)
    if compatible != char:
        return len(compatible) == 1 and reads_as_i_or_l(compatible)
    return homoglyph_table().get(char) == "l"


def _join_split_run(run: str, offset: int) -> tuple[str, list[int]]:
    """Join one run of split letters; a wider or different gap stays as a word break."""
    letters = list(_SPLIT_LETTER.finditer(run))
    gaps = [run[a.end() : b.start()] for a, b in itertools.pairwise(letters)]
    usual = Counter(gaps).most_common(1)[0][0]
    usual_has_space = any(c.isspace() for c in usual)
    chars = [letters[0].group()]
    positions = [offset + letters[0].start() + k for k in range(len(chars[0]))]
    for gap, letter in zip(gaps, letters[1:], strict=True):
        if gap != usual and (
            len(gap) > len(usual) or (not usual_has_space and any(c.isspace() for c in gap))
        ):
            chars.append(" ")
            positions.append(offset + letter.start() - len(gap))
        chars.append(letter.group())
        positions.extend(offset + letter.start() + k for k in range(len(letter.group())))
    return "".join(chars), positions


def _join_split_letters(text: str) -> tuple[str, list[int] | None]:
    """Stage 2: the text with split-letter runs joined, and where each character came from."""
    runs = list(SPLIT_RUN.finditer(text))
    if not runs:
        return text, None
    pieces: list[str] = []
    positions: list[int] = []
    cursor = 0
    for run in runs:
        pieces.append(text[cursor : run.start()])
        positions.extend(range(cursor, run.start()))
        joined, joined_positions = _join_split_run(run.group(), run.start())
        pieces.append(joined)
        positions.extend(joined_positions)
        cursor = run.end()
    pieces.append(text[cursor:])
    positions.extend(range(cursor, len(text)))
    return "".join(pieces), positions


class _LayoutTable(dict[int, int]):
    """``str.translate`` table of stage 3: a word character stays, any other becomes a space."""

    def __init__(self) -> None:
        super().__init__()
        for code in range(128):
            self.__missing__(code)

    def __missing__(self, ordinal: int) -> int:
        char = chr(ordinal)
        kept = ordinal if char.isalnum() or char in _SYMBOL_CLASS else 32
        if len(self) < 200_000:
            self[ordinal] = kept
        return kept


_LAYOUT = _LayoutTable()
_PLUS_ONE = (1).__add__  # word length plus its separator, for offsets
# Three single-character words in a row, on laid-out text padded with spaces: a cheap test
# for whether stage 2 (split letters) has anything to do.
_MAYBE_SPLIT = re.compile(" [^ ] [^ ] [^ ] ")


def _edge_symbol_runs(strict: str) -> list[tuple[int, int]]:
    """Runs of punctuation leet symbols that start or end a word ("!sex", "sex!")."""
    runs = []
    for run in _SYMBOL_RUN.finditer(strict):
        start, end = run.span()
        if start == 0 or strict[start - 1] == " " or end == len(strict) or strict[end] == " ":
            runs.append((start, end))
    return runs


@dataclass(eq=False)
class NormalizedText:
    """A prompt after normalisation, with the way back to the original offsets.

    ``strict`` is folded and laid out but keeps digits and leet symbols; ``key`` is the
    same text with leet applied and "l" read as "i" (what term search runs on). Both have
    the same length; positions in them are "normalised offsets". The way back is worked out
    only when a match needs reporting.
    """

    original: str
    strict: str
    key: str
    edge_symbol_runs: list[tuple[int, int]]  # punctuation leet starting/ending a word ("sex!")
    _parts: list[str] | None  # per original character, its fold (None: one char each)
    _laid: str  # stage 2's text with non-word characters as spaces (before runs shrink)
    _join_positions: list[int] | None  # stage-2 position -> stage-1 position (None: same)
    _tokens: tuple[list[int], list[int], list[int]] | None = field(default=None, repr=False)
    _part_ends: list[int] | None = field(default=None, repr=False)

    def regex_texts(self) -> list[str]:
        """The distinct texts regex rules run on.

        Plain (edge symbols blanked, so "sex!" reads "sex "), leet read with "i" for the
        ambiguous characters, and leet read with "l" (only where there are any).
        """
        strict = self.strict
        plain = strict
        if self.edge_symbol_runs:
            pieces, cursor = [], 0
            for start, end in self.edge_symbol_runs:
                pieces += [strict[cursor:start], " " * (end - start)]
                cursor = end
            plain = "".join([*pieces, strict[cursor:]])
        texts = [plain]
        as_i = strict.translate(LEET_AS_I)
        if as_i != plain:
            texts.append(as_i)
        if _HAS_AMBIGUOUS.search(strict):
            as_l = strict.translate(LEET_AS_L)
            if as_l not in texts:
                texts.append(as_l)
        return texts

    def _joined_position(self, position: int) -> int:
        """Stage 3 back to stage 2; a space maps to the first character of its run."""
        if self._tokens is None:
            lengths = list(map(len, self.strict.split(" ")))
            starts = list(itertools.accumulate(map(_PLUS_ONE, lengths), initial=0))
            pieces = self._laid.split(" ")
            piece_starts = itertools.accumulate(map(_PLUS_ONE, map(len, pieces)), initial=0)
            joined_starts = list(itertools.compress(piece_starts, pieces))
            self._tokens = (starts, joined_starts, lengths)
        starts, joined_starts, lengths = self._tokens
        index = bisect.bisect_right(starts, position) - 1
        return joined_starts[index] + min(position - starts[index], lengths[index])

    def _original_range(self, position: int) -> tuple[int, int]:
        """The original characters behind one normalised character, as ``(start, end)``."""
        folded = self._joined_position(position)
        if self._join_positions is not None:
            folded = self._join_positions[folded]
        if self._parts is None:
            return folded, folded + 1
        if self._part_ends is None:
            self._part_ends = list(itertools.accumulate(map(len, self._parts)))
        part_ends = self._part_ends
        index = bisect.bisect_right(part_ends, folded)
        end = index + 1
        if folded == part_ends[index] - 1:
            # Characters folded to nothing (zero-width, marks) go with the one before them.
            while end < len(self._parts) and not self._parts[end]:
                end += 1
        return index, end

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Original ``(start, end)`` of the normalised slice ``[start, end)`` (non-empty)."""
        return self._original_range(start)[0], self._original_range(end - 1)[1]

    def original_char(self, position: int) -> str:
        """The (first) original character behind the normalised character at ``position``."""
        return self.original[self._original_range(position)[0]]


def normalize(text: str) -> NormalizedText:
    """Normalise a prompt (or a term) for matching. Linear in ``len(text)``."""
    if text.isascii():
        parts = None
        folded = text.lower()
    else:
        parts = list(map(_FOLD.__getitem__, text))
        folded = "".join(parts)
        if len(folded) == len(text) and "" not in parts:
            parts = None  # every character folded to exactly one: offsets unchanged
    join_positions = None
    laid = folded.translate(_LAYOUT)
    strict = " ".join(laid.split())
    if _MAYBE_SPLIT.search(f" {strict} "):
        joined, join_positions = _join_split_letters(folded)
        if join_positions is not None:
            laid = joined.translate(_LAYOUT)
            strict = " ".join(laid.split())
    return NormalizedText(
        original=text,
        strict=strict,
        key=strict.translate(SEARCH_KEY),
        edge_symbol_runs=_edge_symbol_runs(strict),
        _parts=parts,
        _laid=laid,
        _join_positions=join_positions,
    )
