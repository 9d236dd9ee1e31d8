"""Prompt matching: disguised terms are caught, ordinary prompts pass, rules fail loudly."""

import unicodedata
from pathlib import Path

import pytest

from governance.policies.matching import (
    MAX_PROMPT_CHARS,
    Action,
    Category,
    CompiledPolicy,
    Outcome,
    PolicyRuleError,
    PromptTooLong,
    Rule,
)
from governance.policies.normalize import homoglyph_table, normalize

BENIGN_PROMPTS = Path(__file__).parent / "data" / "benign_prompts.txt"

RULES = (
    Rule(
        "sexual",
        Category.SEXUAL,
        Action.BLOCK,
        "Sexual content is not allowed in brand imagery.",
        terms=(
            "sex",
            "porn",
            "pornography",
            "ass",
            "cock",
            "dick",
            "anal",
            "cunt",
            "boobs",
            "hand job",
            "penis",
            "tits",
        ),
    ),
    Rule("nudity", Category.SEXUAL, Action.REVIEW, "Nudity needs review.", terms=("lingerie",)),
    Rule(
        "violence",
        Category.VIOLENCE,
        Action.BLOCK,
        "Violence is not allowed.",
        terms=("kill", "rape", "rapist", "murder", "behead", "massacre"),
    ),
    Rule("hate", Category.HATE, Action.BLOCK, "Hate symbols.", terms=("nazi", "white power")),
    Rule(
        "self-harm",
        Category.SELF_HARM,
        Action.BLOCK,
        "Self-harm content is not allowed.",
        terms=("suicide", "self harm", "cutting myself"),
    ),
    Rule(
        "people",
        Category.PUBLIC_FIGURES,
        Action.REVIEW,
        "Real people need legal review.",
        terms=("taylor swift", "elon musk"),
    ),
    Rule(
        "brands",
        Category.COMPETITOR_BRANDS,
        Action.WARN,
        "Competitor brand.",
        terms=("nike", "adidas", "Coca-Cola", "3M"),
    ),
    Rule("profanity", Category.CUSTOM, Action.REVIEW, "Profanity.", terms=("shit", "fuck")),
    Rule(
        "threats",
        Category.VIOLENCE,
        Action.BLOCK,
        "Threats against people.",
        pattern=r"\b(kill|stab|strangle)(s|ed|ing)? (him|her|them)\b",
    ),
    Rule("nude", Category.SEXUAL, Action.REVIEW, "Nudity.", pattern=r"\bnud(e|es|ity)\b"),
)
TERMS = [(rule, term) for rule in RULES for term in rule.terms]


@pytest.fixture(scope="module")
def policy():
    return CompiledPolicy.from_rules(RULES)


# --- Ways of disguising a term -----------------------------------------------------------

# Cyrillic, Greek and other look-alikes, by name; only letters that have one are replaced.
HOMOGLYPHS = {
    "a": unicodedata.lookup("CYRILLIC SMALL LETTER A"),
    "c": unicodedata.lookup("CYRILLIC SMALL LETTER ES"),
    "e": unicodedata.lookup("CYRILLIC SMALL LETTER IE"),
    "i": unicodedata.lookup("CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I"),
    "o": unicodedata.lookup("CYRILLIC SMALL LETTER O"),
    "p": unicodedata.lookup("CYRILLIC SMALL LETTER ER"),
    "s": unicodedata.lookup("CYRILLIC SMALL LETTER DZE"),
    "x": unicodedata.lookup("CYRILLIC SMALL LETTER HA"),
    "y": unicodedata.lookup("CYRILLIC SMALL LETTER U"),
    "h": unicodedata.lookup("CYRILLIC SMALL LETTER SHHA"),
    "k": unicodedata.lookup("GREEK SMALL LETTER KAPPA"),
    "n": unicodedata.lookup("ARMENIAN SMALL LETTER VO"),
    "t": unicodedata.lookup("CYRILLIC SMALL LETTER TE"),
    "u": unicodedata.lookup("GREEK SMALL LETTER UPSILON"),
    "v": unicodedata.lookup("GREEK SMALL LETTER NU"),
    "b": unicodedata.lookup("CYRILLIC CAPITAL LETTER SOFT SIGN"),
    "d": unicodedata.lookup("CYRILLIC SMALL LETTER KOMI DE"),
    "j": unicodedata.lookup("CYRILLIC SMALL LETTER JE"),
    "l": unicodedata.lookup("CYRILLIC LETTER PALOCHKA"),
    "m": unicodedata.lookup("CYRILLIC SMALL LETTER EM"),
    "r": unicodedata.lookup("CYRILLIC SMALL LETTER GHE"),
    "w": unicodedata.lookup("CYRILLIC SMALL LETTER OMEGA"),
    "z": unicodedata.lookup("LATIN LETTER SMALL CAPITAL Z"),
    "f": unicodedata.lookup("LATIN SMALL LETTER F WITH STROKE"),
    "g": unicodedata.lookup("LATIN SMALL LETTER SCRIPT G"),
}
LEET = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7", "l": "1", "b": "8"}
LEET_SYMBOLS = {"a": "@", "s": "$", "i": "!"}
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e"]
COMBINING = ["\u0301", "\u0308", "\u0330", "\u0327"]


def homoglyph(term: str) -> str:
    return "".join(HOMOGLYPHS.get(c, c) if c.islower() else c for c in term.lower())


def fullwidth(term: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else "\u3000" for c in term)


def zero_width(term: str) -> str:
    out = [term[0]]
    for index, char in enumerate(term[1:]):
        out += [ZERO_WIDTH[index % len(ZERO_WIDTH)], char]
    return "".join(out)


def combining(term: str) -> str:
    return "".join(
        c + COMBINING[i % len(COMBINING)] if c.isalpha() else c for i, c in enumerate(term)
    )


def leet(term: str) -> str:
    return "".join(LEET.get(c, c) for c in term.lower())


def leet_symbols(term: str) -> str:
    return "".join(LEET_SYMBOLS.get(c, LEET.get(c, c)) for c in term.lower())


def split_with(separator: str, word_gap: str):
    def split(term: str) -> str:
        words = term.lower().replace("-", " ").split()
        return word_gap.join(separator.join(word) for word in words)

    return split


def mixed(term: str) -> str:
    """Look-alikes, leet, upper case and zero-width characters, all in one."""
    letters = []
    for index, char in enumerate(term.lower()):
        if index % 3 == 0:
            char = HOMOGLYPHS.get(char, char)
        elif index % 3 == 1:
            char = LEET.get(char, char.upper())
        else:
            char = char.upper()
        letters.append(char)
    return "\u200b".join(letters)


DISGUISES = {
    "homoglyph": homoglyph,
    "fullwidth": fullwidth,
    "zero_width": zero_width,
    "combining": combining,
    "leet": leet,
    "leet_symbols": leet_symbols,
    "upper": str.upper,
    "split_space": split_with(" ", "   "),
    "split_dot": split_with(".", " "),
    "split_dash": split_with("-", "  "),
    "split_underscore": split_with("_", " / "),
    "mixed": mixed,
}


def test_look_alikes_used_here_fold_to_their_latin_letter():
    table = homoglyph_table()
    for latin, lookalike in HOMOGLYPHS.items():
        assert normalize(lookalike).strict == latin, (latin, lookalike, table.get(lookalike))


@pytest.mark.parametrize("disguise", DISGUISES)
def test_every_disguised_banned_term_is_caught_with_its_original_span(policy, disguise):
    prefix, suffix = "Poster of ", " on a red wall, 4K"
    checked, missed = 0, []
    for rule, term in TERMS:
        shown = DISGUISES[disguise](term)
        if shown == term and disguise != "upper":
            continue  # nothing to disguise (e.g. "3M" has no leet letters)
        if disguise.startswith("split") and min(map(len, term.split())) < 3:
            continue  # "3 m": only runs of three or more single letters are joined
        checked += 1
        prompt = prefix + shown + suffix
        matches = [m for m in policy.match(prompt) if m.rule_id == rule.id and m.term == term]
        span = (len(prefix), len(prefix) + len(shown))
        if [(m.start, m.end) for m in matches] != [span]:
            missed.append((term, shown, [(m.start, m.end) for m in matches]))
        elif policy.evaluate(prompt).outcome == Outcome.ALLOW and rule.action != Action.WARN:
            missed.append((term, shown, "allowed"))
    assert checked >= len(TERMS) // 2
    assert missed == []


def test_the_benign_corpus_is_allowed_without_a_single_match(policy):
    prompts = [line for line in BENIGN_PROMPTS.read_text(encoding="utf-8").splitlines() if line]
    assert len(set(prompts)) >= 300
    flagged = [(p, [(m.term, m.matched_text) for m in policy.match(p)]) for p in prompts]
    assert [item for item in flagged if item[1]] == []
    assert {policy.evaluate(p).outcome for p in prompts} == {Outcome.ALLOW}


@pytest.mark.parametrize(
    "word",
    [
        "Scunthorpe",
        "class",
        "classic",
        "bass",
        "assassin",
        "grape",
        "drape",
        "therapist",
        "cocktail",
        "peacock",
        "analysis",
        "canal",
        "Essex",
        "Sussex",
        "unisex",
        "sextant",
        "Dickens",
        "Cockburn",
        "Penistone",
        "Matsushita",
        "skill",
        "killer",
        "Nikon",
        "titles",
        "Kilkenny",
        "white powerboat",
    ],
)
def test_a_word_that_contains_a_banned_string_passes(policy, word):
    assert policy.match(f"A photo of {word} in spring") == []


@pytest.mark.parametrize(
    "disguised_word",
    [
        "cl4ss",
        "cl@ss",
        "c1ass",
        "gr4pe",
        "th3rapist",
        "C0CKTAIL",
        "\u0430n\u0430lysis",  # Cyrillic a
        "Es\u200bsex",
    ],
)
def test_a_disguised_harmless_word_still_passes(policy, disguised_word):
    assert policy.match(f"A photo of {disguised_word} in spring") == []


@pytest.mark.parametrize(
    ("text", "laid_out"),
    [
        ("s e x", "sex"),
        ("n-u-d-e", "nude"),
        ("s.e.x.", "sex"),
        ("a sex", "a sex"),
        ("I am a fan", "i am a fan"),
        ("vitamin C, E and A", "vitamin c e and a"),
        ("t.a.y.l.o.r s.w.i.f.t", "taylor swift"),
        ("t a y l o r   s w i f t", "taylor swift"),
        ("U.S.A. sale", "usa sale"),
        ("e.g. a hat", "eg a hat"),  # "e.g. a": a wider gap ends the word
    ],
)
def test_only_runs_of_three_or_more_single_letters_are_joined(text, laid_out):
    assert normalize(text).strict == laid_out


def test_joined_split_letters_match_only_as_a_whole_word(policy):
    assert [m.term for m in policy.match("a s s e t s")] == []
    assert [m.term for m in policy.match("I am a fan of s e x y cars")] == []
    assert [m.term for m in policy.match("I am a fan of s e x cars")] == ["sex"]


def test_normalisation_folds_width_case_marks_and_invisible_characters():
    # Fullwidth "STRA", capital sharp s, fullwidth "E"; "Cafe" with an acute accent, then a
    # soft hyphen and a zero-width space before "noir".
    text = "\uff33\uff34\uff32\uff21\u1e9e\uff25 Caf\u00e9\u00ad\u200bnoir"
    assert normalize(text).strict == "strasse cafenoir"
    # Cyrillic er, a, u, er, a and a Latin l.
    assert normalize("\u0440\u0430\u0443\u0440\u0430l").strict == "paypal"
    # Black-letter capital H and mathematical fraktur e, l, l, o (NFKC).
    assert normalize("\u210c\U0001d522\U0001d529\U0001d529\U0001d52c").strict == "hello"


def test_spans_point_at_the_original_characters(policy):
    # Circled A; fullwidth s, e, zero-width space, x with a combining acute accent, "!".
    prompt = "\u24b6 banner: \uff53\uff45\u200bx\u0301! and a b c"
    [match] = policy.match(prompt)
    assert (match.term, match.matched_text) == ("sex", "\uff53\uff45\u200bx\u0301")
    assert prompt[match.start : match.end] == match.matched_text
    assert unicodedata.category(prompt[match.end - 1]) == "Mn"


def test_every_occurrence_is_reported_in_order(policy):
    prompt = "porn, then PORN, then p0rn"
    matches = policy.match(prompt)
    assert [(m.start, m.end) for m in matches] == [(0, 4), (11, 15), (22, 26)]
    assert [prompt[m.start : m.end] for m in matches] == ["porn", "PORN", "p0rn"]


def test_punctuation_after_a_word_does_not_hide_it(policy):
    assert [m.matched_text for m in policy.match("hot sex! now")] == ["sex"]
    assert [m.matched_text for m in policy.match("(sex)")] == ["sex"]
    assert [m.matched_text for m in policy.match("$ex and a$$")] == ["$ex", "a$$"]


def test_ambiguous_one_and_capital_i_read_as_i_or_l_but_a_dotted_i_does_not():
    balls = CompiledPolicy.from_rules(
        [Rule("b", "sexual", "block", "No.", terms=("balls", "kill"))]
    )
    assert [m.matched_text for m in balls.match("ba11s baIIs ba||s BALLS")] == [
        "ba11s",
        "baIIs",
        "ba||s",
        "BALLS",
    ]
    assert balls.match("bails of hay, BAILS") == []
    assert [m.matched_text for m in balls.match("k1ll kiII KILL K1LL")] == [
        "k1ll",
        "kiII",
        "KILL",
        "K1LL",
    ]
    assert balls.match("KIII") == []  # among capitals, "I" is an I


def test_a_digit_in_a_term_must_be_a_digit(policy):
    assert [m.term for m in policy.match("3M tape")] == ["3M"]
    assert policy.match("an em dash") == []


def test_phrases_match_across_any_separators(policy):
    for prompt in [
        "hand job",
        "hand-job",
        "HAND_JOB",
        "hand \n job",
        "coca cola",
        "Coca\u2013Cola",
    ]:
        assert len(policy.match(prompt)) == 1, prompt


def test_regex_rules_run_on_the_normalised_text_and_report_original_spans(policy):
    prompt = "Please K1LL   h\u200bim now"
    [match] = [m for m in policy.match(prompt) if m.rule_id != "violence"]
    assert match.rule_id == "threats"
    assert (match.start, match.end) == (7, 18)
    assert match.matched_text == "K1LL   h\u200bim"
    assert [m.matched_text for m in policy.match("N\u00daDE portrait")] == ["N\u00daDE"]


def test_outcome_precedence_block_beats_review_beats_warn(policy):
    assert policy.evaluate("A sunny beach").outcome == Outcome.ALLOW
    assert policy.evaluate("A sunny beach").matches == ()
    warned = policy.evaluate("Sneakers like nike on a sunny beach")
    assert warned.outcome == Outcome.ALLOW
    assert [m.term for m in warned.warnings] == ["nike"]
    reviewed = policy.evaluate("nike shoes worn by elon musk")
    assert reviewed.outcome == Outcome.REVIEW
    assert {m.action for m in reviewed.matches} == {Action.WARN, Action.REVIEW}
    blocked = policy.evaluate("nike shoes worn by elon musk at a massacre")
    assert blocked.outcome == Outcome.BLOCK
    assert [m.category for m in blocked.matches] == [
        Category.COMPETITOR_BRANDS,
        Category.PUBLIC_FIGURES,
        Category.VIOLENCE,
    ]
    assert blocked.matches[-1].explanation == "Violence is not allowed."


def test_a_prompt_over_the_limit_is_refused_before_any_work(policy):
    with pytest.raises(PromptTooLong) as refused:
        policy.evaluate("sex " * 25_000)
    assert (refused.value.length, refused.value.limit) == (100_000, MAX_PROMPT_CHARS)
    assert "100000" in str(refused.value)
    assert policy.match("a" * MAX_PROMPT_CHARS) == []
    with pytest.raises(PromptTooLong):
        policy.match("a" * (MAX_PROMPT_CHARS + 1))


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("(unclosed", "invalid regular expression: missing )"),
        ("[z-a]", "invalid regular expression: invalid character class range"),
        (r"(\w+) \1", "backreferences are not supported"),
        (r"(?P<w>\w+) (?P=w)", "backreferences are not supported"),
        ("cheap(?= pills)", "lookahead is not supported"),
        ("(?!free)pills", "lookahead is not supported"),
        ("(?<=buy )pills", "lookbehind is not supported"),
        ("(?<!no )pills", "lookbehind is not supported"),
        ("x*", "matches the empty string"),
    ],
)
def test_a_bad_pattern_is_refused_when_the_policy_is_compiled(pattern, reason):
    rules = [*RULES, Rule("bad", "custom", "block", "Bad.", pattern=pattern)]
    with pytest.raises(PolicyRuleError) as refused:
        CompiledPolicy.from_rules(rules)
    assert isinstance(refused.value, ValueError)
    assert (refused.value.rule_id, refused.value.pattern) == ("bad", pattern)
    assert reason in str(refused.value)
    assert repr(pattern) in str(refused.value)


def test_a_catastrophic_backtracking_pattern_runs_in_linear_time():
    policy = CompiledPolicy.from_rules(
        [
            Rule("redos", "custom", "block", "No.", pattern=r"(a+)+$"),
            Rule("redos2", "custom", "block", "No.", pattern=r"^(\w+\s?)*y$"),
        ]
    )
    prompt = "a" * (MAX_PROMPT_CHARS - 1) + "!"
    assert policy.match(prompt) == []  # finishes; a backtracking engine would not
    assert policy.match("a" * 100 + " b" * 50 + " x") == []


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"category": "gossip", "terms": ("x",)}, "'gossip' is not a valid Category"),
        ({"action": "delete", "terms": ("x",)}, "'delete' is not a valid Action"),
        ({"terms": ("x",), "pattern": "x"}, "either terms or a pattern"),
        ({}, "either terms or a pattern"),
        ({"terms": "sex"}, "not one string"),
    ],
)
def test_a_malformed_rule_is_refused(kwargs, reason):
    fields = {"category": "custom", "action": "block", **kwargs}
    with pytest.raises(PolicyRuleError, match=reason):
        Rule("r1", explanation="Why.", **fields)


def test_a_term_without_letters_or_duplicate_rule_ids_are_refused():
    with pytest.raises(PolicyRuleError, match="has no letters or digits"):
        CompiledPolicy.from_rules([Rule("r1", "custom", "block", "Why.", terms=("--",))])
    with pytest.raises(PolicyRuleError, match="two rules have this id"):
        CompiledPolicy.from_rules(
            [
                Rule("r1", "custom", "block", "Why.", terms=("a",)),
                Rule("r1", "custom", "warn", "Why.", terms=("b",)),
            ]
        )


def test_many_terms_compile_once_and_match_like_one():
    terms = tuple(f"brand{number:04d}" for number in range(5000))
    policy = CompiledPolicy.from_rules([Rule("brands", "competitor_brands", "warn", "B.", terms)])
    matches = policy.match("a poster with BRAND4999 and brand0000x and br4nd0042")
    assert [m.term for m in matches] == ["brand4999", "brand0042"]
