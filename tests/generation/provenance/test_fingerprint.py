"""Re-identifying a stripped, re-encoded image by watermark and perceptual hash."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from generation.provenance import sign_generated, verify
from generation.provenance.fingerprint import (
    embed_watermark,
    hash_distance,
    match_perceptual_hash,
    perceptual_hash,
    read_watermark,
    watermark_id_for,
)

from .conftest import make_claim, png_bytes, textured_image


def _jpeg(im: Image.Image, quality: int = 85) -> Image.Image:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue()))


def test_stripped_jpeg_copy_is_reidentified(image_512, signer):
    wid = watermark_id_for("asset-7")
    marked, embedded = embed_watermark(image_512, wid)
    assert embedded
    signed = sign_generated(png_bytes(marked), signer=signer, claim=make_claim())
    stored_hash = perceptual_hash(marked)

    copy = _jpeg(Image.open(io.BytesIO(signed)))  # metadata gone, pixels re-encoded
    buf = io.BytesIO()
    copy.save(buf, "JPEG", quality=95)
    assert verify(buf.getvalue()).manifest_present is False

    assert read_watermark(copy) == wid
    others = {f"other-{i}": perceptual_hash(textured_image(512, seed=100 + i)) for i in range(20)}
    candidates = {"asset-7": stored_hash, **others}
    assert hash_distance(perceptual_hash(copy), stored_hash) <= 4
    assert match_perceptual_hash(perceptual_hash(copy), candidates) == "asset-7"


def test_unmarked_image_reads_no_watermark(image_512):
    assert read_watermark(_jpeg(image_512)) is None


def test_small_images_get_no_watermark_but_a_hash(image_64):
    marked, embedded = embed_watermark(image_64, watermark_id_for("asset-8"))
    assert embedded is False and marked is image_64
    assert read_watermark(image_64) is None
    assert len(perceptual_hash(image_64)) == 16


def test_unrelated_images_do_not_match():
    a = perceptual_hash(textured_image(512, seed=7))
    b = perceptual_hash(textured_image(512, seed=8))
    assert hash_distance(a, b) > 10
    assert match_perceptual_hash(a, {"b": b}) is None


def test_watermark_id_must_be_48_bits(image_512):
    with pytest.raises(ValueError, match="12 hex"):
        embed_watermark(image_512, "abc")
