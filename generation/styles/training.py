"""The worker's side of a style: train it (resuming from its checkpoint), store its weights,
evaluate it against the brand's images, keep sample images, and send it to review.

Runs in Celery worker processes (``tasks.py``); the web process never imports the engine.
"""

import hashlib
import logging
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from generation.styles.models import StyleModel, StyleSample
from generation.styles.transitions import style_transition

logger = logging.getLogger(__name__)

Status = StyleModel.Status
#: Sample images per side (with and without the style) kept as review evidence.
SAMPLES = 2


def style_work_dir(style: StyleModel) -> Path:
    """Where this style's checkpoints live: a task sent again resumes from them."""
    return Path(settings.IMPRIMATUR_STYLE_WORK_DIR) / f"style-{style.pk}-v{style.version}"


class _Progress:
    """lora_train's progress callback: steps done, a heartbeat, at most every `interval` s."""

    def __init__(self, style_id: int, interval: float = 0.5):
        self.style_id, self.interval, self._last = style_id, interval, 0.0

    def __call__(self, step: int, total: int | None = None, *args, **kwargs) -> None:
        now = time.monotonic()
        if total is not None and step < total and now - self._last < self.interval:
            return
        self._last = now
        fields = {"steps_done": step, "heartbeat_at": timezone.now()}
        if total is not None:
            fields["total_steps"] = total
        StyleModel.objects.filter(pk=self.style_id).update(**fields)


def _stop_asked(style_id: int):
    def should_stop() -> bool:
        return StyleModel.objects.filter(pk=style_id, cancel_requested_at__isnull=False).exists()

    return should_stop


def _open(field, mode: str = "RGB"):
    from PIL import Image

    with field.open("rb") as handle:
        image = Image.open(handle)
        image.load()
    return image.convert(mode)


def style_train_run(*, style_id: int, worker: str = "") -> StyleModel | None:
    """Train one style to the end of its steps or budget. Safe to run twice: a style not in
    training is left alone; one whose worker died resumes from its last checkpoint."""
    with transaction.atomic():
        style = StyleModel.objects.select_for_update().filter(pk=style_id).first()
        if style is None or style.status != Status.TRAINING:
            logger.info("Style %s is not in training; skipping.", style_id)
            return None
        lease = timedelta(seconds=settings.IMPRIMATUR_JOB_LEASE_SECONDS)
        if (
            style.worker
            and style.worker != worker
            and style.heartbeat_at is not None
            and timezone.now() - style.heartbeat_at < lease
        ):
            # A duplicate message (a broker's visibility timeout) while another worker trains
            # it: that worker goes on; this message ends here.
            logger.info("Style %s is training on %s; skipping.", style_id, style.worker)
            return None
        if style.cancel_requested_at is not None:
            return style_transition(
                style=style, to=Status.CANCELLED, error="Stopped by an admin before it started."
            )
        style.worker = worker
        style.heartbeat_at = timezone.now()
        style.save(update_fields=["worker", "heartbeat_at", "updated_at"])

    from generation.engine.lora import LoraTrainConfig
    from generation.engine.lora_ensemble import lora_train_members

    training = [image for image in style.images.all() if not image.held_out]
    images = [_open(image.image) for image in training]
    captions = [image.caption or style.project.name for image in training]
    known = set(LoraTrainConfig.__dataclass_fields__)
    config = LoraTrainConfig(
        **{key: value for key, value in style.config.items() if key in known},
        resolution=style.base_model.default_size,
    )
    try:
        result = lora_train_members(
            style.base_model.path,
            images,
            captions,
            style_work_dir(style),
            config,
            members=style.config.get("members", 1),
            progress=_Progress(style.pk),
            should_stop=_stop_asked(style.pk),
        )
    except Exception as error:
        logger.exception("Training style %s failed", style.pk)
        return style_transition(
            style=style, to=Status.FAILED, error=f"{type(error).__name__}: {error}"
        )
    losses = [float(loss) for loss in result.losses][-500:]
    if not result.completed:
        asked = StyleModel.objects.filter(pk=style.pk, cancel_requested_at__isnull=False)
        why = "Stopped by an admin" if asked.exists() else "Stopped at its time budget"
        return style_transition(
            style=style,
            to=Status.CANCELLED,
            error=f"{why} after {result.steps_done} of {style.total_steps} steps; it can resume.",
            steps_done=result.steps_done,
            losses=losses,
        )
    data = Path(result.weights_path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    style = StyleModel.objects.get(pk=style.pk)
    style.weights.save(f"{style.name}-v{style.version}.safetensors", ContentFile(data), save=False)
    StyleModel.objects.filter(pk=style.pk).update(weights=style.weights.name)
    try:
        evaluation, samples = style_evaluate(style, weights_path=result.weights_path, digest=digest)
    except Exception as error:
        logger.exception("Evaluating style %s failed", style.pk)
        return style_transition(
            style=style, to=Status.FAILED, error=f"The evaluation failed: {error}"
        )
    with transaction.atomic():
        for index, (prompt, with_style, png) in enumerate(samples):
            sample = StyleSample(style=style, prompt=prompt[:300], with_style=with_style)
            side = "style" if with_style else "base"
            sample.image.save(f"sample-{side}-{index}.png", ContentFile(png), save=False)
            sample.save()
        style = style_transition(
            style=style,
            to=Status.TRAINED,
            steps_done=result.steps_done,
            losses=losses,
            training_seconds=float(result.seconds),
            weights_sha256=digest,
            weights_bytes=len(data),
            evaluation=evaluation,
            data={"weights_sha256": digest, "evaluation": evaluation},
        )
        from generation.styles.reviewing import style_review_open

        review = style_review_open(style)
        if review is not None:
            style = style_transition(style=style, to=Status.IN_REVIEW, data={"review": review.pk})
    return style


def style_evaluate(style: StyleModel, *, weights_path, digest: str):
    """CMMD between the brand's images (held-out training images and the project's reference
    images) and images made from the held-out captions, without and with the style.
    Returns the evaluation and a few samples (prompt, with_style, PNG bytes)."""
    from generation.checks.cmmd import cmmd_images
    from generation.engine.adapters import StyleAdapter
    from generation.engine.clip import load_clip
    from generation.engine.pipelines import GenerationParams, generate, image_to_png_bytes

    held_out = [image for image in style.images.all() if image.held_out]
    references = [_open(image.image) for image in held_out]
    references += [_open(ref.image) for ref in style.project.reference_images.all()]
    if len(references) < 2:
        references += [_open(image.image) for image in style.images.all() if not image.held_out]
    prompts = [image.caption or style.project.name for image in held_out] or [style.project.name]
    profile = style.base_model
    adapter = StyleAdapter(
        name=f"{style.name}_v{style.version}".replace("-", "_"),
        path=Path(weights_path),
        weight=1.0,
        sha256=digest,
    )
    made: dict[bool, list] = {False: [], True: []}
    count = settings.IMPRIMATUR_STYLE_EVALUATION_IMAGES
    per_prompt = max(1, -(-count // len(prompts)))
    for with_style in (False, True):
        for index, prompt in enumerate(prompts[:count]):
            params = GenerationParams(
                prompt=prompt,
                negative_prompt="",
                width=profile.default_size,
                height=profile.default_size,
                steps=profile.default_steps,
                guidance_scale=profile.default_guidance,
                seed=index * per_prompt,  # the same seeds with and without the style
                num_images=per_prompt,
                adapters=(adapter,) if with_style else (),
            )
            images = generate(
                model_path=profile.path,
                params=params,
                scheduler=profile.scheduler or None,
                single_file_config=profile.single_file_config or None,
            )
            made[with_style] += [(prompt, image) for image in images]
    clip = load_clip(
        settings.IMPRIMATUR_CLIP_ARCHITECTURE,
        settings.IMPRIMATUR_CLIP_CHECKPOINT,
        config_file=settings.IMPRIMATUR_CLIP_CONFIG or None,
    )
    scores = {
        with_style: cmmd_images(clip, [image for _, image in made[with_style]], references)
        for with_style in (False, True)
    }
    evaluation = {
        "cmmd_base": scores[False],
        "cmmd_style": scores[True],
        "images": len(made[True]),
        "references": len(references),
        "held_out": len(held_out),
        "clip": settings.IMPRIMATUR_CLIP_ARCHITECTURE,
    }
    samples = [
        (prompt, with_style, image_to_png_bytes(image))
        for with_style in (True, False)
        for prompt, image in made[with_style][:SAMPLES]
    ]
    return evaluation, samples
