"""Fixtures: a development PKI (made once per session) and procedurally drawn images."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from generation.provenance import GenerationClaim, create_development_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    return create_development_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def signer(pki):
    return pki.signer()


@pytest.fixture(scope="session")
def anchors(pki) -> bytes:
    return pki.trust_anchors_pem()


def textured_image(size: int, seed: int = 0) -> Image.Image:
    """Smooth colour gradients, a few shapes and mild noise: photo-like enough for the
    watermark and the perceptual hash to behave as on real generations."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    base = np.stack(
        [
            128 + 90 * np.sin(2 * np.pi * (x * rng.uniform(0.5, 2) + rng.uniform())),
            128 + 90 * np.cos(2 * np.pi * (y * rng.uniform(0.5, 2) + rng.uniform())),
            128 + 60 * np.sin(2 * np.pi * (x + y) * rng.uniform(0.5, 2)),
        ],
        axis=-1,
    )
    base += rng.normal(0, 12, base.shape)
    im = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(im)
    for _ in range(4):
        x0, y0 = rng.integers(0, size * 3 // 4, 2)
        w = int(rng.integers(size // 8, size // 3))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.ellipse((int(x0), int(y0), int(x0) + w, int(y0) + w), fill=colour)
    return im


def png_bytes(im: Image.Image, **kwargs) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG", **kwargs)
    return buf.getvalue()


@pytest.fixture(scope="session")
def image_512() -> Image.Image:
    return textured_image(512, seed=1)


@pytest.fixture(scope="session")
def image_64() -> Image.Image:
    return textured_image(64, seed=2)


def make_claim(**overrides) -> GenerationClaim:
    fields = dict(
        request_id="req-42",
        project="spring-campaign",
        model="tiny-sd",
        model_version="1.0",
        checkpoint_sha256="ab" * 32,
        prompt="a red circle on a navy background",
        negative_prompt="blurry",
        scheduler="DDIMScheduler",
        steps=10,
        guidance_scale=7.5,
        seed=1234,
        width=512,
        height=512,
        policy_versions={"prompt_policy": 3},
        decision="allow",
        checks={"safety": {"passed": True, "score": 0.01}, "brand": {"passed": True}},
        asset_id="asset-7",
    )
    fields.update(overrides)
    return GenerationClaim(**fields)
