"""The model catalog's writes: checking a model profile (its checkpoint's config, sizes,
limits, queue) and saving it, with its audit event. Reads no weights."""

import re

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from generation.jobs import events
from generation.jobs.models import Mode, ModelProfile
from imprimatur.tenancy.models import BrandProject
from imprimatur.tenancy.permissions import Action, user_may

PROFILE_FIELDS = (
    "display_name",
    "path",
    "single_file_config",
    "capabilities",
    "queue",
    "scheduler",
    "sizes",
    "default_size",
    "default_steps",
    "max_steps",
    "default_guidance",
    "max_guidance",
    "max_images",
    "licence_note",
    "enabled",
)
QUEUE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


def _profile_errors(profile: ModelProfile) -> dict[str, list[str]]:
    """Everything wrong with a profile, by field; reads the checkpoint config, not weights."""
    from generation.engine.catalog import ModelNotFoundError, inspect_model

    errors: dict[str, list[str]] = {}

    def reject(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    try:
        info = inspect_model(profile.path, single_file_config=profile.single_file_config or None)
    except ModelNotFoundError as error:
        about_config = profile.single_file_config and profile.single_file_config in str(error)
        reject("single_file_config" if about_config else "path", str(error))
        info = None
    if info is not None and info.format == "single-file" and not profile.single_file_config:
        reject(
            "single_file_config",
            "A single-file checkpoint needs a local diffusers directory with its configs: "
            "nothing is downloaded.",
        )
    if info is not None:
        profile.pipeline_class = info.pipeline_class or ""
        profile.model_capabilities = sorted(info.capabilities)
        profile.family = info.family or ""
        profile.prompt_tokens = info.prompt_tokens
        profile.prompt_tokenizer = info.prompt_tokenizer or ""
    capabilities = profile.capabilities
    if not isinstance(capabilities, list) or not capabilities:
        reject("capabilities", "Choose at least one of: " + ", ".join(Mode.values) + ".")
    elif unknown := [value for value in capabilities if value not in Mode.values]:
        reject("capabilities", f"Unknown: {', '.join(map(str, unknown))}.")
    elif info is not None and (missing := set(capabilities) - set(info.capabilities)):
        reject(
            "capabilities",
            f"This {info.family_label} model ({info.pipeline_class}) cannot do "
            f"{', '.join(sorted(missing))}.",
        )
    sizes = profile.sizes
    if (
        not isinstance(sizes, list)
        or not sizes
        or not all(isinstance(size, int) and 64 <= size <= 4096 and size % 8 == 0 for size in sizes)
    ):
        reject("sizes", "Give one or more sizes from 64 to 4096 pixels, multiples of 8.")
    elif info is not None and (odd := [s for s in sizes if s % info.size_multiple]):
        reject(
            "sizes",
            f"{info.family_label} models need sizes in multiples of {info.size_multiple} "
            f"pixels; {', '.join(map(str, odd))} {'is' if len(odd) == 1 else 'are'} not.",
        )
    elif profile.default_size not in sizes:
        reject("default_size", "Must be one of the allowed sizes.")
    if not 1 <= profile.default_steps <= profile.max_steps <= 1000:
        reject("default_steps", "Need 1 ≤ default steps ≤ maximum steps ≤ 1000.")
    if not 0 <= profile.default_guidance <= profile.max_guidance <= 100:
        reject("default_guidance", "Need 0 ≤ default guidance ≤ maximum guidance ≤ 100.")
    if not 1 <= profile.max_images <= 16:
        reject("max_images", "Must be from 1 to 16.")
    if not QUEUE_NAME.match(profile.queue or ""):
        reject("queue", "Use letters, digits, '.', '_' or '-' only.")
    if profile.scheduler not in ModelProfile.Scheduler.values:
        reject("scheduler", "Unknown scheduler.")
    elif profile.scheduler and info is not None and info.family:
        _check_family_scheduler(profile.scheduler, info, reject)
    return errors


def _check_family_scheduler(scheduler: str, info, reject) -> None:
    """Refuse a scheduler the model's family was not trained for (DDIM for Flux, ...)."""
    if scheduler in info.schedulers:
        return
    labels = dict(ModelProfile.Scheduler.choices)
    fitting = [labels[name] for name in info.schedulers if name in labels]
    kind = "flow-matching" if info.flow_matching else "denoising"
    reject(
        "scheduler",
        f"{info.family_label} is a {kind} model: {labels[scheduler]} does not fit it. "
        f"Choose its own scheduler or {' or '.join(fitting)}.",
    )


@transaction.atomic
def model_profile_save(
    *,
    organization,
    actor,
    name: str,
    fields: dict,
    projects: list[BrandProject] | None = None,
    profile: ModelProfile | None = None,
) -> ModelProfile:
    """Create or change a model profile after checking its checkpoint and limits.

    `actor` None is the platform itself (a management command run by the operator).
    """
    if actor is not None and not user_may(actor, Action.MANAGE, organization):
        raise PermissionDenied("Only admins of the organisation manage its models.")
    creating = profile is None
    if creating:
        profile = ModelProfile(organization=organization, name=name)
    elif profile.organization_id != organization.pk:
        raise PermissionDenied("That model belongs to another organisation.")
    before = {field: getattr(profile, field) for field in PROFILE_FIELDS} if not creating else {}
    for field, value in fields.items():
        if field not in PROFILE_FIELDS:
            raise ValueError(f"Not a model profile field: {field}")
        setattr(profile, field, value)
    if not profile.display_name:
        profile.display_name = profile.name
    errors = _profile_errors(profile)
    if creating and ModelProfile.objects.filter(organization=organization, name=name).exists():
        errors.setdefault("name", []).append("A model of this name exists already.")
    if projects is not None and any(p.organization_id != organization.pk for p in projects):
        errors.setdefault("projects", []).append("Choose projects of this organisation.")
    if errors:
        raise ValidationError(errors)
    profile.full_clean(exclude=["capabilities", "sizes", "projects"])
    profile.save()
    if projects is not None:
        profile.projects.set(projects)
    changed = {
        field: getattr(profile, field)
        for field in PROFILE_FIELDS
        if creating or before[field] != getattr(profile, field)
    }
    events.model_saved(
        profile=profile, actor=actor, created=creating, changed=changed, projects=projects
    )
    return profile
