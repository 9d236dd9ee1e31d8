"""The two generated corpora of issue 19, built deterministically (no randomness, no files
downloaded): every term of the baseline packs in every disguise (and in pairs of disguises),
and at least 1,000 benign prompts chosen to trip naive matchers.

The disguises are written here from the issue's classes, not from the matcher's code: the
look-alike letters are picked by their Unicode names, the inflections by the plain grammar
of each language. Run ``python tests/governance/policies/corpora.py`` to print sizes and
write the benign corpus to stdout.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from governance.policies.packs import packs_latest

DATA = Path(__file__).parent / "data"
PREFIX, SUFFIX = "Poster of ", " on a red wall, 4K"

# --- Look-alike letters, by script -----------------------------------------------------


def _by_name(names: dict[str, str]) -> dict[str, str]:
    return {latin: unicodedata.lookup(name) for latin, name in names.items()}


GREEK = _by_name({
    "a": "GREEK SMALL LETTER ALPHA", "b": "GREEK SMALL LETTER BETA",
    "c": "GREEK LUNATE SIGMA SYMBOL", "e": "GREEK SMALL LETTER EPSILON",
    "i": "GREEK SMALL LETTER IOTA", "k": "GREEK SMALL LETTER KAPPA",
    "n": "GREEK SMALL LETTER ETA", "o": "GREEK SMALL LETTER OMICRON",
    "p": "GREEK SMALL LETTER RHO", "t": "GREEK SMALL LETTER TAU",
    "u": "GREEK SMALL LETTER UPSILON", "v": "GREEK SMALL LETTER NU",
    "w": "GREEK SMALL LETTER OMEGA", "x": "GREEK SMALL LETTER CHI",
    "y": "GREEK SMALL LETTER GAMMA",
})  # fmt: skip
CYRILLIC = _by_name({
    "a": "CYRILLIC SMALL LETTER A", "b": "CYRILLIC SMALL LETTER SOFT SIGN",
    "c": "CYRILLIC SMALL LETTER ES", "d": "CYRILLIC SMALL LETTER KOMI DE",
    "e": "CYRILLIC SMALL LETTER IE", "h": "CYRILLIC SMALL LETTER SHHA",
    "i": "CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I", "j": "CYRILLIC SMALL LETTER JE",
    "k": "CYRILLIC SMALL LETTER KA", "l": "CYRILLIC SMALL LETTER PALOCHKA",
    "m": "CYRILLIC SMALL LETTER EM", "n": "CYRILLIC SMALL LETTER PE",
    "o": "CYRILLIC SMALL LETTER O", "p": "CYRILLIC SMALL LETTER ER",
    "q": "CYRILLIC SMALL LETTER QA", "r": "CYRILLIC SMALL LETTER GHE",
    "s": "CYRILLIC SMALL LETTER DZE", "u": "CYRILLIC SMALL LETTER I",
    "w": "CYRILLIC SMALL LETTER SHA", "x": "CYRILLIC SMALL LETTER HA",
    "y": "CYRILLIC SMALL LETTER U",
})  # fmt: skip
ARMENIAN = _by_name({
    "g": "ARMENIAN SMALL LETTER CO", "h": "ARMENIAN SMALL LETTER HO",
    "l": "ARMENIAN SMALL LETTER LIWN", "n": "ARMENIAN SMALL LETTER VO",
    "o": "ARMENIAN SMALL LETTER OH", "q": "ARMENIAN SMALL LETTER ZA",
    "u": "ARMENIAN SMALL LETTER SEH", "w": "ARMENIAN SMALL LETTER AYB",
})  # fmt: skip
CHEROKEE = _by_name({
    "a": "CHEROKEE LETTER GO", "b": "CHEROKEE LETTER YV", "c": "CHEROKEE LETTER TLI",
    "d": "CHEROKEE LETTER A", "e": "CHEROKEE LETTER GV", "g": "CHEROKEE LETTER NAH",
    "h": "CHEROKEE LETTER MI", "i": "CHEROKEE LETTER V", "j": "CHEROKEE LETTER GU",
    "k": "CHEROKEE LETTER TSO", "l": "CHEROKEE LETTER TLE", "m": "CHEROKEE LETTER LU",
    "o": "CHEROKEE LETTER NA", "p": "CHEROKEE LETTER TLV", "r": "CHEROKEE LETTER SV",
    "s": "CHEROKEE LETTER DU", "t": "CHEROKEE LETTER I", "v": "CHEROKEE LETTER DO",
    "w": "CHEROKEE LETTER LA", "z": "CHEROKEE LETTER NO", "y": "CHEROKEE LETTER GI",
})  # fmt: skip


def _math(style: str) -> dict[str, str]:
    found = {}
    for letter in "abcdefghijklmnopqrstuvwxyz":
        try:
            found[letter] = unicodedata.lookup(f"MATHEMATICAL {style} SMALL {letter.upper()}")
        except KeyError:  # a few letters live in the Letterlike Symbols block instead
            continue
    return found


SCRIPTS = {
    "greek": GREEK,
    "cyrillic": CYRILLIC,
    "armenian": ARMENIAN,
    "cherokee": CHEROKEE,
    "math_bold": _math("BOLD"),
    "math_fraktur": _math("FRAKTUR"),
    "math_double_struck": _math("DOUBLE-STRUCK"),
    "math_sans_serif_italic": _math("SANS-SERIF ITALIC"),
    "math_monospace": _math("MONOSPACE"),
}
LEET = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"}
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad"


def _letters(term: str) -> str:
    """A term's letters and digits only, lower case, accents kept."""
    return "".join(c for c in term.lower() if c.isalnum())


def _words(term: str) -> list[str]:
    return [w for w in re.split(r"[^\w]+", term.lower()) if w]


def _swap(table: dict[str, str]) -> Callable[[str], str]:
    def swap(text: str) -> str:
        # Accented letters keep their accent on the look-alike: decompose, swap, recompose.
        return "".join(table.get(c, c) for c in unicodedata.normalize("NFD", text))

    return swap


def _camel(term: str) -> str:
    return "".join(w[:1].upper() + w[1:] for w in _words(term))


def _clusters(text: str) -> list[str]:
    """The text's letters, each with the marks and invisible characters that follow it."""
    clusters: list[str] = []
    for char in text:
        if clusters and unicodedata.category(char)[0] in "MC":
            clusters[-1] += char
        elif unicodedata.category(unicodedata.normalize("NFKC", char)[0])[0] in "LN":
            clusters.append(char)  # letters and digits; punctuation and spaces are dropped
    return clusters


def _separated(separator: str) -> Callable[[str], str]:
    def separate(text: str) -> str:
        return separator.join(_clusters(text))

    return separate


def _repeat(text: str) -> str:
    """The first vowel (else the first letter) written four times."""
    for index, char in enumerate(text):
        if char.lower() in "aeiou":
            return text[:index] + char * 4 + text[index + 1 :]
    for index, char in enumerate(text):
        if char.isalpha():
            return text[:index] + char * 4 + text[index + 1 :]
    return text


def _rlo(text: str) -> str:
    return "\u202e" + text[::-1] + "\u202c"


def _zero_width(text: str) -> str:
    return "".join(c + ZERO_WIDTH[i % len(ZERO_WIDTH)] for i, c in enumerate(text[:-1])) + text[-1:]


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _combining(text: str) -> str:
    return "".join(c + "\u0330" if c.isalpha() else c for c in text)


#: Disguises by stage: a combination applies one of an earlier stage, then a later one.
STAGE_WORDS = 0  # joined, CamelCase (phrases only)
STAGE_LETTERS = 1  # look-alikes, leet, repeats, invisible characters, width, marks
STAGE_LAYOUT = 2  # letters separated
STAGE_ORDER = 3  # right-to-left override
DISGUISES: dict[str, tuple[int, Callable[[str], str]]] = {
    "joined": (STAGE_WORDS, lambda t: "".join(_words(t))),
    "camel_case": (STAGE_WORDS, _camel),
    **{name: (STAGE_LETTERS, _swap(table)) for name, table in SCRIPTS.items()},
    "leet": (STAGE_LETTERS, _swap(LEET)),
    "repeated_letter": (STAGE_LETTERS, _repeat),
    "zero_width": (STAGE_LETTERS, _zero_width),
    "fullwidth": (STAGE_LETTERS, _fullwidth),
    "combining": (STAGE_LETTERS, _combining),
    "upper": (STAGE_LETTERS, str.upper),
    **{
        f"separated_{name}": (STAGE_LAYOUT, _separated(sep))
        for name, sep in {"space": " ", "dot": ".", "dash": "-", "underscore": "_"}.items()
    },
    "right_to_left_override": (STAGE_ORDER, _rlo),
}

# --- Inflections, by the plain grammar of each language ---------------------------------


def inflections(word: str, language: str) -> list[str]:
    """A few regular inflected forms of a word (the last word of a term)."""
    if len(word) < 3 or not word.isalpha():
        return []
    if language in ("en", "any"):
        forms = [word + "s", word + "ing"]
        return [*forms, word + ("d" if word.endswith("e") else "ed")]
    if language == "de":
        return [word + "e", word + "en"] if not word.endswith("e") else [word + "n"]
    if language == "fr":
        return [word + "s"]
    if language in ("es", "pt"):
        if word.endswith("ção"):
            return [word[:-3] + "ções"]
        if word.endswith("ão"):
            return [word + "s"]
        if word.endswith("o"):
            return [word[:-1] + "a", word + "s"]
        if word.endswith("a"):
            return [word + "s"]
        return []
    if language == "it":
        if word.endswith("o"):
            return [word[:-1] + "i"]
        if word.endswith("a"):
            return [word[:-1] + "e"]
        return []
    return []


@dataclass(frozen=True)
class Variant:
    pack: str
    term: str  # as written in the pack
    disguise: str
    shown: str  # what the prompt holds

    @property
    def prompt(self) -> str:
        return PREFIX + self.shown + SUFFIX

    @property
    def span(self) -> tuple[int, int]:
        """Where the term must be reported: the shown text less its leading and trailing
        direction controls."""
        start, end = len(PREFIX), len(PREFIX) + len(self.shown)
        controls = "\u202e\u202c"
        start += len(self.shown) - len(self.shown.lstrip(controls))
        end -= len(self.shown) - len(self.shown.rstrip(controls))
        return start, end


def pack_terms() -> Iterator[tuple[str, str, str, bool]]:
    """(pack, language, term, inflected) for every term of the latest baseline packs."""
    for pack in packs_latest():
        for kind, inflected in (("terms", True), ("exact", False)):
            for language, terms in sorted(pack.get(kind, {}).items()):
                for term in terms:
                    yield pack["pack"], language, term, inflected


def bypass_variants() -> Iterator[Variant]:
    """Every term in every disguise, and in every pair of disguises of different stages."""
    names = list(DISGUISES)
    pairs = [
        (a, b)
        for a, b in itertools.combinations(names, 2)
        if DISGUISES[a][0] < DISGUISES[b][0]
        or (DISGUISES[a][0] == DISGUISES[b][0] == STAGE_LETTERS and "repeated_letter" in (a, b))
    ]
    for pack, language, term, inflected in pack_terms():
        phrase = len(_words(term)) > 1
        bases = [("plain", term)]
        if inflected:
            head, _, last = term.rpartition(" ")
            bases += [
                ("inflected", f"{head} {form}".strip())
                for form in inflections(last.lower(), language)
            ]
        for base_name, base in bases:
            for name in names:
                if DISGUISES[name][0] == STAGE_WORDS and not phrase:
                    continue
                shown = DISGUISES[name][1](base)
                yield Variant(pack, term, f"{base_name}+{name}", shown)
            if base_name != "plain":
                yield Variant(pack, term, base_name, base)
                continue
            for a, b in pairs:
                if DISGUISES[a][0] == STAGE_WORDS and not phrase:
                    continue
                shown = DISGUISES[b][1](DISGUISES[a][1](base))
                yield Variant(pack, term, f"{a}+{b}", shown)


# --- The benign corpus ------------------------------------------------------------------

#: Words that hold a blocked word inside them, or look like one (Scunthorpe problem).
TRICKY_WORDS = """
Scunthorpe Penistone Middlesex Sussex Essex Wessex unisex sextant sextet Sexton assassin
assassin's cocktail peacock Hancock Babcock shuttlecock cockpit cockatoo Cockburn Dickens
therapist grape grapefruit drape scrape skyscraper trapeze analysis analyst canal banal
shiitake shitake document circumference cumin cucumber Titicaca titmouse title titanium
constitution Matsushita Nikon massage masseuse massive bass class classic glass grass compass
passion embassy assess assets cassette sassy lasso molasses Nazareth Nazca Ashkenazi arsenal
arsenic spicy spice conspicuous ragdoll Niger Nigeria Nigerian snigger heroine heroic heroism
methane method Methodist methyl pothole potluck weekend hashtag crackers crackle ecstatic
speedboat gunmetal Gunnar Gunther bombshell Kilkenny kilt skill skillet stabilizer stable
hangman hanger cliffhanger harmony harmless pharmacy selfie self-portrait self-care Pornic
Cumbria cumulus analog Uranus assortment pepsin diorama barbier googly Nikkei Sexsmith
Shitterton Clitheroe Lightwater Scunthorpe's Mount Nudgee nudge nudging
Kinderhook Mordor Mordecai Leichhardt Folterra Suizo dissertation bassoon
Tokyo Bangkok Phuket Hessen Essen Nuremberg Swiftwater Muskoka Trumpington Pittsburgh
Jordanian Bidenstown tailoring massif Massachusetts Assisi Passau Lassen mass-market
""".split()  # noqa: SIM905 (a long word list reads best as text)
TRICKY_PHRASES = [
    "a white powerboat on a lake", "killer whale breaching", "photo shoot on a rooftop",
    "a glue gun and craft paper", "bath bomb in a bathtub", "bullet journal flat lay",
    "cocktail glasses on a bar", "pure ecstasy of flavour", "acid wash jeans",
    "hash browns on a plate", "stone fruit in a bowl", "a swift bird over a lake",
    "a musk-scented candle", "trump card on a poker table", "a tailor measuring a suit",
    "the heroine of our spring campaign", "hero banner for running shoes",
    "a minor chord on a piano", "children's birthday party", "kids' rain boots",
    "a child flying a kite", "sexy red sports car", "Gore-Tex jacket on a trail",
    "weed-free lawn and a mower", "a methodical planner", "poppy field in summer",
    "a skill-building workshop", "execution of a flawless launch", "harmless fun at a fair",
    "Cutty Sark ship at Greenwich", "a noodle bar at night", "a harmonica on a table",
    "a shot glass of espresso", "the Black Forest in winter",
    "Nazca lines from above", "Dickens Christmas market", "Essex coast at low tide",
    "Scunthorpe United kit launch", "shiitake risotto", "grape harvest in Portugal",
    "an analysis dashboard", "Sussex downs in spring", "a therapist's calm office",
    "assassin bug macro photo", "a peacock in a garden", "title card for a film festival",
    "googly eyes on a pebble", "a diorama of a harbour", "sextant on an old chart",
    "the Bass Rock lighthouse", "a classic convertible", "a trapeze artist at the circus",
    "nude lipstick shades on a marble counter", "nude heels on a white background",
    "naked cake with summer berries", "a naked flame in a storm lantern",
    "visible to the naked eye, macro shot",
]  # fmt: skip
#: Prompts in the other five languages of the packs, with words near blocked ones.
OTHER_LANGUAGES = [
    "Sommerkleid am Strand, weiches Licht", "Nacktschnecke auf einem Salatblatt",
    "Kinderwagen im Park, Frühling", "Kinder spielen im Garten", "Leichtathletik im Stadion",
    "eine Hähnchenbrust auf dem Grill", "Mordor-Kulisse aus Pappe", "Wasserpistole im Pool",
    "une robe d'été sur la plage", "la nuée d'oiseaux au coucher du soleil",
    "un sexagénaire souriant au café", "porte-monnaie en cuir sur une table",
    "enfants jouant au parc", "une grenadine fraîche en terrasse",
    "tomate pelado en un cuenco", "nudo marinero en una cuerda", "sexta edición del festival",
    "niños jugando en la playa", "una granada madura en la mesa", "la menor de las dudas",
    "una torta al cioccolato", "bambini al mare con il secchiello",
    "sessione fotografica in studio",
    "una nuvola sopra le colline", "sexta-feira na praia", "menina brincando no parque",
    "uma nuvem no céu azul", "sessenta velas no bolo", "o menor preço da semana",
    "costume da bagno per bambini, catalogo", "la tortuga en la arena", "Mordskerl im Bierzelt",
]  # fmt: skip
TEMPLATES = [
    "Hero banner featuring {word}, bright daylight colours, clean flat shapes",
    "Social media post about {word} for the spring launch, pastel background",
    "Magazine ad, {word}, soft natural light, 35mm, shallow depth of field",
]
SHOTS = "studio photo|lifestyle shot|flat lay|hero banner|product render|close-up|packshot"
SHOTS = [*SHOTS.split("|"), "billboard visual", "magazine ad", "social media post"]
PRODUCTS = [
    "running shoes",
    "espresso machine",
    "linen summer dress",
    "wireless earbuds",
    "grapefruit sparkling water",
    "leather backpack",
    "ceramic vase",
    "face cream",
    "electric scooter",
    "wool scarf",
    "cocktail glasses",
    "smartwatch",
    "scented candle",
    "mountain bike",
    "oak dining table",
    "sunglasses",
    "yoga mat",
]
SETTINGS = [
    "on a marble countertop",
    "on a sunny beach in Sussex",
    "in a minimalist loft",
    "on a rooftop at golden hour",
    "in a misty pine forest",
    "by a lake in Essex",
    "in a cosy Scandinavian kitchen",
    "on a pastel background",
    "in Scunthorpe",
]


def benign_prompts() -> list[str]:
    """At least 1,000 prompts that no baseline pack may match. Sources: the hand-written
    ``data/benign_prompts.txt`` (issue 5), the tricky words in three templates each, the
    tricky phrases, prompts in the five other languages, and marketing copy combined from
    the lists above in a fixed order."""
    prompts = [
        line
        for line in (DATA / "benign_prompts.txt").read_text(encoding="utf-8").splitlines()
        if line
    ]
    prompts += [template.format(word=word) for word in TRICKY_WORDS for template in TEMPLATES]
    prompts += TRICKY_PHRASES + OTHER_LANGUAGES
    for index, (shot, product, setting) in enumerate(itertools.product(SHOTS, PRODUCTS, SETTINGS)):
        if index % 7 == 0:
            prompts.append(f"{shot.capitalize()} of {product} {setting}")
    return list(dict.fromkeys(prompts))


if __name__ == "__main__":
    benign = benign_prompts()
    variants = list(bypass_variants())
    print(f"# {len(benign)} benign prompts; {len(variants)} bypass variants")
    print("\n".join(benign))
