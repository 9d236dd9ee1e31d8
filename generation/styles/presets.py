"""Style presets: saving a new version (admins, audited) and applying one to a request.

A preset's values are defaults: what the request gives itself wins, and the request is then
checked against its model and the policy's limits like any other (``generation.jobs.params``).
The template is applied before the policy judges the prompt, so the policy judges, and the
manifest records, the prompt the model gets.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from generation.styles import events
from generation.styles.models import StyleModel, StylePreset, StylePresetVersion
from governance.policies.matching import prompt_length_error
from imprimatur.tenancy.models import BrandProject
from imprimatur.tenancy.permissions import Action, user_may

PLACEHOLDER = "{prompt}"
#: The scheduler names a model profile may choose (``jobs.ModelProfile.Scheduler``'s values;
#: styles does not import generation's app, so the names are written here too).
SCHEDULERS = (
    "DDIMScheduler",
    "EulerDiscreteScheduler",
    "EulerAncestralDiscreteScheduler",
    "DPMSolverMultistepScheduler",
    "PNDMScheduler",
    "LMSDiscreteScheduler",
)
PRESET_FIELDS = (
    "prompt_template",
    "negative_prompt",
    "size",
    "steps",
    "guidance_scale",
    "scheduler",
    "style_model",
    "style_weight",
)
MAX_WEIGHT = 2.0


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def preset_values_clean(*, project: BrandProject, data: dict) -> dict:
    """The version's values, or a ValidationError naming each bad field."""
    errors: dict[str, list[str]] = {}

    def reject(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    values = {
        "prompt_template": PLACEHOLDER,
        "negative_prompt": "",
        "size": None,
        "steps": None,
        "guidance_scale": None,
        "scheduler": "",
        "style_model": None,
        "style_weight": 1.0,
    }
    values.update({key: data[key] for key in PRESET_FIELDS if key in data})
    template = values["prompt_template"]
    if not isinstance(template, str) or PLACEHOLDER not in template:
        reject("prompt_template", "Put {prompt} where the creator's prompt goes.")
    elif too_long := prompt_length_error(template, what="prompt template"):
        reject("prompt_template", too_long)
    negative = values["negative_prompt"] or ""
    if too_long := prompt_length_error(negative, what="negative prompt"):
        reject("negative_prompt", too_long)
    values["negative_prompt"] = negative
    size = values["size"]
    if size is not None and (not _whole(size) or not 8 <= size <= 4096 or size % 8):
        reject("size", "Give a size in pixels from 8 to 4096, a multiple of 8, or none.")
    steps = values["steps"]
    if steps is not None and (not _whole(steps) or not 1 <= steps <= 1000):
        reject("steps", "Give a whole number of steps from 1 to 1000, or none.")
    guidance = values["guidance_scale"]
    if guidance is not None and (not _number(guidance) or not 0 <= guidance <= 50):
        reject("guidance_scale", "Give a guidance from 0 to 50, or none.")
    scheduler = values["scheduler"] or ""
    if scheduler and scheduler not in SCHEDULERS:
        reject("scheduler", f"Unknown scheduler; one of: {', '.join(SCHEDULERS)}.")
    values["scheduler"] = scheduler
    weight = values["style_weight"]
    if not _number(weight) or not 0 < weight <= MAX_WEIGHT:
        reject("style_weight", f"Give a weight above 0 and at most {MAX_WEIGHT:g}.")
    style = values["style_model"]
    if style not in (None, ""):
        approved = StyleModel.objects.filter(project=project, status=StyleModel.Status.APPROVED)
        found = approved.filter(pk=style).first() if _whole(style) else None
        if found is None:
            reject("style_model", "Choose an approved style of this project.")
        values["style_model"] = found
    else:
        values["style_model"] = None
    if errors:
        raise ValidationError(errors)
    return values


def preset_save(
    *, project: BrandProject, user, name: str, data: dict, preset: StylePreset | None = None
) -> StylePresetVersion:
    """Write a preset's new version (a new preset when ``preset`` is None); requests made
    with an older version keep it."""
    if not user_may(user, Action.MANAGE, project):
        raise PermissionDenied("Only admins of this project's organisation manage presets.")
    values = preset_values_clean(project=project, data=data)
    with transaction.atomic():
        created = preset is None
        if created:
            name = (name or "").strip()
            if not name or len(name) > 100:
                raise ValidationError({"name": "Give the preset a name of up to 100 characters."})
            if StylePreset.objects.filter(project=project, name=name).exists():
                raise ValidationError({"name": "This project has a preset of that name already."})
            preset = StylePreset.objects.create(project=project, name=name)
        else:
            preset = StylePreset.objects.select_for_update().get(pk=preset.pk)
        last = preset.versions.order_by("-number").first()
        version = StylePresetVersion.objects.create(
            preset=preset,
            number=(last.number + 1) if last else 1,
            created_by=user,
            **values,
        )
        events.preset_saved(version=version, user=user, created=created)
    return version


def preset_for_request(*, project: BrandProject, name: str) -> StylePresetVersion:
    preset = StylePreset.objects.filter(project=project, name=name, archived=False).first()
    version = preset.current if preset else None
    if version is None:
        names = ", ".join(
            StylePreset.objects.filter(project=project, archived=False).values_list(
                "name", flat=True
            )
        )
        known = f" This project's presets: {names}." if names else " This project has none."
        raise ValidationError({"preset": f"No preset named {name!r}.{known}"})
    return version


def preset_apply(
    *, project: BrandProject, prompt: str, params: dict
) -> tuple[str, dict, StylePresetVersion | None]:
    """The prompt with the preset's template applied and the parameters with its defaults
    (the request's own values win); the preset's style is added to the request's styles."""
    params = dict(params)
    name = params.pop("preset", None)
    if not name:
        return prompt, params, None
    version = preset_for_request(project=project, name=str(name))
    prompt = version.prompt_template.replace(PLACEHOLDER, (prompt or "").strip())
    own_negative = (params.get("negative_prompt") or "").strip()
    params["negative_prompt"] = ", ".join(
        part for part in (version.negative_prompt.strip(), own_negative) if part
    )
    for field, value in (
        ("width", version.size),
        ("height", version.size),
        ("steps", version.steps),
        ("guidance_scale", version.guidance_scale),
    ):
        if value is not None and params.get(field) in (None, ""):
            params[field] = value
    if version.scheduler and not params.get("scheduler"):
        params["scheduler"] = version.scheduler
    if version.style_model_id:
        styles = list(params.get("styles") or [])
        named = {entry.get("name") for entry in styles if isinstance(entry, dict)}
        style = version.style_model
        if style.name not in named:
            styles.append(
                {"name": style.name, "version": style.version, "weight": version.style_weight}
            )
        params["styles"] = styles
    return prompt, params, version


def presets_for_project(project: BrandProject) -> list[str]:
    """The names of the project's presets, for the request form."""
    return list(
        StylePreset.objects.filter(project=project, archived=False)
        .order_by("name")
        .values_list("name", flat=True)
    )
