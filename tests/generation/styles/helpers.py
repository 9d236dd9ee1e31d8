"""Shared builders for the styles tests: real PNG images and styles written through the
services (a trained style's weights are real files made by training, in test_training)."""

import io

from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image, ImageDraw

from generation.styles import services
from generation.styles.models import StyleModel


def png(index: int, size: int = 64) -> bytes:
    """A distinct image: a coloured square with a thick white outline."""
    image = Image.new("RGB", (size, size), (20 + 9 * index % 200, 40, 120 + 5 * index % 100))
    ImageDraw.Draw(image).rectangle([12, 12, size - 12, size - 12], outline="white", width=5)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def training_set(count: int = 10, *, owner: str = "Acme Ltd", licence: str = "Owned") -> list:
    return [
        {"file": png(index), "owner": owner, "licence": licence, "caption": "a brand square"}
        for index in range(count)
    ]


def style_create(tenant, name: str = "outline", **config) -> StyleModel:
    return services.style_create(
        project=tenant.project,
        user=tenant.users["admin"],
        name=name,
        images=training_set(),
        attest=True,
        config={"steps": 4, "batch_size": 2, **config},
    )


def approved_style(tenant, name: str = "outline", weights: bytes = b"weights") -> StyleModel:
    """A style set to approved straight in the database, with stand-in weights (not a real
    adapter: for tests of who may name it, never run through a pipeline)."""
    import hashlib

    style = style_create(tenant, name=name)
    style.weights.save(f"{name}.safetensors", ContentFile(weights), save=False)
    style.weights_sha256 = hashlib.sha256(weights).hexdigest()
    style.status = StyleModel.Status.APPROVED
    style.trained_at = timezone.now()
    style.save()
    return style
