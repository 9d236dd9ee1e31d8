"""Prompt policy matching: compile rules once, then check many prompts quickly (issue 5).

Terms are matched as whole words or whole phrases on the normalised prompt (see
``normalize``), all at once with one Aho-Corasick automaton (``pyahocorasick``), so a policy
with thousands of terms costs about as much per prompt as one with ten. Regular-expression
rules are compiled with RE2 (``google-re2``), which runs in time linear in the prompt, so no
rule can hang a worker; all of a policy's patterns are first tried together as one
``re2.Set``, and only the patterns that matched are run again for their spans.

Plain Python, no Django: the models and services of issue 5 build ``Rule`` objects from
the stored policy version and keep one ``CompiledPolicy`` per version.
"""

from __future__ import annotations

import enum
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import ahocorasick
import re2

from governance.policies.inflection import LANGUAGES, surface_forms
from governance.policies.normalize import (
    EDGE_SYMBOLS,
    LEET,
    NormalizedText,
    normalize,
    reads_as_i_or_l,
)
from governance.policies.variants import (
    has_letter_runs,
    run_text,
    runs_agree,
    squeeze,
    squeeze_runs,
    visual_order,
)

#: The longest prompt (and negative prompt) anyone may submit or have judged, in characters:
#: the one limit of the request form, the API, live feedback and policy evaluation. The API
#: schema states it (policy evaluation's maxLength), so changing it changes the schema.
MAX_PROMPT_CHARS = 4000
MAX_PATTERN_CHARS = 2000


class Category(enum.StrEnum):
    SEXUAL = "sexual"
    VIOLENCE = "violence"
    HATE = "hate"
    DRUGS = "drugs"
    WEAPONS = "weapons"
    SELF_HARM = "self_harm"
    MINORS = "minors"
    PUBLIC_FIGURES = "public_figures"
    COMPETITOR_BRANDS = "competitor_brands"
    CUSTOM = "custom"


class Action(enum.StrEnum):
    BLOCK = "block"
    REVIEW = "review"
    WARN = "warn"


class Outcome(enum.StrEnum):
    ALLOW = "allow"
    REVIEW = "review"
    BLOCK = "block"


class PolicyRuleError(ValueError):
    """A rule cannot be compiled (bad term list, invalid or unsupported pattern)."""

    def __init__(self, rule_id: str, reason: str, pattern: str | None = None):
        self.rule_id = rule_id
        self.reason = reason
        self.pattern = pattern
        where = f"rule {rule_id!r}" + (f", pattern {pattern!r}" if pattern is not None else "")
        super().__init__(f"{where}: {reason}")


class PromptTooLong(ValueError):
    """The prompt is longer than ``MAX_PROMPT_CHARS``; it was not evaluated."""

    def __init__(self, length: int, limit: int = MAX_PROMPT_CHARS):
        self.length = length
        self.limit = limit
        super().__init__(f"prompt is {length} characters long; the limit is {limit}")


def prompt_length_error(text: str, *, what: str = "prompt") -> str | None:
    """Why ``text`` is refused for its length (None if it fits): one wording wherever a prompt
    or negative prompt over ``MAX_PROMPT_CHARS`` is refused."""
    if len(text) <= MAX_PROMPT_CHARS:
        return None
    return f"The {what} is {len(text)} characters long; the limit is {MAX_PROMPT_CHARS}."


@dataclass(frozen=True, slots=True)
class Rule:
    """One policy rule: a list of words/phrases, or one regular expression.

    ``inflect``: also match the simple inflections of each term's last word (plural, -ing,
    -ed, gender and number endings) by the rules of ``language`` (see ``inflection``).
    """

    id: str
    category: Category
    action: Action
    explanation: str
    terms: tuple[str, ...] = ()
    pattern: str | None = None
    inflect: bool = True
    language: str = "en"
    #: Phrases inside which a term of this rule does not count ("nude lipstick"): matched
    #: as whole words, with English inflections, but without disguises being read.
    exceptions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "category", Category(self.category))
            object.__setattr__(self, "action", Action(self.action))
        except ValueError as error:
            raise PolicyRuleError(self.id, str(error)) from None
        if isinstance(self.terms, str):
            raise PolicyRuleError(self.id, "terms must be a list of strings, not one string")
        object.__setattr__(self, "terms", tuple(self.terms))
        object.__setattr__(self, "exceptions", tuple(self.exceptions))
        if bool(self.terms) == (self.pattern is not None):
            raise PolicyRuleError(self.id, "a rule has either terms or a pattern (not both)")
        if self.language not in LANGUAGES:
            raise PolicyRuleError(
                self.id, f"unknown language {self.language!r}; one of: {', '.join(LANGUAGES)}"
            )


@dataclass(frozen=True, slots=True)
class Match:
    """Where a rule matched, as offsets into the original prompt."""

    rule_id: str
    category: Category
    action: Action
    explanation: str
    term: str  # the rule's term as written, or its pattern
    matched_text: str  # prompt[start:end]
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The outcome for one prompt: block beats review; warnings alone still allow."""

    outcome: Outcome
    matches: tuple[Match, ...]

    @property
    def warnings(self) -> tuple[Match, ...]:
        return tuple(m for m in self.matches if m.action == Action.WARN)


def outcome_for(matches: Iterable[Match]) -> Outcome:
    """Block if any match blocks, else review if any asks for review, else allow."""
    actions = {m.action for m in matches}
    if Action.BLOCK in actions:
        return Outcome.BLOCK
    if Action.REVIEW in actions:
        return Outcome.REVIEW
    return Outcome.ALLOW


@dataclass(frozen=True, slots=True)
class _Term:
    rule: Rule
    written: str
    strict: str  # normalised, leet not applied: digits in a term must be digits


def _unsupported_reason(pattern: str, error: str) -> str:
    """A clear reason for a pattern RE2 refused (RE2's own message kept at the end)."""
    if "invalid perl operator: (?=" in error or "invalid perl operator: (?!" in error:
        return f"lookahead is not supported (RE2 runs in linear time); RE2 said: {error}"
    if "invalid perl operator: (?<" in error and ("(?<=" in pattern or "(?<!" in pattern):
        return f"lookbehind is not supported (RE2 runs in linear time); RE2 said: {error}"
    if "invalid escape sequence: \\" in error and error.rstrip()[-1:].isdigit():
        return f"backreferences are not supported (RE2 runs in linear time); RE2 said: {error}"
    if "(?P=" in pattern and "invalid perl operator: (?P" in error:
        return f"backreferences are not supported (RE2 runs in linear time); RE2 said: {error}"
    return f"invalid regular expression: {error}"


def _regex_options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False  # prompts are case-folded; patterns may use capitals
    options.log_errors = False
    return options


def compile_pattern(rule_id: str, pattern: str, max_chars: int | None = MAX_PATTERN_CHARS):
    """Compile one rule pattern with RE2, or raise ``PolicyRuleError`` saying why not.

    ``max_chars`` bounds what people write (documents are checked with it); the patterns a
    pack generates from its word lists are longer and compiled with None.
    """
    if not pattern:
        raise PolicyRuleError(rule_id, "the pattern is empty", pattern)
    if max_chars is not None and len(pattern) > max_chars:
        reason = f"the pattern is longer than {max_chars} characters"
        raise PolicyRuleError(rule_id, reason, pattern)
    try:
        compiled = re2.compile(pattern, _regex_options())
    except re2.error as error:
        message = error.args[0] if error.args else ""
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        reason = _unsupported_reason(pattern, str(message))
        raise PolicyRuleError(rule_id, reason, pattern) from None
    if compiled.fullmatch("") is not None:
        raise PolicyRuleError(
            rule_id, "the pattern matches the empty string, so it would match every prompt", pattern
        )
    return compiled


class CompiledPolicy:
    """A policy's rules, compiled once; ``match``/``evaluate`` are safe to call concurrently."""

    def __init__(self, rules: Sequence[Rule]):
        self.rules = tuple(rules)
        seen: set[str] = set()
        by_key: dict[str, list[_Term]] = {}
        regexes = []
        for rule in self.rules:
            if rule.id in seen:
                raise PolicyRuleError(rule.id, "two rules have this id")
            seen.add(rule.id)
            if rule.pattern is not None:
                regexes.append((rule, compile_pattern(rule.id, rule.pattern, None)))
                continue
            for written in rule.terms:
                base = normalize(written).strict.strip()
                if not base:
                    raise PolicyRuleError(rule.id, f"term {written!r} has no letters or digits")
                for strict in surface_forms(base, rule.language if rule.inflect else None):
                    key = normalize(strict).key
                    by_key.setdefault(key, []).append(_Term(rule, written, strict))
        # Two automatons over the same terms: keys padded with spaces find only whole words
        # (no per-hit work for the many hits inside longer words); bare keys, whose hits are
        # checked for word edges one by one, serve texts with punctuation leet ("sex!").
        # A third, over the keys with every run of a repeated letter squeezed to one, finds
        # "nuuuude" (used only for prompts with a letter three times in a row).
        self._whole_words = self._bare = self._squeezed = None
        if by_key:
            self._whole_words = ahocorasick.Automaton()
            self._bare = ahocorasick.Automaton()
            self._squeezed = ahocorasick.Automaton()
            by_squeezed: dict[str, list[_Term]] = {}
            for key, terms in by_key.items():
                self._whole_words.add_word(f" {key} ", (len(key), tuple(terms)))
                self._bare.add_word(key, (len(key), tuple(terms)))
                for term in terms:
                    by_squeezed.setdefault(squeeze(run_text(term.strict)), []).append(term)
            for key, terms in by_squeezed.items():
                self._squeezed.add_word(f" {key} ", (len(key), tuple(terms)))
            # A letter three times in a row, as a hit without terms: tells the same pass over
            # the text whether the repeated-letter pass is needed (cheaper than a regex).
            for letter in string.ascii_lowercase:
                self._whole_words.add_word(letter * 3, (3, ()))
            self._whole_words.make_automaton()
            self._bare.make_automaton()
            self._squeezed.make_automaton()
        self._regexes = tuple(regexes)
        self._exceptions = None
        by_exception: dict[str, set[str]] = {}
        for rule in self.rules:
            for phrase in rule.exceptions:
                for form in surface_forms(normalize(phrase).strict.strip(), "en"):
                    by_exception.setdefault(normalize(form).key, set()).add(rule.id)
        if by_exception:
            self._exceptions = ahocorasick.Automaton()
            for key, rule_ids in by_exception.items():
                self._exceptions.add_word(f" {key} ", (len(key), frozenset(rule_ids)))
            self._exceptions.make_automaton()
        self._regex_set = None
        if regexes:
            regex_set = re2.Set.SearchSet(_regex_options())
            for rule, _ in regexes:
                regex_set.Add(rule.pattern)
            regex_set.Compile()
            self._regex_set = regex_set

    @classmethod
    def from_rules(cls, rules: Iterable[Rule]) -> CompiledPolicy:
        return cls(tuple(rules))

    def match(self, prompt: str) -> list[Match]:
        """Every rule match in ``prompt``, ordered by position; raises ``PromptTooLong``.

        Text inside right-to-left override characters is shown reversed; it is also read
        in the order it is shown, and its matches point back at the original characters.
        """
        if len(prompt) > MAX_PROMPT_CHARS:
            raise PromptTooLong(len(prompt))
        found: dict[tuple[str, str, int, int], Match] = {}
        self._match_into(found, prompt, normalize(prompt))
        shown = visual_order(prompt)
        if shown is not None:
            visual, origins = shown
            seen: dict[tuple[str, str, int, int], Match] = {}
            self._match_into(seen, visual, normalize(visual))
            for match in seen.values():
                covered = origins[match.start : match.end]
                start, end = min(covered), max(covered) + 1
                found.setdefault(
                    (match.rule_id, match.term, start, end),
                    Match(
                        match.rule_id,
                        match.category,
                        match.action,
                        match.explanation,
                        match.term,
                        prompt[start:end],
                        start,
                        end,
                    ),
                )
        return sorted(found.values(), key=lambda m: (m.start, m.end, m.rule_id, m.term))

    def _match_into(self, found: dict, prompt: str, text: NormalizedText) -> None:
        if self._bare is not None:
            key, strict = text.key, text.strict
            runs = False
            if text.edge_symbol_runs:
                runs = has_letter_runs(strict)
                hits = (
                    (last - length + 1, terms)
                    for last, (length, terms) in self._bare.iter(key)
                    if _word_edge_before(key, strict, last - length + 1)
                    and _word_edge_after(key, strict, last + 1)
                )
            else:  # padded text: a hit ends at padded index last, i.e. key index last - 1
                hits = (
                    (last - length - 1, terms)
                    for last, (length, terms) in self._whole_words.iter(f" {key} ")
                )
            for start, terms in hits:
                if not terms:  # three of a letter in the key; in the text too? ("ill" is not)
                    runs = runs or _is_run(strict, start + 1)  # markers are not padded
                for term in terms:
                    if _letters_agree(term.strict, text, start):
                        end = start + len(term.strict)
                        self._add(found, prompt, text, term.rule, term.written, start, end)
            if runs:
                self._match_runs(found, prompt, text)
        if self._regex_set is not None:
            for variant in text.regex_texts():
                hits = self._regex_set.Match(variant.encode())
                for index in hits or ():
                    rule, compiled = self._regexes[index]
                    for hit in compiled.finditer(variant):
                        if hit.end() > hit.start():
                            self._add(found, prompt, text, rule, rule.pattern, *hit.span())
        if self._exceptions is not None and found:
            self._drop_exceptions(found, text)

    def _drop_exceptions(self, found: dict, text: NormalizedText) -> None:
        """Forget the term matches that lie inside one of their rule's exception phrases."""
        spans = [
            (*text.original_span(last - length - 1, last - 1), rule_ids)
            for last, (length, rule_ids) in self._exceptions.iter(f" {text.key} ")
        ]
        if not spans:
            return
        for key, match in list(found.items()):
            for start, end, rule_ids in spans:
                if match.rule_id in rule_ids and start <= match.start and match.end <= end:
                    del found[key]
                    break

    def _match_runs(self, found: dict, prompt: str, text: NormalizedText) -> None:
        """Terms spelt with a letter repeated three or more times ("nuuude", "killllll")."""
        squeezed, starts, lengths = squeeze_runs(run_text(text.strict))
        for last, (length, terms) in self._squeezed.iter(f" {squeezed} "):
            first = last - length - 1  # padded: squeezed index of the hit's first letter
            for term in terms:
                if runs_agree(term.strict, text, starts, lengths, first, length, _char_agrees):
                    start = starts[first]
                    end = starts[first + length - 1] + lengths[first + length - 1]
                    self._add(found, prompt, text, term.rule, term.written, start, end)

    def evaluate(self, prompt: str) -> Evaluation:
        """The outcome for ``prompt`` with the matches that decided it."""
        matches = tuple(self.match(prompt))
        return Evaluation(outcome_for(matches), matches)

    @staticmethod
    def _add(
        found: dict[tuple[str, str, int, int], Match],
        prompt: str,
        text: NormalizedText,
        rule: Rule,
        term: str,
        start: int,
        end: int,
    ) -> None:
        original_start, original_end = text.original_span(start, end)
        found.setdefault(
            (rule.id, term, original_start, original_end),
            Match(
                rule_id=rule.id,
                category=rule.category,
                action=rule.action,
                explanation=rule.explanation,
                term=term,
                matched_text=prompt[original_start:original_end],
                start=original_start,
                end=original_end,
            ),
        )


def _word_edge_before(key: str, strict: str, start: int) -> bool:
    """A word starts at ``start``: the start, a space or only punctuation leet ("!sex") before."""
    position = start - 1
    while position >= 0 and key[position] != " ":
        if strict[position] not in EDGE_SYMBOLS:
            return False
        position -= 1
    return True


def _word_edge_after(key: str, strict: str, end: int) -> bool:
    """A word ends at ``end``: the end, a space or only punctuation leet ("sex!") after."""
    position = end
    while position < len(key) and key[position] != " ":
        if strict[position] not in EDGE_SYMBOLS:
            return False
        position += 1
    return True


def _is_run(strict: str, start: int) -> bool:
    """Whether the text has one letter three times from ``start`` (leet read as letters)."""
    three = run_text(strict[start : start + 3])
    return three[0] == three[1] == three[2]


def _char_agrees(wanted: str, text: NormalizedText, position: int) -> bool:
    """Whether the text's character at ``position`` may stand for the term letter ``wanted``
    (itself, leet, or an "l"/"i" written with a character that reads as either)."""
    have = text.strict[position]
    if have == wanted or (have in LEET and wanted in LEET[have]):
        return True
    return have in "il" and wanted in "il" and reads_as_i_or_l(text.original_char(position))


def _letters_agree(term: str, text: NormalizedText, start: int) -> bool:
    """Whether the text at ``start`` spells ``term``, reading leet and i/l look-alikes.

    The search key conflates i and l (and all leet), so each hit is checked here: a leet
    character must be able to stand for the term's letter, and the text may have "i" for a
    term's "l" (or the reverse) only where the original character could be either: "l",
    "1", "|", or a capital "I" among lower-case letters ("baIIs", but not "BAILS").
    """
    strict = text.strict
    if strict.startswith(term, start):
        return True
    for offset, wanted in enumerate(term):
        have = strict[start + offset]
        if have == wanted:
            continue
        if have in LEET and wanted in LEET[have]:
            continue
        if have in "il" and wanted in "il":
            original = text.original_char(start + offset)
            if reads_as_i_or_l(original) and not (
                original.isupper() and _all_capitals(text, start, len(term))
            ):
                continue
        return False
    return True


def _all_capitals(text: NormalizedText, start: int, length: int) -> bool:
    original_start, original_end = text.original_span(start, start + length)
    return not any(char.islower() for char in text.original[original_start:original_end])
