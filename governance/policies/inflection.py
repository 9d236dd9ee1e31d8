"""Simple inflections of a term, per language (issue 19): plurals, -ing, -ed and the like.

A term rule with ``inflect`` on (the default) matches the inflected forms of its last word
as well as the term itself, so "nude" also catches "nudes", "nackt" catches "nackte" and
"desnudo" catches "desnudas". The forms are generated when the policy is compiled and go
into the same automaton as the terms, so they cost nothing per prompt.

The rules are deliberately small: suffixes that make the same word (number, gender, tense),
never suffixes that make another word ("-er": "killer"; "-y": "sexy"; "-ist"). Words are
given already normalised (lower case, no accents: ``normalize(term).strict``).
"""

from __future__ import annotations

VOWELS = frozenset("aeiou")
#: The languages a rule (or a pack's term list) may name; "any" is for names and brands,
#: which are inflected like English ("Obamas").
LANGUAGES = ("en", "de", "fr", "es", "it", "pt", "any")


def _english(word: str) -> set[str]:
    forms = {word + "s", word + "ed", word + "ing"}
    if word.endswith(("s", "x", "z", "ch", "sh", "o")):
        forms.add(word + "es")
    if word.endswith("e"):
        forms |= {word + "d", word[:-1] + "ing"}
        forms.discard(word + "ed")
    if len(word) > 2 and word.endswith("y") and word[-2] not in VOWELS:
        forms |= {word[:-1] + "ies", word[:-1] + "ied"}
    if (  # consonant-vowel-consonant: "stab" -> "stabbed", "stabbing"
        3 <= len(word) <= 5
        and word[-1] not in VOWELS | {"w", "x", "y"}
        and word[-2] in VOWELS
        and word[-3] not in VOWELS
    ):
        forms |= {word + word[-1] + "ed", word + word[-1] + "ing"}
    return forms


def _german(word: str) -> set[str]:
    # Adjective and noun endings: nackt -> nackte, nackten, nackter, nacktes, nacktem.
    forms = {word + suffix for suffix in ("e", "en", "er", "es", "em", "s")}
    if word.endswith("e"):
        forms.add(word + "n")
    return forms


def _french(word: str) -> set[str]:
    forms = {word + "s"}
    if not word.endswith("e"):
        forms |= {word + "e", word + "es"}
    return forms


def _romance(word: str, *, plural_i: bool) -> set[str]:
    """Spanish, Portuguese (``plural_i`` False) and Italian (True): gender and number."""
    stem, last = word[:-1], word[-1:]
    if plural_i:
        if last == "o":
            return {stem + "a", stem + "i", stem + "e"}
        if last == "a":
            return {stem + "o", stem + "e", stem + "i"}
        if last == "e":
            return {stem + "i"}
        return set()
    if word.endswith("ao"):  # Portuguese -ção -> -ções (accents already removed)
        return {word[:-2] + "oes", word + "s"}
    if last == "o":
        return {stem + "a", stem + "os", stem + "as"}
    if last == "a":
        return {stem + "o", stem + "os", stem + "as"}
    if last in VOWELS:
        return {word + "s"}
    if last == "z":
        return {stem + "ces"}
    return {word + "es", word + "a", word + "as"}


_BY_LANGUAGE = {
    "en": _english,
    "any": _english,
    "de": _german,
    "fr": _french,
    "es": lambda word: _romance(word, plural_i=False),
    "pt": lambda word: _romance(word, plural_i=False),
    "it": lambda word: _romance(word, plural_i=True),
}


def word_forms(word: str, language: str) -> set[str]:
    """The inflected forms of one normalised word (not the word itself). Words of fewer than
    three letters, or with digits, are not inflected: "3m" stays "3m"."""
    if len(word) < 3 or not word.isalpha():
        return set()
    return _BY_LANGUAGE[language](word) - {word}


def term_forms(strict: str, language: str | None) -> list[str]:
    """A normalised term and its inflected forms (last word inflected), the term first.

    ``language`` None: no inflection.
    """
    forms = [strict]
    if language is None:
        return forms
    head, _, last = strict.rpartition(" ")
    prefix = f"{head} " if head else ""
    forms += sorted(prefix + form for form in word_forms(last, language))
    return forms


def surface_forms(base: str, language: str | None) -> list[str]:
    """A normalised term and the forms it also matches: its inflections, and for a phrase
    its words joined ("taylorswift", which is also how "TaylorSwift" and "t.a.y.l.o.r.s.w.i.f.t"
    read once normalised)."""
    forms = term_forms(base, language)
    if " " in base:
        forms += [form.replace(" ", "") for form in forms]
    return list(dict.fromkeys(forms))
