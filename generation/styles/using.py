"""Using approved styles in a request: naming them (checked at submission) and turning them
into the engine's adapters (on the worker)."""

import hashlib
import shutil
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError

from generation.styles.models import StyleModel
from imprimatur.tenancy.models import BrandProject

MAX_STYLES = 4
MAX_WEIGHT = 2.0


def _entry(raw) -> tuple[str, int | None, float]:
    if isinstance(raw, str):
        return raw, None, 1.0
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise ValidationError(
            {"styles": "Name each style as an object with name, and optionally version and weight."}
        )
    version = raw.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise ValidationError({"styles": "A style's version is a whole number."})
    weight = raw.get("weight", 1.0)
    if (
        not isinstance(weight, int | float)
        or isinstance(weight, bool)
        or not 0 < weight <= MAX_WEIGHT
    ):
        raise ValidationError(
            {"styles": f"A style's weight is a number above 0 and at most {MAX_WEIGHT:g}."}
        )
    return raw["name"], version, float(weight)


def styles_resolve(*, project: BrandProject, base_model_id: int, wanted) -> list[dict]:
    """The styles a request names, as stored with it (name, version, weight, digest), or a
    ValidationError with a sentence. Only the project's own approved styles count: another
    project's or organisation's style is unknown here, as if it did not exist."""
    if not wanted:
        return []
    if not isinstance(wanted, list | tuple):
        raise ValidationError({"styles": "Give the styles as a list."})
    if len(wanted) > MAX_STYLES:
        raise ValidationError({"styles": f"A request may use at most {MAX_STYLES} styles."})
    chosen: list[dict] = []
    for raw in wanted:
        name, version, weight = _entry(raw)
        candidates = StyleModel.objects.filter(project=project, name=name)
        if version is not None:
            candidates = candidates.filter(version=version)
        style = candidates.filter(status=StyleModel.Status.APPROVED).order_by("-version").first()
        if style is None:
            if candidates.exists():
                raise ValidationError(
                    {"styles": f"The style {name!r} is not approved yet, so it cannot be used."}
                )
            raise ValidationError({"styles": f"This project has no style named {name!r}."})
        if style.base_model_id != base_model_id:
            raise ValidationError(
                {
                    "styles": f"The style {name!r} was trained for the model "
                    f"{style.base_model.name}; choose that model to use it."
                }
            )
        if any(entry["id"] == style.pk for entry in chosen):
            raise ValidationError({"styles": f"The style {name!r} is named twice."})
        chosen.append(
            {
                "id": style.pk,
                "name": style.name,
                "version": style.version,
                "weight": weight,
                "sha256": style.weights_sha256,
            }
        )
    return chosen


def style_weights_local(style: StyleModel) -> Path:
    """A local copy of the style's weights (the storage may be a bucket), checked against
    the digest recorded when it was trained; kept in a cache folder by digest."""
    folder = Path(settings.IMPRIMATUR_STYLE_CACHE_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{style.weights_sha256}.safetensors"
    if path.exists():
        return path
    partial = path.with_suffix(".partial")
    digest = hashlib.sha256()
    with style.weights.open("rb") as source, partial.open("wb") as target:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
            target.write(chunk)
    if digest.hexdigest() != style.weights_sha256:
        partial.unlink(missing_ok=True)
        raise ValueError(f"The weights of style {style} do not match their recorded SHA-256.")
    shutil.move(partial, path)
    return path


def request_adapters(styles: list[dict]) -> tuple:
    """The engine's ``StyleAdapter``s for a request's stored styles."""
    if not styles:
        return ()
    from generation.engine.adapters import StyleAdapter

    adapters = []
    for entry in styles:
        style = StyleModel.objects.get(pk=entry["id"])
        adapters.append(
            StyleAdapter(
                name=f"{style.name}_v{style.version}".replace("-", "_"),
                path=style_weights_local(style),
                weight=entry["weight"],
                sha256=style.weights_sha256,
            )
        )
    return tuple(adapters)
