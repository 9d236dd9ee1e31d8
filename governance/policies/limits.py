"""Parameter limits, the model allowlist and image quotas of a policy document.

The ``limits`` part of a document (every key optional; an absent or empty one sets no
limit)::

    "limits": {
      "models": ["demo-shapes"],        # the models requests may name (allowlist)
      "max_steps": 30,
      "max_guidance": 9.0,
      "max_images": 2,                  # images per request
      "max_side": 512,                  # largest width or height in pixels
      "quotas": {"user_day": 50, "user_month": 500,
                 "project_day": 200, "project_month": 4000}
    }

These tighten what the model profile allows; they never loosen it. The organisation's
limits and a project's limits both apply: the tighter value of each wins, and a request's
model must be on every allowlist that is set.

Quotas count the images that requests asked for since the start of the current day or
month (in the server's time zone), not counting failed, cancelled or rejected requests. A
quota in the organisation policy counts across all of the organisation's projects
(``user_day``: what one user asked for in any project; ``project_day``: what each project
asked for); a quota in a project policy counts within that project.

Plain Python (no Django) so that its rules can be tested and reused without a database.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

LIMIT_KEYS = ("models", "max_steps", "max_guidance", "max_images", "max_side", "quotas")
QUOTA_KEYS = ("user_day", "user_month", "project_day", "project_month")
MODEL_NAME = re.compile(r"^[-a-zA-Z0-9_]{1,100}$")
MAX_MODELS = 100
MAX_WHOLE = 1_000_000
MAX_GUIDANCE = 100.0

#: The request parameters that limits read, with the words used in messages.
PARAM_LABELS = {
    "model": "model",
    "steps": "steps",
    "guidance_scale": "guidance scale",
    "num_images": "images per request",
    "width": "width",
    "height": "height",
}


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def limits_clean(raw, add_error) -> dict:
    """The limits with unset keys dropped; ``add_error(path, message)`` gets each problem
    (paths relative to ``limits``)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        add_error("", "Give the limits as an object.")
        return {}
    clean: dict = {}
    unknown = sorted(set(raw) - set(LIMIT_KEYS))
    if unknown:
        add_error("", f"Unknown keys {', '.join(unknown)}; allowed: {', '.join(LIMIT_KEYS)}.")
    models = raw.get("models")
    if models not in (None, []):
        if not isinstance(models, list) or len(models) > MAX_MODELS:
            add_error("models", f"Give the allowed models as a list of up to {MAX_MODELS} names.")
        else:
            names: list[str] = []
            for index, name in enumerate(models):
                if not isinstance(name, str) or not MODEL_NAME.match(name.strip()):
                    add_error(f"models[{index}]", "Give a model name (letters, digits, - and _).")
                elif name.strip() not in names:
                    names.append(name.strip())
            if names:
                clean["models"] = names
    for key in ("max_steps", "max_images", "max_side"):
        value = raw.get(key)
        if value is None:
            continue
        if not _whole(value) or not 1 <= value <= MAX_WHOLE:
            add_error(key, f"Give a whole number from 1 to {MAX_WHOLE}, or leave it out.")
        else:
            clean[key] = value
    guidance = raw.get("max_guidance")
    if guidance is not None:
        if not _number(guidance) or not 0 <= guidance <= MAX_GUIDANCE:
            add_error("max_guidance", f"Give a number from 0 to {MAX_GUIDANCE:g}, or leave it out.")
        else:
            clean["max_guidance"] = float(guidance)
    quotas = raw.get("quotas")
    if quotas not in (None, {}):
        if not isinstance(quotas, dict):
            add_error("quotas", "Give the quotas as an object.")
        else:
            unknown = sorted(set(quotas) - set(QUOTA_KEYS))
            if unknown:
                add_error(
                    "quotas",
                    f"Unknown keys {', '.join(unknown)}; allowed: {', '.join(QUOTA_KEYS)}.",
                )
            clean_quotas = {}
            for key in QUOTA_KEYS:
                value = quotas.get(key)
                if value is None:
                    continue
                if not _whole(value) or not 0 <= value <= MAX_WHOLE:
                    add_error(
                        f"quotas.{key}",
                        f"Give a whole number of images from 0 to {MAX_WHOLE}, or leave it out.",
                    )
                else:
                    clean_quotas[key] = value
            if clean_quotas:
                clean["quotas"] = clean_quotas
    return clean


# --- Applying the limits of several layers ----------------------------------------------------


@dataclass(frozen=True)
class Quota:
    """One quota: ``limit`` images per ``period`` for one ``subject`` (user or project),
    counted in the organisation (``within_project`` False) or in one project."""

    subject: str  # "user" | "project"
    period: str  # "day" | "month"
    limit: int
    within_project: bool

    @property
    def key(self) -> str:
        return f"{self.subject}_{self.period}"

    def describe(self) -> str:
        whose = "your" if self.subject == "user" else "this project's"
        period = "daily" if self.period == "day" else "monthly"
        where = " in this project" if self.within_project else ""
        if self.subject == "project" and not self.within_project:
            where = " (organisation limit per project)"
        images = "image" if self.limit == 1 else "images"
        return f"{whose} {period} quota of {self.limit} {images}{where}"


@dataclass(frozen=True)
class EffectiveLimits:
    """The limits of all layers together."""

    models: tuple[tuple[str, ...], ...] = ()  # every allowlist that is set
    max_steps: int | None = None
    max_guidance: float | None = None
    max_images: int | None = None
    max_side: int | None = None
    quotas: tuple[Quota, ...] = ()

    def as_dict(self) -> dict:
        return {
            "models": [list(names) for names in self.models],
            "max_steps": self.max_steps,
            "max_guidance": self.max_guidance,
            "max_images": self.max_images,
            "max_side": self.max_side,
            "quotas": [
                {
                    "quota": quota.key,
                    "limit": quota.limit,
                    "counted_in": "project" if quota.within_project else "organization",
                }
                for quota in self.quotas
            ],
        }


def _tighter(current, value):
    if value is None:
        return current
    return value if current is None else min(current, value)


def limits_combine(layers: list[tuple[dict, bool]]) -> EffectiveLimits:
    """The limits of several documents' ``limits`` parts, each with whether it is a project
    layer (its quotas count within the project)."""
    models: list[tuple[str, ...]] = []
    values: dict[str, float | int | None] = dict.fromkeys(
        ("max_steps", "max_guidance", "max_images", "max_side")
    )
    quotas: list[Quota] = []
    for limits, is_project in layers:
        if limits.get("models"):
            models.append(tuple(limits["models"]))
        for key in values:
            values[key] = _tighter(values[key], limits.get(key))
        for key, limit in limits.get("quotas", {}).items():
            subject, period = key.split("_")
            quotas.append(Quota(subject, period, limit, within_project=is_project))
    return EffectiveLimits(models=tuple(models), quotas=tuple(quotas), **values)


def limits_check(limits: EffectiveLimits, params: dict) -> dict[str, list[str]]:
    """Each request parameter that breaks a limit, with the reason in plain words.

    ``params`` holds any of ``model``, ``steps``, ``guidance_scale``, ``num_images``,
    ``width`` and ``height``; a missing or non-numeric value is not judged here (the
    request's own validation reports it).
    """
    errors: dict[str, list[str]] = {}
    model = params.get("model")
    if model:
        for allowed in limits.models:
            if model not in allowed:
                errors.setdefault("model", []).append(
                    f"The prompt policy allows only these models: {', '.join(allowed)}."
                )
                break
    for field, maximum in (
        ("steps", limits.max_steps),
        ("guidance_scale", limits.max_guidance),
        ("num_images", limits.max_images),
        ("width", limits.max_side),
        ("height", limits.max_side),
    ):
        value = params.get(field)
        if maximum is None or not _number(value) or value <= maximum:
            continue
        errors.setdefault(field, []).append(
            f"The prompt policy allows at most {maximum:g} for {PARAM_LABELS[field]}."
        )
    return errors


# --- Safety classes: the image checks' NudeNet rules ----------------------------------------

#: NudeNet 3.4's classes. Governance does not import the checks (DESIGN.md); a test keeps this
#: list equal to ``generation.checks.safety.NUDENET_LABELS``.
SAFETY_CLASSES = (
    "FEMALE_GENITALIA_COVERED",
    "FACE_FEMALE",
    "BUTTOCKS_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_BREAST_EXPOSED",
    "ANUS_EXPOSED",
    "FEET_EXPOSED",
    "BELLY_COVERED",
    "FEET_COVERED",
    "ARMPITS_COVERED",
    "ARMPITS_EXPOSED",
    "FACE_MALE",
    "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "ANUS_COVERED",
    "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
)
SAFETY_ACTIONS = ("fail", "flag", "face", "ignore")


def safety_classes_clean(raw, add_error) -> dict:
    """``{"FEMALE_BREAST_EXPOSED": {"threshold": 0.4, "action": "fail"}, …}``: how the image
    checks treat each NudeNet class (classes not named keep the checks' defaults)."""
    if raw in (None, {}):
        return {}
    if not isinstance(raw, dict):
        add_error("", "Give the safety classes as an object: class name -> {threshold, action}.")
        return {}
    clean = {}
    for name, rule in raw.items():
        if name not in SAFETY_CLASSES:
            add_error(
                f".{name}", f"Unknown NudeNet class {name!r}; one of: {', '.join(SAFETY_CLASSES)}."
            )
            continue
        if not isinstance(rule, dict) or set(rule) - {"threshold", "action"} or not rule:
            add_error(
                f".{name}", 'Give {"threshold": 0 to 1, "action": fail, flag, face or ignore}.'
            )
            continue
        entry = {}
        threshold = rule.get("threshold")
        if threshold is not None:
            if not _number(threshold) or not 0 <= threshold <= 1:
                add_error(f".{name}.threshold", "Give a threshold from 0 to 1.")
                continue
            entry["threshold"] = float(threshold)
        action = rule.get("action")
        if action is not None:
            if action not in SAFETY_ACTIONS:
                add_error(
                    f".{name}.action",
                    f"Unknown action {action!r}; one of: {', '.join(SAFETY_ACTIONS)}.",
                )
                continue
            entry["action"] = action
        clean[name] = entry
    return clean
