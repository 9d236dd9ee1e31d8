"""An image's check results said in plain sentences, for the review desk and request pages.

The checks store numbers (``generation.checks``: each score with its threshold and action);
their own ``reasons`` are terse records ("brand alignment -0.10 < 0.20"). Here the same
numbers are read again and said as a reviewer would say them, one sentence per finding, so
the sentence and the number can never disagree.
"""

#: What a brand part measures, said of an image that falls short of it.
BRAND_SHORT = {
    "reference": "the image is less like the brand's reference images than the project requires",
    "descriptors": "the image reads as off-brand more than on-brand",
    "palette": "too little of the image is in the brand's colours",
    "alignment": "the image matches its prompt less than the project requires",
}

ACTIONS = {
    "fail": "the image is withheld",
    "flag": "a reviewer must look at it",
}


def _number(value: float) -> str:
    """Two decimals, negatives with a true minus sign (U+2212)."""
    return f"{value:.2f}".replace("-", "\N{MINUS SIGN}")


def _percent(value: float) -> str:
    return f"{round(100 * value)} %"


def _class_words(name: str) -> str:
    """NudeNet's ``FEMALE_BREAST_EXPOSED`` → "female breast exposed"."""
    return name.replace("_", " ").lower()


def check_sentences(result: dict | None) -> list[str]:
    """One sentence per finding that made the verdict worse than a pass, most severe first;
    an empty list when every check passed (or nothing was checked)."""
    if not result:
        return []
    sentences: list[tuple[int, str]] = []
    for detection in (result.get("safety") or {}).get("nudenet", {}).get("detections", []):
        action = detection.get("action")
        if action in ACTIONS and detection.get("triggered"):
            sentences.append(
                (
                    0 if action == "fail" else 1,
                    f"Safety: the nudity detector found {_class_words(detection['class'])} "
                    f"(score {_number(detection['score'])}, limit "
                    f"{_number(detection['threshold'])}), so {ACTIONS[action]}.",
                )
            )
    for concept in (result.get("safety") or {}).get("concepts", []):
        action = concept.get("verdict")
        if action in ACTIONS:
            sentences.append(
                (
                    0 if action == "fail" else 1,
                    f"Prompt policy: the image looks like “{concept['name']}” "
                    f"(score {_number(concept['score'])}, limit "
                    f"{_number(concept['threshold'])}), so {ACTIONS[action]}.",
                )
            )
    brand = result.get("brand") or {}
    score = brand.get("score")
    if score is not None and score < brand.get("threshold", 0):
        sentences.append(
            (
                2,
                f"Brand fit: the image fits the brand less than the project requires overall "
                f"({_number(score)}, needs at least {_number(brand['threshold'])}).",
            )
        )
    for name, part in (brand.get("parts") or {}).items():
        if part.get("passed", True):
            continue
        what = BRAND_SHORT.get(name, f"the {name.replace('_', ' ')} part is too low")
        if name == "palette":
            numbers = (
                f"{_percent(part['value'])} of it within ΔE "
                f"{part.get('delta_e_threshold', 10):g} of the palette, needs at least "
                f"{_percent(part['threshold'])}"
            )
        else:
            numbers = f"{_number(part['value'])}, needs at least {_number(part['threshold'])}"
        sentences.append((3, f"Brand fit: {what} ({numbers})."))
    return [text for _, text in sorted(sentences, key=lambda item: item[0])]
