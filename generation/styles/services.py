"""Writes for style models, as admins make them: upload a training set with its rights
attestations, start, stop and resume training. The worker's side is ``training.py``; the
review's end is ``reviewing.py``.
"""

import hashlib
import io

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from generation.styles import dispatch, events
from generation.styles.models import StyleModel, StyleTrainingImage
from generation.styles.transitions import style_transition
from imprimatur.tenancy.models import BrandProject
from imprimatur.tenancy.permissions import Action, user_may

MAX_IMAGES = 100
MAX_IMAGE_BYTES = 10 * 1024 * 1024

#: Training settings an admin may choose, with their defaults and bounds.
CONFIG_BOUNDS: dict[str, tuple] = {
    "steps": (300, 1, 5000),
    "rank": (4, 1, 64),
    "learning_rate": (1e-3, 1e-6, 1.0),
    "batch_size": (4, 1, 32),
    "time_budget_s": (1800, 10, 24 * 3600),
    "max_bytes": (64 * 1024 * 1024, 1024, 2 * 1024**3),
    "seed": (0, 0, 2**32 - 1),
    # Share of captions left empty in training: 0.3 drew the demo style's trait in 0.56-0.62
    # of images against 0.41-0.50 without (bench/README.md, styles runs 20-22).
    "caption_dropout": (0.3, 0.0, 0.9),
    # Runs (seeds seed, seed + 1 …) averaged into one adapter, each as long as one: the demo
    # trait of two-run averages 0.72-0.88 against their runs' 0.69-0.84, median 0.77 both
    # (bench/README.md, styles runs 33-52), and 0.78-0.88 against 0.75-0.94, median 0.84
    # both, on the pack trained further (runs 58-65): an option, not the default.
    "members": (1, 1, 8),
}
#: On/off training settings and their defaults; convolutions are off by default (runs 24-25:
#: 0.81 and 0.47 over two seeds, and a larger file).
CONFIG_SWITCHES: dict[str, bool] = {
    "train_text_encoder": False,
    "flip": False,
    "convolutions": False,
}

#: Settings chosen from a list, with their defaults. A cosine rate: the demo style's trait over
#: training seeds 0.69-0.78, against 0.53-0.91 at a constant rate, the same median
#: (bench/README.md, styles runs 29-37, 50, 51): a more predictable style; on the demo pack
#: trained further, 0.75-0.94 (median 0.84) against 0.69-0.88 (runs 53-65).
CONFIG_CHOICES: dict[str, tuple[str, tuple[str, ...]]] = {
    # generation.engine.lora.LR_SCHEDULES (not imported: the web process loads no torch).
    "lr_schedule": ("cosine", ("constant", "cosine")),
}


def _may_manage(user, project: BrandProject) -> None:
    if not user_may(user, Action.MANAGE, project):
        raise PermissionDenied("Only admins of this project's organisation manage its styles.")


def style_config_clean(data: dict) -> dict:
    errors: dict[str, str] = {}
    config: dict = {}
    for field, (default, low, high) in CONFIG_BOUNDS.items():
        value = data.get(field, default)
        if value in (None, ""):
            value = default
        whole = isinstance(default, int)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (whole and not isinstance(value, int))
        ):
            errors[field] = "Give a whole number." if whole else "Give a number."
        elif not low <= value <= high:
            errors[field] = f"Must be from {low:g} to {high:g}."
        else:
            config[field] = value
    for field, default in CONFIG_SWITCHES.items():
        value = data.get(field, default)
        if not isinstance(value, bool):
            errors[field] = "Give true or false."
        config[field] = bool(value)
    for field, (default, choices) in CONFIG_CHOICES.items():
        value = data.get(field) or default
        if value not in choices:
            errors[field] = f"Choose one of: {', '.join(choices)}."
        config[field] = value
    if errors:
        raise ValidationError(errors)
    return config


def _image_clean(upload) -> tuple[bytes, str]:
    """The image re-encoded as a bare PNG, and the SHA-256 of the bytes sent."""
    from generation.engine.images import InvalidImage, load_upload

    data = upload if isinstance(upload, bytes) else upload.read(MAX_IMAGE_BYTES + 1)
    try:
        image = load_upload(data, max_bytes=MAX_IMAGE_BYTES, mode="RGB")
    except InvalidImage as error:
        raise ValidationError({"images": f"An image could not be read: {error}."}) from error
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue(), hashlib.sha256(data).hexdigest()


def style_create(
    *,
    project: BrandProject,
    user,
    name: str,
    base_model: str = "",
    images: list[dict],
    attest: bool,
    config: dict | None = None,
) -> StyleModel:
    """Store a training set and its rights attestations as a new style (or a new version of
    a style of the same name). ``images``: dicts of ``file``, ``owner``, ``licence`` and an
    optional ``caption``. Refused, naming the problem, under the minimum number of images,
    or when any image lacks its owner or licence, or when ``attest`` is not true."""
    _may_manage(user, project)
    minimum = settings.IMPRIMATUR_STYLE_MIN_IMAGES
    errors: dict[str, str] = {}
    name = (name or "").strip()
    if not name or len(name) > 100 or not all(c.isalnum() or c in "-_" for c in name):
        errors["name"] = "Give a name of letters, digits, - and _ (up to 100)."
    models = project.model_profiles.filter(enabled=True).order_by("name")
    profile = models.filter(name=base_model).first() if base_model else models.first()
    if profile is None:
        errors["base_model"] = (
            f"This project has no model named {base_model!r}."
            if base_model
            else "This project has no models yet: an admin must allow one for it."
        )
    if len(images) < minimum:
        errors["images"] = (
            f"A style needs at least {minimum} images of the brand's own; "
            f"{len(images)} {'was' if len(images) == 1 else 'were'} given."
        )
    elif len(images) > MAX_IMAGES:
        errors["images"] = f"A training set has at most {MAX_IMAGES} images."
    missing = [
        index + 1
        for index, entry in enumerate(images)
        if not str(entry.get("owner") or "").strip() or not str(entry.get("licence") or "").strip()
    ]
    if missing:
        errors["attestations"] = (
            "Every image needs its rights owner and licence; missing for image"
            f"{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing[:20]))}."
        )
    if attest is not True:
        errors["attest"] = "Attest that the organisation holds the rights to train on these images."
    if errors:
        raise ValidationError(errors)
    config = style_config_clean(config or {})
    cleaned = [(entry, *_image_clean(entry["file"])) for entry in images]
    digests = [digest for _, _, digest in cleaned]
    if len(set(digests)) != len(digests):
        raise ValidationError({"images": "The same image was given twice."})
    held_out = set(sorted(digests)[: settings.IMPRIMATUR_STYLE_HELD_OUT])
    now = timezone.now()
    with transaction.atomic():
        last = StyleModel.objects.filter(project=project, name=name).aggregate(Max("version"))
        style = StyleModel.objects.create(
            project=project,
            name=name,
            version=(last["version__max"] or 0) + 1,
            base_model=profile,
            config=config,
            total_steps=config["steps"] * config["members"],
            created_by=user,
        )
        for index, (entry, png, digest) in enumerate(cleaned):
            image = StyleTrainingImage(
                style=style,
                sha256=digest,
                caption=str(entry.get("caption") or "")[:300],
                held_out=digest in held_out,
                rights_owner=str(entry["owner"]).strip()[:200],
                licence=str(entry["licence"]).strip()[:200],
                attested_by=user,
                attested_at=now,
            )
            image.image.save(f"image{index + 1:03d}.png", ContentFile(png), save=False)
            image.save()
        events.style_created(style=style, user=user)
    return style


def style_train(*, style: StyleModel, user) -> StyleModel:
    """Start training (a draft) or resume it (stopped or failed: from its last checkpoint)
    on the base model's queue."""
    _may_manage(user, style.project)
    with transaction.atomic():
        resume = style.status != StyleModel.Status.DRAFT
        # The last run has ended (a draft, stopped or failed): no worker holds it any more.
        style = style_transition(
            style=style,
            to=StyleModel.Status.TRAINING,
            actor=user,
            cancel_requested_at=None,
            worker="",
            heartbeat_at=None,
        )
        events.style_train_asked(style=style, user=user, resume=resume)
        dispatch.train_on_commit(style_id=style.pk, queue=style.base_model.queue)
    return style


def style_cancel(*, style: StyleModel, user) -> StyleModel:
    """Ask the training to stop at its next step; its checkpoint is kept for a resume."""
    _may_manage(user, style.project)
    with transaction.atomic():
        style = StyleModel.objects.select_for_update().get(pk=style.pk)
        if style.status != StyleModel.Status.TRAINING:
            raise ValidationError({"status": "Only a style in training can be stopped."})
        style.cancel_requested_at = timezone.now()
        style.save(update_fields=["cancel_requested_at", "updated_at"])
        events.style_cancel_asked(style=style, user=user)
    return style


def style_review_send(*, style: StyleModel, user=None) -> StyleModel:
    """Send a trained style to the project's review workflow (kind "style"); it stays
    trained, saying why, when the workflow has no stage for styles."""
    from generation.styles.reviewing import style_review_open

    if user is not None:
        _may_manage(user, style.project)
    if style.status != StyleModel.Status.TRAINED:
        raise ValidationError({"status": "Only a trained style waiting for review is sent to it."})
    with transaction.atomic():
        review = style_review_open(style)
        if review is None:
            raise ValidationError(
                {
                    "review": "The project's review workflow has no stage for styles: "
                    "an admin must add one (kind: style) before the style can be reviewed."
                }
            )
        return style_transition(
            style=style, to=StyleModel.Status.IN_REVIEW, actor=user, data={"review": review.pk}
        )
