"""Put style adapters (LoRA) on the warm base pipeline, and take them off, without reloading it.

Why: a request may name approved brand styles with weights. Loading a base model takes seconds
to minutes; loading a LoRA adapter onto it takes milliseconds. So the worker keeps the base
pipeline warm and switches adapters on it: each adapter is loaded once (after its SHA-256 is
checked against the approved one, on the very bytes that are loaded), kept warm for the next
request, and only the active set and weights change between requests. With no styles the
adapters are switched off and the base model runs unchanged. A few adapters stay loaded per
model (least recently used ones are deleted), so a worker serving many brands does not grow.

The adapters live on the pipeline's modules (UNet, text encoder), which the image-to-image and
inpainting pipelines derived from the base share (``pipelines._derive``), so one load serves
every mode, and ``adapters_apply`` on any of them acts on all of them.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_KEEP_WARM",
    "AdapterError",
    "StyleAdapter",
    "adapters_apply",
    "loaded_adapters",
]

logger = logging.getLogger(__name__)

#: Adapters kept loaded per model by default.
DEFAULT_KEEP_WARM = 4
#: Names peft and diffusers accept as adapter names (no dots: they would read as module paths).
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


class AdapterError(ValueError):
    """An adapter cannot be used: bad name, missing file, or not the approved weights."""


@dataclass(frozen=True)
class StyleAdapter:
    """One style to apply: a unique name (per version), its weights file, weight and digest."""

    #: Unique key, e.g. "style-12-v3"; letters, digits, "-" and "_".
    name: str
    #: The ``.safetensors`` file in diffusers' LoRA format.
    path: Path
    #: How strongly it applies (1.0: as trained; 0: not at all).
    weight: float
    #: SHA-256 (hex) of the file as approved; the file is refused if it differs.
    sha256: str

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise AdapterError(
                f"style adapter name {self.name!r} must be 1 to 100 letters, digits, '-' or '_'"
            )
        if not -10.0 <= self.weight <= 10.0:  # also false for NaN
            raise AdapterError(f"style adapter weight must be within ±10, got {self.weight}")


# Per denoiser (the UNet, shared by every pipeline derived from one base): name -> sha256 of the
# adapters loaded on it, least recently used first. Weak: an evicted model takes its record along.
_loaded: weakref.WeakKeyDictionary[Any, OrderedDict[str, str]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _denoiser(pipeline: Any) -> Any:
    denoiser = getattr(pipeline, "unet", None) or getattr(pipeline, "transformer", None)
    if denoiser is None or not hasattr(pipeline, "load_lora_weights"):
        raise AdapterError(f"{type(pipeline).__name__} cannot take style adapters")
    return denoiser


def loaded_adapters(pipeline: Any) -> list[str]:
    """Names of the adapters loaded on ``pipeline``'s model, least recently used first."""
    with _lock:
        return list(_loaded.get(_denoiser(pipeline), {}))


def _verified_state_dict(adapter: StyleAdapter) -> dict[str, Any]:
    """The adapter's tensors, read once from disk and checked against its SHA-256."""
    from safetensors.torch import load as load_safetensors

    path = Path(adapter.path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise AdapterError(f"style adapter {adapter.name}: cannot read {path}: {error}") from error
    digest = hashlib.sha256(data).hexdigest()
    if digest != adapter.sha256.lower():
        raise AdapterError(
            f"style adapter {adapter.name}: {path} does not match its approved SHA-256 "
            f"(expected {adapter.sha256}, found {digest}); it was not loaded"
        )
    try:
        return load_safetensors(data)
    except Exception as error:  # safetensors raises its own error types
        raise AdapterError(
            f"style adapter {adapter.name}: {path} is not a safetensors file: {error}"
        ) from error


def _delete(pipeline: Any, names: list[str], record: OrderedDict[str, str]) -> None:
    if names:
        pipeline.delete_adapters(names)
        for name in names:
            record.pop(name, None)
        logger.info("Unloaded style adapters %s", ", ".join(names))


def adapters_apply(
    pipeline: Any, adapters: Sequence[StyleAdapter], *, keep_warm: int = DEFAULT_KEEP_WARM
) -> None:
    """Make exactly ``adapters`` (with their weights) active on ``pipeline``; none: the base.

    Loads each adapter not yet loaded on the pipeline's model after checking its SHA-256,
    activates them with their weights, and deletes the least recently used others beyond
    ``keep_warm`` (at least as many as are asked for stay). The base model is never reloaded.
    Callers must not run the pipeline (or one sharing its modules) meanwhile. Raises
    ``AdapterError`` (a ValueError) for a file that is missing, not safetensors, or not the
    approved weights, and for two adapters of one name.
    """
    adapters = list(adapters)
    names = [adapter.name for adapter in adapters]
    if len(set(names)) != len(names):
        raise AdapterError(f"each style may be applied once; got {', '.join(names)}")
    if not adapters and not hasattr(pipeline, "load_lora_weights"):
        return  # a family without LoRA support (PixArt) runs its base model: nothing to undo
    denoiser = _denoiser(pipeline)
    with _lock:
        record = _loaded.setdefault(denoiser, OrderedDict())
        for adapter in adapters:
            known = record.get(adapter.name)
            if known is not None and known == adapter.sha256.lower():
                record.move_to_end(adapter.name)
                continue
            state = _verified_state_dict(adapter)
            if known is not None:  # same name, other weights: replace them
                _delete(pipeline, [adapter.name], record)
            pipeline.load_lora_weights(state, adapter_name=adapter.name)
            record[adapter.name] = adapter.sha256.lower()
            logger.info("Loaded style adapter %s from %s", adapter.name, adapter.path)
        spare = max(keep_warm, len(adapters))
        stale = [name for name in record if name not in names][: max(0, len(record) - spare)]
        _delete(pipeline, stale, record)
        if not adapters:
            if record:
                pipeline.disable_lora()
            return
        pipeline.enable_lora()
        pipeline.set_adapters(names, adapter_weights=[float(a.weight) for a in adapters])
