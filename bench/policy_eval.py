"""Prompt-policy throughput: the compiled policy against one regex search per term.

Builds a policy of 5,000 terms (real category words plus made-up brands, names and phrases,
all from a fixed seed) and 50 regular expressions, and 10,000 marketing-style prompts: most
clean, some with a banned term, some with the term disguised (homoglyphs, fullwidth,
zero-width characters, combining marks, leetspeak, split letters). Every prompt goes through
``CompiledPolicy.evaluate``; then a deterministic subset (the first ``--naive-prompts``)
goes through the naive baseline: the same normalisation, then ``re.search(r"\\b" +
re.escape(term) + r"\\b")`` for each of the 5,000 terms and one RE2 search per pattern.
Both run in this one process, single-threaded, one after the other; rates are prompts per
second of this process's CPU time (``time.process_time``), which stays meaningful when other
work shares the machine, and wall-clock rates are printed too.

With ``--packs`` (the default; ``--no-packs`` for the old policy) every baseline pack
(issue 19: nine categories, six languages) is adopted too, with its default action: its
terms join the planted ones, and both sides match each term with its inflected and joined
forms (the naive side with one regex per form).

The last line is always ``prompts_per_s=<x> naive_prompts_per_s=<y> speedup=<x/y>``.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from governance.policies.inflection import surface_forms
from governance.policies.matching import (
    CompiledPolicy,
    Rule,
    _letters_agree,
)
from governance.policies.normalize import EDGE_SYMBOLS, normalize
from governance.policies.packs import pack_rules, packs_latest


def _words(text: str) -> list[str]:
    return text.split()


REAL_TERMS = {
    ("sexual", "block"): ["sex", "porn", "nude", "naked", "topless", "xxx", "hand job", "boobs"],
    ("violence", "block"): ["kill", "murder", "beheading", "massacre", "bloodbath", "gunfight"],
    ("hate", "block"): ["nazi", "white power", "ethnic cleansing", "swastika"],
    ("self_harm", "block"): ["suicide", "self harm", "cutting myself", "overdose"],
    ("public_figures", "review"): ["taylor swift", "elon musk", "donald trump", "pope francis"],
    ("competitor_brands", "warn"): ["nike", "adidas", "coca cola", "pepsi", "starbucks", "ikea"],
}
ADJECTIVES = _words(
    "amber azure brisk calm crimson dusky electric feral frosted gilded golden hollow "
    "iron jade lunar misty neon noble obsidian pale quiet radiant rusty scarlet silent "
    "silver solar stormy velvet vivid wild woven zesty cobalt copper emerald ivory molten "
    "onyx phantom primal rogue savage shadow sonic spectral stellar titan ultra vapor"
)
NOUNS = _words(
    "anvil arrow badger beacon blade cobra comet condor crown dagger dragon eagle ember "
    "falcon fang forge fox ghost giant glacier hammer harbor hawk hornet jaguar lantern "
    "lion lotus mammoth meteor moth nomad oracle panther phoenix raven reaper rider sabre "
    "serpent shark spark specter sphinx storm talon tiger titan viper vortex wolf"
)
SYLLABLES = _words(
    "ab ak al an ar ax ba be bi bo bra ca ce cor da de dra el en ex fa fe fi fo ga ge gi "
    "ka ke ki ko la le li lo lu ma me mi mo mu na ne ni no nu or pa pe pi po qua ra re ri "
    "ro ru sa se si so ta te ti to tri tu va ve vi vo xa xe za ze zo"
)
FIRST_NAMES = _words(
    "ada alma arlo bea bram cleo dario eden elio esme fenna gus hana ines ivo juno kai "
    "lena lior mara milo nadia nico oona otto pia quinn rafa rhea sami tess theo uma vera "
    "wade xena yara zeno"
)
LAST_NAMES = _words(
    "abernathy blackwood castellano delacroix eastwick fairbanks galloway hargreaves "
    "ingleby jarvinen kowalczyk lindqvist montague northcott okonkwo pemberton quintero "
    "rasmussen sandoval thornbury underhill valentini whitfield yamaguchi zimmerman"
)

SHOTS = [
    "studio photo",
    "lifestyle shot",
    "flat lay",
    "hero banner",
    "product render",
    "close-up",
    "billboard visual",
    "social media post",
    "magazine ad",
    "packshot",
]
PRODUCTS = [
    "running shoes",
    "espresso machine",
    "linen summer dress",
    "wireless earbuds",
    "grapefruit sparkling water",
    "leather backpack",
    "ceramic vase",
    "organic face cream",
    "electric scooter",
    "wool scarf",
    "cocktail glasses",
    "smartwatch",
    "scented candle",
    "mountain bike",
    "oak dining table",
    "sunglasses",
    "yoga mat",
    "bluetooth speaker",
]
SETTINGS = [
    "on a marble countertop",
    "on a sunny beach in Sussex",
    "in a minimalist loft",
    "on a rooftop at golden hour",
    "in a misty pine forest",
    "in a busy Tokyo street",
    "on a pastel background",
    "in a cosy Scandinavian kitchen",
    "by a lake in Essex",
    "on a glass shelf",
]
STYLES = [
    "soft natural light, 35mm, shallow depth of field",
    "bold colours, high contrast, editorial style",
    "clean white background, e-commerce style",
    "warm tones, film grain, candid mood",
    "cinematic lighting, 4K, ultra detailed",
    "flat illustration, vector style, brand palette",
    "watercolour texture, hand-drawn feel",
    "neon accents, night scene, reflections",
]
CAMPAIGNS = [
    "spring launch",
    "back to school",
    "summer sale 2025",
    "holiday gift guide",
    "Black Friday",
    "loyalty programme",
    "new store opening",
    "first-class travel",
]

HOMOGLYPHS = {
    "a": "\u0430",
    "c": "\u0441",
    "e": "\u0435",
    "i": "\u0456",
    "o": "\u043e",
    "p": "\u0440",
    "s": "\u0455",
    "x": "\u0445",
}  # Cyrillic
LEETS = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "$", "t": "7"}
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]


def disguise(term: str, rng: random.Random) -> str:
    """One disguised spelling of ``term``."""
    how = rng.choice(["homoglyph", "fullwidth", "zero_width", "combining", "leet", "split"])
    if how == "homoglyph":
        return "".join(HOMOGLYPHS.get(c, c) for c in term)
    if how == "fullwidth":
        return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in term)
    if how == "zero_width":
        return "".join(c + rng.choice(ZERO_WIDTH) for c in term[:-1]) + term[-1]
    if how == "combining":
        return "".join(c + "\u0301" if c.isalpha() else c for c in term)
    if how == "leet":
        return "".join(LEETS.get(c, c) for c in term)
    separator = rng.choice([" ", ".", "-"])
    return "  ".join(separator.join(word) for word in term.split())


def build_rules(rng: random.Random, term_count: int, regex_count: int) -> list[Rule]:
    """Real category words, then made-up brands, people and phrases, in rules of 50 terms."""
    rules: list[Rule] = []
    seen: set[str] = set()
    for (category, action), terms in REAL_TERMS.items():
        seen.update(terms)
        rules.append(Rule(f"real-{category}", category, action, f"No {category}.", tuple(terms)))
    generated: list[str] = []
    makers = [
        lambda: "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))),
        lambda: f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}",
        lambda: f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
    ]
    # Made-up terms must not be words of the clean prompts ("bike" is a syllable pair too).
    prompt_words = set(
        re.findall(r"[a-z]+", " ".join(SHOTS + PRODUCTS + SETTINGS + STYLES + CAMPAIGNS).lower())
    )
    while len(seen) < term_count:
        term = rng.choice(makers)()
        # Nor may their inflections ("tone" would catch "warm tones").
        if term not in seen and len(term) > 3 and not set(surface_forms(term, "en")) & prompt_words:
            seen.add(term)
            generated.append(term)
    kinds = [
        ("competitor_brands", "warn"),
        ("public_figures", "review"),
        ("custom", "block"),
        ("custom", "review"),
    ]
    for index in range(0, len(generated), 50):
        category, action = kinds[(index // 50) % len(kinds)]
        chunk = tuple(generated[index : index + 50])
        rules.append(Rule(f"gen-{index // 50}", category, action, "Generated term.", chunk))
    patterns = [
        r"\b(buy|order|cheap) \d+ (pills|tablets|caps)\b",
        r"\bkill(s|ed|ing)? (him|her|them|everyone)\b",
        r"\b(shoot|stab)(s|ed|ing)? (up )?(a |the )?(school|crowd)\b",
        r"\b(naked|nude|topless) (woman|man|girl|boy|teen)s?\b",
        r"\bwww \w+ (com|net|xyz)\b",
        r"\b(free|cheap) (viagra|cialis)\b",
        r"\bhow to (make|build) (a )?(bomb|gun)\b",
        r"\b(blood|gore) (splatter|everywhere)\b",
        r"\bswasti\w*\b",
        r"\b(hate|exterminate) all \w+\b",
    ]
    while len(patterns) < regex_count:
        stem = "".join(rng.choice(SYLLABLES) for _ in range(2))
        patterns.append(rf"\b{stem}(o|a|e)?\w{{0,4}} (pro|max|ultra|{rng.choice(NOUNS)})\b")
    for index, pattern in enumerate(patterns[:regex_count]):
        rules.append(Rule(f"re-{index}", "custom", "review", "Pattern.", pattern=pattern))
    return rules


def build_prompts(
    rng: random.Random, count: int, banned: list[tuple[str, str]]
) -> list[tuple[str, str | None, bool]]:
    """Marketing prompts; about 15 % name a banned term, another 15 % disguise one.

    Each comes with the id of the rule whose term it holds (or None) and whether disguised.
    """
    prompts = []
    for _ in range(count):
        words = [
            f"{rng.choice(SHOTS)} of a {rng.choice(ADJECTIVES)} {rng.choice(PRODUCTS)}",
            rng.choice(SETTINGS),
            rng.choice(STYLES),
            f"for the {rng.choice(CAMPAIGNS)} campaign",
        ]
        roll = rng.random()
        rule_id = None
        if roll < 0.30:
            rule_id, term = rng.choice(banned)
            shown = term if roll < 0.15 else disguise(term, rng)
            words.insert(rng.randint(1, len(words)), f"with {shown}")
        prompts.append((", ".join(words), rule_id, roll >= 0.15))
    return prompts


class NaivePolicy:
    """One regex search per term (and per pattern) over the same normalised text."""

    def __init__(self, rules: list[Rule]):
        self.term_searches = []
        self.patterns = []
        for rule in rules:
            if rule.pattern is not None:
                self.patterns.append((rule, re.compile(rule.pattern)))
                continue
            for written in rule.terms:
                base = normalize(written).strict.strip()
                for strict in surface_forms(base, rule.language if rule.inflect else None):
                    key = normalize(strict).key
                    search = re.compile(r"\b" + re.escape(key) + r"\b")
                    self.term_searches.append((rule, search, strict))

    def rule_ids(self, prompt: str) -> set[str]:
        text = normalize(prompt)
        found = set()
        for rule, search, strict in self.term_searches:
            if search.search(text.key) and any(
                _letters_agree(strict, text, hit.start()) for hit in search.finditer(text.key)
            ):
                found.add(rule.id)
        variants = text.regex_texts()
        for rule, pattern in self.patterns:
            if any(pattern.search(variant) for variant in variants):
                found.add(rule.id)
        return found


def edge_symbol_explains(prompt: str, extra: set[str], policy: CompiledPolicy) -> bool:
    """Whether every match only the compiled policy found touches a punctuation leet symbol
    ("sale!", "a$$"): the compiled matcher lets a word end there, a plain ``\\b`` does not."""
    for match in policy.match(prompt):
        if match.rule_id in extra:
            before = prompt[match.start - 1 : match.start]
            after = prompt[match.end : match.end + 1]
            if not (set(before + after) & set(EDGE_SYMBOLS)):
                return False
    return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--terms", type=int, default=5000)
    parser.add_argument("--regexes", type=int, default=50)
    parser.add_argument("--prompts", type=int, default=10_000)
    parser.add_argument("--naive-prompts", type=int, default=300)
    parser.add_argument(
        "--packs",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="adopt every baseline pack (default action) on top of the generated policy",
    )
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    rules = build_rules(rng, args.terms, args.regexes)
    if args.packs:
        rules += [
            rule
            for pack in packs_latest()
            for rule in pack_rules(pack["pack"], pack["version"], pack["default_action"])
        ]
    banned = [(rule.id, term) for rule in rules for term in rule.terms]
    labelled = build_prompts(rng, args.prompts, banned)
    prompts = [prompt for prompt, _, _ in labelled]
    term_count = sum(len(rule.terms) for rule in rules)
    regex_count = sum(rule.pattern is not None for rule in rules)

    started = time.perf_counter()
    policy = CompiledPolicy.from_rules(rules)
    compile_s = time.perf_counter() - started
    for prompt in prompts[:200]:  # warm-up: fills the per-character fold memo
        policy.evaluate(prompt)

    evaluations = []
    wall, cpu = time.perf_counter(), time.process_time()
    for prompt in prompts:
        evaluations.append(policy.evaluate(prompt))
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - wall
    rate = len(prompts) / cpu

    outcomes = Counter(str(evaluation.outcome) for evaluation in evaluations)
    planted = Counter()
    for (_, rule_id, disguised), evaluation in zip(labelled, evaluations, strict=True):
        kind = "none" if rule_id is None else "disguised" if disguised else "plain"
        caught = rule_id is not None and rule_id in {m.rule_id for m in evaluation.matches}
        flagged = evaluation.outcome != "allow" or bool(evaluation.matches)
        planted[kind, "caught" if caught else "flagged" if flagged else "passed"] += 1

    naive = NaivePolicy(rules)
    subset = prompts[: args.naive_prompts]
    naive_ids = []
    naive_wall, naive_cpu = time.perf_counter(), time.process_time()
    for prompt in subset:
        naive_ids.append(naive.rule_ids(prompt))
    naive_cpu = time.process_time() - naive_cpu
    naive_wall = time.perf_counter() - naive_wall
    naive_rate = len(subset) / naive_cpu

    disagreements = explained = 0
    examples = []
    for prompt, expected in zip(subset, naive_ids, strict=True):
        got = {match.rule_id for match in policy.match(prompt)}
        if got != expected:
            disagreements += 1
            if not expected - got and edge_symbol_explains(prompt, got - expected, policy):
                explained += 1
            elif len(examples) < 3:
                examples.append((prompt, sorted(got), sorted(expected)))

    forms = len(naive.term_searches)
    print(
        f"policy: {term_count} terms ({forms} forms with inflections and joined phrases) in "
        f"{len(rules) - regex_count} rules, {regex_count} regexes"
        + (f"; baseline packs adopted: {len(packs_latest())}" if args.packs else "")
    )
    print(f"compile: {compile_s:.2f} s (wall)")
    print(
        f"compiled: {len(prompts)} prompts in {cpu:.3f} s CPU ({wall:.3f} s wall, "
        f"{len(prompts) / wall:.0f}/s wall); outcomes {dict(sorted(outcomes.items()))}"
    )
    for kind in ("plain", "disguised"):
        total = sum(n for (k, _), n in planted.items() if k == kind)
        print(f"  {kind} banned term planted: {planted[kind, 'caught']}/{total} caught")
    clean = sum(n for (k, _), n in planted.items() if k == "none")
    print(f"  clean prompts: {planted['none', 'flagged']}/{clean} matched anything")
    print(
        f"naive: only the first {len(subset)} of the {len(prompts)} prompts (a regex per term is "
        f"slow), in {naive_cpu:.3f} s CPU ({naive_wall:.3f} s wall)"
    )
    print(
        f"agreement on the subset: {disagreements} disagreements, {explained} of them where "
        "only the compiled policy matched a word next to a punctuation leet symbol "
        '("sex!", "a$$"), which a plain \\b cannot see'
    )
    for prompt, got, expected in examples:
        print(f"  unexplained: {prompt!r}: compiled {got}, naive {expected}")
    speedup = rate / naive_rate
    print(f"prompts_per_s={rate:.0f} naive_prompts_per_s={naive_rate:.1f} speedup={speedup:.0f}")


if __name__ == "__main__":
    main()
