"""Super-resolution: an ESRGAN-family network (ESRGAN, Real-ESRGAN, its compact variant, and the
other architectures spandrel knows) loaded by spandrel from a local file, run in tiles.

Only a file on disk is read: spandrel recognises the architecture and the scale from the
state dict's keys and shapes, so a checkpoint needs no configuration beside it. A model has one
native scale; a request for another scale runs it as many times as needed and resizes the
last result to the exact size asked (Lanczos), so a 4x network serves 2x too.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

#: The multiplication sign, for names people read.
TIMES = "\u00d7"
#: Factors a request may ask for.
SCALES = (2, 4)
#: Tile side in input pixels: a 4x network's activations for a 256 px tile stay small on a CPU.
TILE = 256
#: Input pixels each tile borrows from its neighbours, so that seams do not show.
TILE_OVERLAP = 16
_MAX_CACHED = 2


class UpscalerError(ValueError):
    """A file that is not a super-resolution network spandrel can load, said in a sentence."""


@dataclass(frozen=True)
class UpscalerInfo:
    path: Path
    architecture: str
    scale: int
    parameters: int
    sha256: str

    @property
    def name(self) -> str:
        return f"{self.architecture} {self.scale}{TIMES} ({self.path.name})"


@dataclass
class _Loaded:
    info: UpscalerInfo
    model: torch.nn.Module
    device: torch.device


_cache: OrderedDict[Path, _Loaded] = OrderedDict()
_lock = threading.Lock()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _load(path: Path) -> _Loaded:
    from spandrel import ImageModelDescriptor, ModelLoader, UnsupportedModelError

    if not path.is_file():
        raise UpscalerError(f"No upscaler file at {path}.")
    try:
        descriptor = ModelLoader().load_from_file(path)
    except UnsupportedModelError as error:
        raise UpscalerError(
            f"{path.name} is not a super-resolution network spandrel recognises: {error}"
        ) from error
    except Exception as error:  # a truncated or foreign file: say so, never a traceback
        raise UpscalerError(f"{path.name} could not be read as model weights: {error}") from error
    if not isinstance(descriptor, ImageModelDescriptor) or descriptor.scale < 2:
        raise UpscalerError(
            f"{path.name} is a {descriptor.architecture.name} network that does not enlarge "
            f"images (scale {getattr(descriptor, 'scale', 1)}); an upscaler must enlarge them "
            "2 times or more."
        )
    if descriptor.input_channels != 3 or descriptor.output_channels != 3:
        raise UpscalerError(f"{path.name} does not take and give RGB images.")
    device = _device()
    descriptor.to(device).eval()
    info = UpscalerInfo(
        path=path,
        architecture=descriptor.architecture.name,
        scale=descriptor.scale,
        parameters=sum(p.numel() for p in descriptor.model.parameters()),
        sha256=_sha256(path),
    )
    return _Loaded(info=info, model=descriptor.model, device=device)


def _loaded(model_path: str | Path) -> _Loaded:
    path = Path(model_path).resolve()
    with _lock:
        if path in _cache:
            _cache.move_to_end(path)
            return _cache[path]
        entry = _load(path)
        _cache[path] = entry
        while len(_cache) > _MAX_CACHED:
            _cache.popitem(last=False)
        return entry


def upscaler_inspect(model_path: str | Path) -> UpscalerInfo:
    """Load (or find loaded) the network at ``model_path``; `UpscalerError` if it is not one."""
    return _loaded(model_path).info


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def _to_tensor(image: Image.Image, device: torch.device) -> torch.Tensor:
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).to(device)


def _to_image(tensor: torch.Tensor) -> Image.Image:
    array = tensor.squeeze(0).clamp(0, 1).permute(1, 2, 0).float().cpu().numpy()
    return Image.fromarray((array * 255.0).round().astype(np.uint8), "RGB")


def _run_tiled(model: torch.nn.Module, source: torch.Tensor, scale: int, tile: int) -> torch.Tensor:
    """Run ``model`` over ``source`` (1x3xHxW) tile by tile; each tile is cut with an overlap
    and only its centre is kept."""
    _, channels, height, width = source.shape
    if height <= tile and width <= tile:
        return model(source)
    out = source.new_zeros((1, channels, height * scale, width * scale))
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            bottom, right = min(top + tile, height), min(left + tile, width)
            pad_top, pad_left = max(top - TILE_OVERLAP, 0), max(left - TILE_OVERLAP, 0)
            pad_bottom = min(bottom + TILE_OVERLAP, height)
            pad_right = min(right + TILE_OVERLAP, width)
            result = model(source[:, :, pad_top:pad_bottom, pad_left:pad_right])
            y0, x0 = (top - pad_top) * scale, (left - pad_left) * scale
            y1, x1 = y0 + (bottom - top) * scale, x0 + (right - left) * scale
            out[:, :, top * scale : bottom * scale, left * scale : right * scale] = result[
                :, :, y0:y1, x0:x1
            ]
    return out


def passes_for(native: int, scale: int) -> int:
    """How many runs of a ``native``x network reach at least ``scale``x."""
    return max(1, math.ceil(math.log(scale) / math.log(native) - 1e-9))


def upscale(
    image: Image.Image, *, model_path: str | Path, scale: int, tile: int = TILE
) -> Image.Image:
    """``image`` enlarged ``scale`` times by the network at ``model_path``."""
    if scale not in SCALES:
        raise UpscalerError(f"The upscaling factor must be one of {SCALES}, not {scale}.")
    entry = _loaded(model_path)
    target = (image.width * scale, image.height * scale)
    tensor = _to_tensor(image, entry.device)
    with _lock, torch.inference_mode():  # the network is shared: runs take turns
        for _ in range(passes_for(entry.info.scale, scale)):
            tensor = _run_tiled(entry.model, tensor, entry.info.scale, tile)
    result = _to_image(tensor)
    if result.size != target:
        result = result.resize(target, Image.Resampling.LANCZOS)
    return result
