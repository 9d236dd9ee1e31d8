"""Words for people: one registry of labels for the internal codes the pages show.

Each kind of code maps to its label; templates use ``{{ code|label:"kind" }}`` (the
``labels`` template library) and Python ``label(code, kind)``. Where an app already names
its codes (policy categories, workflow conditions, roles), the registry takes its names,
so there is one place per code. A code nobody labelled is still shown in words: its
underscores and capitals become a plain lower-case phrase, never the raw code.
"""

from governance.policies.display import CATEGORY_LABELS
from governance.reviews.forms import CONDITION_CHOICES
from imprimatur.tenancy.permissions import Role

#: What NudeNet's detector classes are, in words.
NUDENET = {
    "FEMALE_GENITALIA_COVERED": "covered female genitalia",
    "FACE_FEMALE": "female face",
    "BUTTOCKS_EXPOSED": "exposed buttocks",
    "FEMALE_BREAST_EXPOSED": "exposed female breast",
    "FEMALE_GENITALIA_EXPOSED": "exposed female genitalia",
    "MALE_BREAST_EXPOSED": "exposed male chest",
    "ANUS_EXPOSED": "exposed anus",
    "FEET_EXPOSED": "bare feet",
    "BELLY_COVERED": "covered belly",
    "FEET_COVERED": "covered feet",
    "ARMPITS_COVERED": "covered armpits",
    "ARMPITS_EXPOSED": "bare armpits",
    "FACE_MALE": "male face",
    "BELLY_EXPOSED": "bare belly",
    "MALE_GENITALIA_EXPOSED": "exposed male genitalia",
    "ANUS_COVERED": "covered anus",
    "FEMALE_BREAST_COVERED": "covered female breast",
    "BUTTOCKS_COVERED": "covered buttocks",
}

LABELS: dict[str, dict[str, str]] = {
    # Prompt policy rule categories (governance/policies/display.py).
    "category": CATEGORY_LABELS,
    # Quota names of a policy's limits (governance/policies/limits.py QUOTA_KEYS).
    "quota": {
        "user_day": "per person per day",
        "user_month": "per person per month",
        "project_day": "per project per day",
        "project_month": "per project per month",
    },
    # What a rule does / what the policy decided.
    "action": {
        "block": "Block",
        "review": "Send to review",
        "warn": "Warn",
        "allow": "Allow",
    },
    "policy_outcome": {"allow": "allowed", "review": "sent to review", "block": "blocked"},
    # Workflow stage conditions (governance/reviews/forms.py).
    "condition": dict(CONDITION_CHOICES),
    # What a workflow stage reviews.
    "kind": {"prompt": "prompts", "asset": "images", "style": "brand styles"},
    "role": dict(Role.choices),
    # A decision, said as done ("Rejected by …"; never "Rejectd").
    "decision_done": {
        "approve": "Approved",
        "reject": "Rejected",
        "changes": "Changes requested",
    },
    # A check's verdict (generation/checks/common.py).
    # bandit: "pass" here is a check verdict, not a password.
    "verdict": {"pass": "Passed", "flag": "Flagged", "fail": "Failed"},  # nosec B105
    # What a request asks a model to do (generation/jobs/models.py Mode).
    "mode": {
        "text-to-image": "text to image",
        "image-to-image": "image to image",
        "inpainting": "inpainting",
    },
    # What a check detection does at or above its threshold (generation/checks).
    "check_action": {
        "fail": "fails the image",
        "flag": "flags the image",
        "face": "counts as a face",
        "ignore": "ignored",
    },
    # NudeNet's classes (generation/checks/safety.py NUDENET_LABELS).
    "nudenet": NUDENET,
}


def humanize(code: str) -> str:
    """A code nobody labelled, in words: ``check_flagged`` → "check flagged", a URL → its
    last part split at its capitals."""
    text = str(code).rstrip("/").rsplit("/", 1)[-1]
    words, current = [], ""
    for char in text.replace("_", " ").replace("-", " "):
        if char.isupper() and current and current[-1].islower():
            words.append(current)
            current = ""
        current += char
    words.append(current)
    return " ".join(" ".join(words).split()).lower()


def label(code, kind: str) -> str:
    """The label of ``code`` among the codes of ``kind`` (an unknown kind is a bug: KeyError)."""
    if code is None or code == "":
        return ""
    known = LABELS[kind]
    return known.get(code) or known.get(str(code)) or humanize(code)
