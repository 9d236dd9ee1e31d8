"""The stages of a workflow: their format, their validation and the default workflow.

A workflow's ``stages`` is a list, in order, of::

    {"name": "Compliance", "role": "compliance", "approvals": 1,
     "kinds": ["prompt"], "when": "always", "due_hours": 24}

- ``role``: who acts (``reviewer``, ``compliance`` or ``admin``);
- ``approvals``: how many different people must approve (one rejection ends the review);
- ``kinds``: the reviewable kinds the stage applies to (``prompt``, ``asset``, ``style``: a
  trained brand style model);
- ``when``: ``always``, or a condition the object must meet, named by the app that opens the
  review: ``prompt_review`` (the prompt matched a policy ``review`` rule), ``check_flagged``
  (an image check flagged it), ``check_failed`` (a safety check failed it: it is
  quarantined), ``brand_below`` (the brand score is under the threshold), ``face_detected``
  (a face was found and the project asks for likeness review);
- ``due_hours``: how long the stage may take (empty: no due time).
"""

from django.core.exceptions import ValidationError

from imprimatur.tenancy.permissions import Role

STAGE_KEYS = ("name", "role", "approvals", "kinds", "when", "due_hours")
STAGE_ROLES = (Role.REVIEWER, Role.COMPLIANCE, Role.ADMIN)
KINDS = ("prompt", "asset", "style")
#: A stage that names no kinds reviews prompts and images (styles only when named).
DEFAULT_KINDS = ("prompt", "asset")
CONDITIONS = (
    "always",
    "prompt_review",
    "check_flagged",
    "check_failed",
    "brand_below",
    "face_detected",
)
MAX_STAGES = 10

#: New projects get this: a compliance officer approves prompts that a policy sends to
#: review; a reviewer approves generated images, and a compliance officer too when the checks
#: flagged the image or found a face (if the project asks for likeness review). An image that
#: failed the checks is quarantined and goes to a compliance officer only. A compliance
#: officer approves each trained brand style before requests may use it.
DEFAULT_STAGES = [
    {
        "name": "Prompt review",
        "role": Role.COMPLIANCE.value,
        "approvals": 1,
        "kinds": ["prompt"],
        "when": "prompt_review",
        "due_hours": 24,
    },
    {
        "name": "Brand review",
        "role": Role.REVIEWER.value,
        "approvals": 1,
        "kinds": ["asset"],
        "when": "always",
        "due_hours": 48,
    },
    {
        "name": "Compliance review",
        "role": Role.COMPLIANCE.value,
        "approvals": 1,
        "kinds": ["asset"],
        "when": "check_flagged",
        "due_hours": 48,
    },
    {
        "name": "Likeness review",
        "role": Role.COMPLIANCE.value,
        "approvals": 1,
        "kinds": ["asset"],
        "when": "face_detected",
        "due_hours": 48,
    },
    {
        "name": "Safety review",
        "role": Role.COMPLIANCE.value,
        "approvals": 1,
        "kinds": ["asset"],
        "when": "check_failed",
        "due_hours": 24,
    },
    {
        "name": "Style review",
        "role": Role.COMPLIANCE.value,
        "approvals": 1,
        "kinds": ["style"],
        "when": "always",
        "due_hours": 72,
    },
]


def stages_clean(stages) -> list[dict]:
    """The stages with defaults filled in, or a ValidationError naming each problem."""
    errors: dict[str, list[str]] = {}

    def add(path: str, message: str) -> None:
        errors.setdefault(path, []).append(message)

    if not isinstance(stages, list) or not 1 <= len(stages) <= MAX_STAGES:
        raise ValidationError({"stages": [f"Give a list of 1 to {MAX_STAGES} stages."]})
    clean = []
    for index, stage in enumerate(stages):
        path = f"stages[{index}]"
        if not isinstance(stage, dict):
            add(path, "Give each stage as an object.")
            continue
        unknown = sorted(set(stage) - set(STAGE_KEYS))
        if unknown:
            add(path, f"Unknown keys {', '.join(unknown)}; allowed: {', '.join(STAGE_KEYS)}.")
        name = stage.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            add(f"{path}.name", "Give the stage a name of up to 100 characters.")
        role = stage.get("role")
        if role not in STAGE_ROLES:
            add(f"{path}.role", f"Unknown role {role!r}; one of: {', '.join(STAGE_ROLES)}.")
        approvals = stage.get("approvals", 1)
        if (
            not isinstance(approvals, int)
            or isinstance(approvals, bool)
            or not 1 <= approvals <= 10
        ):
            add(f"{path}.approvals", "Give a whole number of approvals from 1 to 10.")
        kinds = stage.get("kinds", list(DEFAULT_KINDS))
        if not isinstance(kinds, list) or not kinds or any(kind not in KINDS for kind in kinds):
            add(f"{path}.kinds", f"Give a list of kinds from: {', '.join(KINDS)}.")
        when = stage.get("when", "always")
        if when not in CONDITIONS:
            add(f"{path}.when", f"Unknown condition {when!r}; one of: {', '.join(CONDITIONS)}.")
        due_hours = stage.get("due_hours")
        if due_hours is not None and (
            not isinstance(due_hours, int)
            or isinstance(due_hours, bool)
            or not 1 <= due_hours <= 24 * 90
        ):
            add(
                f"{path}.due_hours", "Give a whole number of hours from 1 to 2160, or leave it out."
            )
        if isinstance(name, str) and isinstance(kinds, list):
            clean.append(
                {
                    "name": name.strip(),
                    "role": role,
                    "approvals": approvals,
                    "kinds": list(kinds),
                    "when": when,
                    "due_hours": due_hours,
                }
            )
    if errors:
        raise ValidationError(errors)
    return clean


def stages_for(stages: list[dict], *, kind: str, facts: set[str]) -> list[dict]:
    """The stages that apply to an object of ``kind`` meeting the conditions in ``facts``."""
    return [
        stage
        for stage in stages
        if kind in stage["kinds"] and (stage["when"] == "always" or stage["when"] in facts)
    ]
