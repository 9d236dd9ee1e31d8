"""Checking what a request asks for against its model profile: one place for the API and UI.

`generation_params_clean` fills defaults from the model profile and reports every bad
field at once, as a ValidationError keyed by field name.
"""

import hashlib
import io
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError

from generation.jobs.models import Mode, ModelProfile
from generation.styles.using import styles_resolve
from governance.policies.matching import prompt_length_error
from imprimatur.tenancy.models import BrandProject

MAX_SEED = 2**32 - 1
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_UPLOAD_SIDE = 4096


def models_for_project(project: BrandProject):
    """The enabled model profiles that the project's creators may use, by name."""
    return ModelProfile.objects.filter(
        organization_id=project.organization_id, projects=project, enabled=True
    ).order_by("name")


def prompt_token_error(profile: ModelProfile, text: str, *, what: str = "prompt") -> str | None:
    """Why ``text`` is too long for the text encoder of ``profile``'s family, or None.

    Counted with the model's own tokenizer (start and end tokens included, as the encoder
    reads them). Where the tokenizer cannot be read here (a path only the workers have), only
    the character limit applies and the encoder cuts what it cannot read.
    """
    if not text or not profile.prompt_tokens or not profile.prompt_tokenizer:
        return None
    from pathlib import Path

    from generation.engine.families import count_prompt_tokens

    folder = Path(profile.path)
    if profile.single_file_config and not folder.is_dir():
        folder = Path(profile.single_file_config)
    count = count_prompt_tokens(folder, profile.prompt_tokenizer, text)
    if count is None or count <= profile.prompt_tokens:
        return None
    return (
        f"The {what} is {count} tokens long for {profile.display_name}; "
        f"{profile.family_label} models read at most {profile.prompt_tokens}."
    )


def prompt_limits_text(profiles) -> str:
    """The prompt limits of ``profiles`` in words, for the request form."""
    limits = [
        f"{profile.display_name} ({profile.family_label}) {profile.prompt_tokens}"
        for profile in profiles
        if profile.prompt_tokens
    ]
    if not limits:
        return ""
    return (
        "Tokens of a prompt each model reads (a token is a short word or part of one): "
        + "; ".join(limits)
        + "."
    )


def _is_whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _read_upload(upload) -> bytes:
    if isinstance(upload, bytes):
        return upload
    if getattr(upload, "size", 0) > MAX_UPLOAD_BYTES:
        # Refused before reading it into memory.
        return upload.read(MAX_UPLOAD_BYTES + 1)
    return upload.read()


def _clean_upload(upload, *, mode: str) -> tuple[bytes, str]:
    """The upload re-encoded as a bare PNG, and the SHA-256 of the bytes the user sent."""
    from generation.engine.images import load_upload

    data = _read_upload(upload)
    image = load_upload(
        data,
        max_bytes=MAX_UPLOAD_BYTES,
        max_pixels=MAX_UPLOAD_SIDE * MAX_UPLOAD_SIDE,
        max_side=MAX_UPLOAD_SIDE,
        mode=mode,
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue(), hashlib.sha256(data).hexdigest()


def upscaler_available() -> bool:
    """Whether the upscaler's file is configured and present (the option shows only then)."""
    path = settings.IMPRIMATUR_UPSCALER_PATH
    from pathlib import Path

    return bool(path) and Path(path).is_file()


def upscale_factor_error(factor, width, height) -> str | None:
    """Why ``factor`` cannot enlarge a ``width`` x ``height`` image, or None."""
    if factor == 1:
        return None
    if not _is_whole(factor) or factor not in (2, 4):
        return "Choose 1 (original size), 2 or 4."
    if not upscaler_available():
        return "No upscaler is installed on this platform: ask an admin to configure one."
    longest = max(width, height) * factor if _is_whole(width) and _is_whole(height) else 0
    if longest > settings.IMPRIMATUR_UPSCALE_MAX_SIDE:
        return (
            f"Enlarged {factor} times, the image would be {longest} pixels wide; the most "
            f"allowed is {settings.IMPRIMATUR_UPSCALE_MAX_SIDE}."
        )
    return None


def generation_params_clean(*, project: BrandProject, prompt: str, params: dict) -> dict:
    """Defaults from the model profile, every parameter checked; ValidationError names
    each bad field. Returns the values to store, with `profile` and normalised images."""
    errors: dict[str, list[str]] = {}

    def reject(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    available = list(models_for_project(project))
    wanted = params.get("model")
    if not available:
        raise ValidationError(
            {"model": "This project has no models yet: an admin must allow one for it."}
        )
    if wanted:
        profile = next((candidate for candidate in available if candidate.name == wanted), None)
        if profile is None:
            names = ", ".join(candidate.name for candidate in available)
            raise ValidationError(
                {"model": f"Unknown model {wanted!r}. Available for this project: {names}."}
            )
    else:
        profile = available[0]

    values = {
        "negative_prompt": "",
        "mode": Mode.TEXT_TO_IMAGE,
        "strength": 0.8,
        "width": profile.default_size,
        "height": profile.default_size,
        "steps": profile.default_steps,
        "guidance_scale": profile.default_guidance,
        "seed": None,
        "num_images": 1,
        "upscale": 1,
        "init_image": None,
        "mask_image": None,
        "styles": [],
        "scheduler": "",
    }
    values.update({key: value for key, value in params.items() if value not in (None, "")})
    values["model"] = profile.name

    prompt = (prompt or "").strip()
    if not prompt:
        reject("prompt", "Write a prompt: it may not be empty.")
    elif too_long := prompt_length_error(prompt) or prompt_token_error(profile, prompt):
        reject("prompt", too_long)
    negative = values["negative_prompt"]
    if too_long := prompt_length_error(negative, what="negative prompt") or prompt_token_error(
        profile, negative, what="negative prompt"
    ):
        reject("negative_prompt", too_long)

    sizes = sorted(profile.sizes)
    for field in ("width", "height"):
        size = values[field]
        if not _is_whole(size):
            reject(field, "Give a whole number of pixels.")
        elif size not in sizes:
            allowed = ", ".join(str(option) for option in sizes)
            reject(field, f"{profile.name} allows {allowed} pixels.")
    steps = values["steps"]
    if not _is_whole(steps) or not 1 <= steps <= profile.max_steps:
        reject("steps", f"Must be a whole number from 1 to {profile.max_steps}.")
    guidance = values["guidance_scale"]
    if not _is_number(guidance) or not 0 <= guidance <= profile.max_guidance:
        reject("guidance_scale", f"Must be a number from 0 to {profile.max_guidance:g}.")
    count = values["num_images"]
    if not _is_whole(count) or not 1 <= count <= profile.max_images:
        reject("num_images", f"Must be a whole number from 1 to {profile.max_images}.")
    seed = values["seed"]
    if seed is not None and (not _is_whole(seed) or not 0 <= seed <= MAX_SEED):
        reject("seed", f"Must be a whole number from 0 to {MAX_SEED}.")

    upscale_error = upscale_factor_error(values["upscale"], values["width"], values["height"])
    if upscale_error:
        reject("upscale", upscale_error)

    mode = values["mode"]
    if mode not in Mode.values:
        reject("mode", f"Must be one of: {', '.join(Mode.values)}.")
    elif mode not in profile.capabilities:
        reject("mode", f"{profile.name} does not do {mode}.")
    strength = values["strength"]
    if not _is_number(strength) or not 0 < strength <= 1:
        reject("strength", "Must be a number above 0 and at most 1.")
    needs_init = mode in (Mode.IMAGE_TO_IMAGE, Mode.INPAINTING)
    for field, needed, image_mode, used_by in (
        ("init_image", needs_init, "RGB", "image-to-image and inpainting"),
        ("mask_image", mode == Mode.INPAINTING, "L", "inpainting"),
    ):
        upload = values[field]
        if upload is None:
            if needed:
                reject(field, f"{mode} needs this image.")
            continue
        if not needed:
            reject(field, f"Only used by {used_by}.")
            continue
        from generation.engine.images import InvalidImage

        try:
            values[field], values[f"{field}_sha256"] = _clean_upload(upload, mode=image_mode)
        except InvalidImage as error:
            reject(field, str(error))

    try:
        values["styles"] = styles_resolve(
            project=project, base_model_id=profile.pk, wanted=values["styles"]
        )
    except ValidationError as error:
        for message in error.message_dict.get("styles", []):
            reject("styles", message)

    if errors:
        raise ValidationError(errors)
    if seed is None:
        values["seed"] = secrets.randbelow(MAX_SEED + 1)
    values["prompt"] = prompt
    values["guidance_scale"] = float(guidance)
    values["strength"] = float(strength)
    values["profile"] = profile
    return values
