"""Validate and decode user-uploaded images (init images and masks) safely.

Why: uploads are untrusted bytes. The type is decided by content (magic numbers), never by file
name; the size in bytes and the pixel dimensions are checked from the header before any pixel is
decoded, so a small file that would decompress to gigabytes (a decompression bomb) is refused
cheaply; damaged files are refused with a message a user can act on; and metadata (EXIF, ICC,
text chunks), which can leak location or carry junk, is dropped.
"""

from __future__ import annotations

import io
import struct
from typing import Literal

import numpy as np
from PIL import Image, ImageFile, ImageOps, JpegImagePlugin, PngImagePlugin, WebPImagePlugin

#: Upload limits: 10 MB and 4096 pixels a side (16.8 megapixels).
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_UPLOAD_SIDE = 4096
MAX_UPLOAD_PIXELS = MAX_UPLOAD_SIDE * MAX_UPLOAD_SIDE

_TIMES = "\N{MULTIPLICATION SIGN}"
_MB = 1024 * 1024
_NOT_AN_IMAGE = "not a PNG, JPEG or WebP image"
_DAMAGED = "the image file is damaged or truncated"
# The only decoders uploads may reach, each constructed directly so no other plugin is tried.
_PLUGINS: dict[str, type[ImageFile.ImageFile]] = {
    "PNG": PngImagePlugin.PngImageFile,
    "JPEG": JpegImagePlugin.JpegImageFile,
    "WEBP": WebPImagePlugin.WebPImageFile,
}
# Errors Pillow raises for malformed or truncated data while parsing or decoding.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, TypeError)


class InvalidImage(ValueError):
    """An uploaded image was refused; the message says why, in words a user understands."""


def sniff_image_format(data: bytes) -> str | None:
    """Return ``"PNG"``, ``"JPEG"`` or ``"WEBP"`` from the magic numbers, else ``None``."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def load_upload(
    data: bytes,
    *,
    max_bytes: int = MAX_UPLOAD_BYTES,
    max_pixels: int = MAX_UPLOAD_PIXELS,
    max_side: int = MAX_UPLOAD_SIDE,
    mode: Literal["RGB", "L"] = "RGB",
) -> Image.Image:
    """Decode an uploaded PNG, JPEG or WebP into a metadata-free ``mode`` image, or refuse it.

    Checks, in order: byte size, type by content, header dimensions (before decoding), full
    decode. Applies the EXIF orientation. Transparency is flattened onto white for ``"RGB"``
    (init images) and onto black ("keep") for ``"L"`` (masks). Only the first frame of an
    animated image is used. Raises ``InvalidImage``.
    """
    if mode not in ("RGB", "L"):
        raise ValueError(f"mode must be 'RGB' or 'L', got {mode!r}")
    if not data:
        raise InvalidImage("the file is empty")
    if len(data) > max_bytes:
        raise InvalidImage(f"file is {_megabytes(len(data))}; the limit is {_megabytes(max_bytes)}")
    image_format = sniff_image_format(data)
    if image_format is None:
        raise InvalidImage(_NOT_AN_IMAGE)
    try:
        # Reads the header only: size and mode are known, no pixel has been decoded yet.
        image = _PLUGINS[image_format](io.BytesIO(data))
    except Image.DecompressionBombError as error:
        raise InvalidImage(f"image is too large to decode ({error})") from error
    except _DECODE_ERRORS as error:
        raise InvalidImage(_DAMAGED) from error
    _check_dimensions(*image.size, max_pixels=max_pixels, max_side=max_side)
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise InvalidImage(f"image is too large to decode ({error})") from error
    except _DECODE_ERRORS as error:
        raise InvalidImage(_DAMAGED) from error
    flat = _flatten(image, mode)
    # A fresh image from raw pixels carries no EXIF, ICC profile, text chunks or other info.
    return Image.frombytes(flat.mode, flat.size, flat.tobytes())


def _check_dimensions(width: int, height: int, *, max_pixels: int, max_side: int) -> None:
    """Refuse images whose header declares more pixels than the limits allow."""
    if width < 1 or height < 1:
        raise InvalidImage(_DAMAGED)
    if width > max_side or height > max_side:
        raise InvalidImage(
            f"image is {width}{_TIMES}{height} pixels; the limit is {max_side}{_TIMES}{max_side}"
        )
    if width * height > max_pixels:
        raise InvalidImage(
            f"image is {width}{_TIMES}{height} pixels ({width * height / 1e6:.1f} megapixels); "
            f"the limit is {max_pixels / 1e6:.1f} megapixels"
        )


def _flatten(image: Image.Image, mode: str) -> Image.Image:
    """Convert to 8-bit ``mode``, compositing any transparency onto white (RGB) or black (L)."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L"):  # 16-bit grey PNG: keep the high byte
        high = np.clip(np.asarray(image).astype(np.int64) >> 8, 0, 255).astype(np.uint8)
        image = Image.fromarray(high)  # 2-D uint8: mode L
    # Alpha channels, and palette or grey images with a transparent colour (tRNS).
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    if has_alpha:
        background = (255, 255, 255, 255) if mode == "RGB" else (0, 0, 0, 255)
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, background), rgba)
    return image.convert(mode)


def _megabytes(size: int) -> str:
    """``12.3 MB``, ``10 MB`` if whole, ``512 KB`` below 0.1 MB, ``200 bytes`` below 1 KB."""
    if size < 1024:
        return f"{size} bytes"
    if size < _MB // 10:
        return f"{size / 1024:.0f} KB"
    value = size / _MB
    return f"{value:g} MB" if value == int(value) else f"{value:.1f} MB"
