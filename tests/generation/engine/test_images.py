"""Tests for upload validation, with real images encoded in memory by Pillow."""

from __future__ import annotations

import io
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw

from generation.engine.images import InvalidImage, load_upload, sniff_image_format

NOT_AN_IMAGE = "not a PNG, JPEG or WebP image"
DAMAGED = "the image file is damaged or truncated"
X = "\N{MULTIPLICATION SIGN}"


def _encode(image: Image.Image, image_format: str, **options: object) -> bytes:
    """``image`` saved as ``image_format`` into bytes."""
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def _picture(width: int = 64, height: int = 48) -> Image.Image:
    """A drawn RGB picture: a sky, a sun and a field, so formats have edges to encode."""
    image = Image.new("RGB", (width, height), (90, 150, 230))
    draw = ImageDraw.Draw(image)
    draw.ellipse((8, 6, 24, 22), fill=(250, 220, 40))
    draw.rectangle((0, height * 2 // 3, width, height), fill=(40, 160, 60))
    return image


def _noise(size: int = 128) -> Image.Image:
    """Incompressible pixels, so a file cut in half loses image data."""
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


def _png_claiming(width: int, height: int) -> bytes:
    """A valid 2x2 PNG whose IHDR is rewritten to claim ``width`` x ``height``, CRC fixed."""
    data = bytearray(_encode(Image.new("RGB", (2, 2), (255, 0, 0)), "PNG"))
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))  # CRC of type + IHDR data
    return bytes(data)


@pytest.mark.parametrize(
    ("image_format", "options", "lossless"),
    [("PNG", {}, True), ("JPEG", {"quality": 95}, False), ("WEBP", {"lossless": True}, True)],
)
def test_accepts_png_jpeg_and_webp(image_format: str, options: dict, lossless: bool) -> None:
    picture = _picture()
    data = _encode(picture, image_format, **options)
    assert sniff_image_format(data) == image_format
    image = load_upload(data)
    assert (image.size, image.mode, image.info) == ((64, 48), "RGB", {})
    diff = np.abs(np.asarray(image, np.int16) - np.asarray(picture, np.int16))
    assert diff.max() == 0 if lossless else diff.mean() < 8


@pytest.mark.parametrize(
    "data",
    [
        _encode(_picture(), "GIF"),
        _encode(_picture(), "BMP"),
        _encode(_picture(), "TIFF"),
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>',
        b"<!DOCTYPE html><html><body><img src=x onerror=alert(1)></body></html>",  # "photo.png"
        np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        b"RIFF\x00\x00\x00\x00WAVEfmt ",  # RIFF, but audio
    ],
    ids=["gif", "bmp", "tiff", "svg", "html", "random", "wav"],
)
def test_refuses_everything_else_by_content(data: bytes) -> None:
    with pytest.raises(InvalidImage, match=NOT_AN_IMAGE):
        load_upload(data)


def test_refuses_empty_and_oversized_files() -> None:
    with pytest.raises(InvalidImage, match="the file is empty"):
        load_upload(b"")
    png = _encode(_picture(), "PNG")
    padded = png + b"\0" * (int(12.3 * 1024 * 1024) - len(png))
    with pytest.raises(InvalidImage) as caught:
        load_upload(padded)
    assert str(caught.value) == "file is 12.3 MB; the limit is 10 MB"
    with pytest.raises(InvalidImage, match=f"file is {len(png)} bytes; the limit is 200 bytes"):
        load_upload(png, max_bytes=200)


def test_refuses_a_decompression_bomb_from_its_header() -> None:
    """A 2x2 PNG that claims 30000x30000: refused on its header, nothing is decoded.

    Decoding would fail as damaged (there are 4 pixels of data), so the size message proves
    the header was checked first; Pillow's own ``Image.open`` calls it a decompression bomb.
    """
    bomb = _png_claiming(30000, 30000)
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(bomb))
    started = time.perf_counter()
    with pytest.raises(InvalidImage) as caught:
        load_upload(bomb)
    assert time.perf_counter() - started < 0.5
    assert str(caught.value) == f"image is 30000{X}30000 pixels; the limit is 4096{X}4096"
    with pytest.raises(InvalidImage, match=DAMAGED):
        load_upload(_png_claiming(64, 64))  # same file, plausible size: decoding finds the lie


def test_refuses_images_over_the_side_or_pixel_limits() -> None:
    wide = _encode(Image.new("RGB", (5000, 8)), "PNG")
    with pytest.raises(InvalidImage, match=f"image is 5000{X}8 pixels; the limit is 4096{X}4096"):
        load_upload(wide)
    square = _encode(Image.new("RGB", (100, 100)), "JPEG")
    with pytest.raises(InvalidImage, match=r"\(0\.0 megapixels\); the limit is 0\.0 megapixels"):
        load_upload(square, max_pixels=5000)
    assert load_upload(square, max_pixels=10_000, max_side=100).size == (100, 100)


@pytest.mark.parametrize("image_format", ["PNG", "JPEG", "WEBP"])
def test_refuses_truncated_files(image_format: str) -> None:
    data = _encode(_noise(), image_format)
    for cut in (len(data) // 2, 40):
        with pytest.raises(InvalidImage, match=DAMAGED):
            load_upload(data[:cut])


def test_refuses_a_png_with_a_corrupted_chunk() -> None:
    data = bytearray(_encode(_noise(), "PNG"))
    data[len(data) // 2] ^= 0xFF  # inside IDAT: its CRC no longer matches
    with pytest.raises(InvalidImage, match=DAMAGED):
        load_upload(bytes(data))


def test_applies_exif_orientation_and_drops_metadata() -> None:
    """Orientation 6: the camera was turned, the viewer rotates 90 degrees clockwise."""
    stored = Image.new("RGB", (40, 20), (220, 20, 20))
    ImageDraw.Draw(stored).rectangle((20, 0, 39, 19), fill=(20, 20, 220))  # right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation
    exif[0x010F] = "Imprimatur Test Camera"  # Make
    data = _encode(stored, "JPEG", quality=95, exif=exif.tobytes(), comment=b"hello")
    image = load_upload(data)
    assert image.size == (20, 40)
    top, bottom = image.getpixel((10, 5)), image.getpixel((10, 35))
    assert top[0] > 150 and top[2] < 100  # the left (red) half is now on top
    assert bottom[2] > 150 and bottom[0] < 100
    assert image.info == {} and len(image.getexif()) == 0


def test_masks_are_grey_and_transparency_is_flattened() -> None:
    """Transparent areas become white in init images and black ("keep") in masks."""
    painted = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    ImageDraw.Draw(painted).rectangle((8, 8, 23, 23), fill=(255, 255, 255, 255))
    data = _encode(painted, "PNG")
    mask = load_upload(data, mode="L")
    assert mask.mode == "L"
    assert (mask.getpixel((0, 0)), mask.getpixel((16, 16))) == (0, 255)
    init = load_upload(data)
    assert (init.mode, init.getpixel((0, 0))) == ("RGB", (255, 255, 255))


def test_sixteen_bit_grey_png_keeps_its_tones() -> None:
    grey = Image.fromarray(np.array([[0, 32768, 65535]], dtype=np.uint16))
    assert grey.mode == "I;16"
    image = load_upload(_encode(grey, "PNG"), mode="L")
    assert [image.getpixel((x, 0)) for x in range(3)] == [0, 128, 255]
