"""Describe a model on disk (format, pipeline, modes, size, weights) without loading its weights.

Why: the platform must validate a model path, show what it can do and record a digest of its
weights for provenance, cheaply and safely, before (and without) a worker loading it. This module
reads only JSON configs and safetensors headers; it imports neither torch nor diffusers, except
that a pipeline class outside Stable Diffusion 1.x/2.x and SDXL is looked up in diffusers'
AutoPipeline tables (which does import them).
"""

from __future__ import annotations

import functools
import hashlib
import json
import struct
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from generation.engine.families import (
    FAMILIES,
    Family,
    family_of,
    family_problem,
    is_sdxl_refiner,
    prompt_tokenizer,
)

#: Generation modes. Every supported model can do at least one of them.
TEXT_TO_IMAGE = "text-to-image"
IMAGE_TO_IMAGE = "image-to-image"
INPAINTING = "inpainting"
MODES: tuple[str, ...] = (TEXT_TO_IMAGE, IMAGE_TO_IMAGE, INPAINTING)

DIFFUSERS = "diffusers"
SINGLE_FILE = "single-file"

#: Pipeline classes of the families this platform targets, per mode, as in diffusers'
#: AutoPipeline tables (a test keeps the two in step); the families are in ``families.py``.
KNOWN_PIPELINES: dict[str, dict[str, str]] = {
    family.name: dict(family.pipelines) for family in FAMILIES.values()
}

#: Components the engine never loads (it passes ``safety_checker=None``), so they may be absent.
_OPTIONAL_COMPONENTS = frozenset({"safety_checker"})
_WEIGHT_SUFFIXES = (".safetensors", ".bin")
#: The safetensors format itself refuses headers above 100 MB.
_MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024
_PICKLE_SUFFIXES = frozenset({".ckpt", ".pt", ".pth", ".bin", ".pkl"})
_HASH_CHUNK = 1024 * 1024
_SDXL_REFINER = "StableDiffusionXLImg2ImgPipeline"
#: A latent channel count of 9 (4 noisy + 4 masked-image + 1 mask) means a dedicated inpainting
#: UNet, which cannot run text-to-image or image-to-image.
_INPAINTING_UNET_CHANNELS = 9


class ModelNotFoundError(ValueError):
    """The model path is missing or is not a usable diffusers directory or safetensors file."""


class ModeNotSupportedError(ValueError):
    """The model cannot run the requested generation mode."""


@dataclass(frozen=True)
class ModelInfo:
    """What a model on disk is and can do, read from its configs and headers only."""

    path: Path
    format: str
    pipeline_class: str | None
    capabilities: frozenset[str]
    default_size: tuple[int, int] | None
    scheduler_class: str | None
    weights_bytes: int
    checkpoint_sha256: str | None = None
    #: The family (``families.FAMILIES`` key), None for a pipeline outside them.
    family: str | None = None
    #: The tokenizer component that bounds a prompt, its encoder kind and the tokens it reads.
    prompt_tokenizer: str | None = None
    prompt_encoder: str | None = None
    prompt_tokens: int | None = None
    #: Widths and heights must be multiples of this many pixels.
    size_multiple: int = 8

    @property
    def family_label(self) -> str:
        """The family's name for people (the pipeline class outside the known families)."""
        if self.family in FAMILIES:
            return FAMILIES[self.family].label
        return self.pipeline_class or "Unknown pipeline"

    @property
    def flow_matching(self) -> bool:
        """Whether the model's family was trained with flow matching (SD3, Flux)."""
        family = FAMILIES.get(self.family or "")
        return bool(family and family.flow_matching)

    @property
    def schedulers(self) -> tuple[str, ...]:
        """Scheduler classes the catalog may offer for this model (besides its own)."""
        family = FAMILIES.get(self.family or "")
        return family.schedulers if family else ()

    def require(self, mode: str) -> None:
        """Raise ``ModeNotSupportedError`` unless this model can run ``mode``."""
        if mode not in MODES:
            raise ValueError(f"Unknown generation mode {mode!r}; expected one of {MODES}")
        if mode not in self.capabilities:
            supported = ", ".join(m for m in MODES if m in self.capabilities) or "nothing"
            raise ModeNotSupportedError(
                f"Model {self.path} ({self.pipeline_class or 'unknown pipeline'}) cannot do "
                f"{mode}; it supports: {supported}"
            )


def resolve_model_path(model_path: str | Path) -> Path:
    """Return the absolute, symlink-free model path, or raise ``ModelNotFoundError``.

    Accepts a diffusers directory (must hold ``model_index.json``) or a regular file; the file's
    contents are checked by ``inspect_model``.
    """
    path = Path(model_path).expanduser().resolve()
    if not path.exists():
        raise ModelNotFoundError(f"Model path does not exist: {path}")
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise ModelNotFoundError(f"Not a diffusers pipeline (no model_index.json): {path}")
    elif not path.is_file():
        raise ModelNotFoundError(f"Model path is neither a directory nor a regular file: {path}")
    return path


def inspect_model(
    model_path: str | Path,
    *,
    single_file_config: str | Path | None = None,
    with_digest: bool = False,
) -> ModelInfo:
    """Describe the model at ``model_path`` without loading weights.

    ``single_file_config`` is the local diffusers directory whose configs a single-file
    checkpoint is loaded with; when given, pipeline class, scheduler and default size come from
    it. ``with_digest`` also hashes every weight file (slow for large models).
    Raises ``ModelNotFoundError`` naming the problem.
    """
    path = resolve_model_path(model_path)
    if path.is_dir():
        info = _inspect_directory(path)
    else:
        info = _inspect_single_file(path, single_file_config)
    if with_digest:
        info = replace(info, checkpoint_sha256=checkpoint_digest(path))
    return info


def checkpoint_digest(model_path: str | Path) -> str:
    """Return a SHA-256 hex digest of a model's weights, streaming, for provenance.

    A single file hashes exactly as ``sha256sum`` does. A directory hashes each weight file of
    its components in sorted path order, each preceded by its relative path and byte length, so
    renaming or moving weights between components changes the digest.
    """
    path = resolve_model_path(model_path)
    digest = hashlib.sha256()
    if path.is_file():
        _hash_file(path, digest)
        return digest.hexdigest()
    index = _read_json(path / "model_index.json", what="model_index.json")
    for weight in _weight_files(path, _component_names(index)):
        relative = weight.relative_to(path).as_posix().encode("utf-8")
        digest.update(struct.pack("<Q", len(relative)) + relative)
        digest.update(struct.pack("<Q", weight.stat().st_size))
        _hash_file(weight, digest)
    return digest.hexdigest()


def read_safetensors_header(path: Path) -> dict[str, Any]:
    """Return the JSON header of a safetensors file (tensor names, dtypes, shapes, offsets).

    Reads the 8-byte little-endian header length and the header only, never tensor data, and
    checks that every tensor lies inside the file, so a truncated download is caught here.
    """
    size = path.stat().st_size
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise ModelNotFoundError(f"{path} is too short to be a safetensors file")
        (header_length,) = struct.unpack("<Q", prefix)
        if header_length == 0 or header_length > min(_MAX_SAFETENSORS_HEADER, size - 8):
            raise ModelNotFoundError(
                f"{path} is not a safetensors file (header length {header_length} is impossible "
                f"for a {size}-byte file)"
            )
        raw = handle.read(header_length)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelNotFoundError(f"{path} has an unreadable safetensors header: {error}") from error
    if not isinstance(header, dict):
        raise ModelNotFoundError(f"{path} has an unreadable safetensors header: not a JSON object")
    data_length = size - 8 - header_length
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            start, end = entry["data_offsets"]
            shape = [int(n) for n in entry["shape"]]
        except (KeyError, TypeError, ValueError) as error:
            raise ModelNotFoundError(
                f"{path} has an unreadable safetensors header: bad entry for {name!r}"
            ) from error
        if not 0 <= start <= end <= data_length or any(n < 0 for n in shape):
            raise ModelNotFoundError(
                f"{path} is truncated or corrupt: tensor {name!r} lies outside the file's "
                f"{data_length} data bytes"
            )
    return header


def _inspect_directory(path: Path) -> ModelInfo:
    """Validate a diffusers pipeline directory and read what it declares."""
    index = _read_index(path)
    class_name = index["_class_name"]
    family = family_of(class_name)
    if family is not None and (problem := family_problem(path, index, family)):
        raise ModelNotFoundError(problem)
    index, components = _read_pipeline_layout(path, require_weights=True)
    denoiser = _read_denoiser_config(path, components)
    weights = _weight_files(path, components)
    for weight in weights:
        if weight.suffix == ".safetensors":
            read_safetensors_header(weight)  # a truncated download fails here, not in a worker
    return ModelInfo(
        path=path,
        format=DIFFUSERS,
        pipeline_class=class_name,
        capabilities=_capabilities(class_name, index, denoiser.get("in_channels")),
        default_size=_default_size(path, components, denoiser, family),
        scheduler_class=_scheduler_class(path, components),
        weights_bytes=sum(w.stat().st_size for w in weights),
        **_family_fields(path, family, components, denoiser),
    )


def _family_fields(
    path: Path, family: Family | None, components: list[str], denoiser: dict[str, Any]
) -> dict[str, Any]:
    """ModelInfo's family fields: name, prompt limit, size multiple."""
    if family is None:
        return {}
    tokenizer, encoder, tokens = prompt_tokenizer(family, components)
    vae_scale = _vae_scale(path, components) or 8
    patch = denoiser.get("patch_size") if "transformer" in components else None
    multiple = vae_scale * (patch if isinstance(patch, int) and patch > 0 else 1)
    multiple *= family.size_multiple_of_vae
    return {
        "family": family.name,
        "prompt_tokenizer": tokenizer,
        "prompt_encoder": encoder,
        "prompt_tokens": tokens,
        "size_multiple": max(multiple, 8),
    }


def _inspect_single_file(path: Path, single_file_config: str | Path | None) -> ModelInfo:
    """Validate a single-file checkpoint from its safetensors header (plus its configs, if any)."""
    suffix = path.suffix.lower()
    if suffix != ".safetensors":
        if suffix in _PICKLE_SUFFIXES:
            raise ModelNotFoundError(
                f"{path}: only .safetensors single-file checkpoints are accepted; {suffix} files "
                "are Python pickles that can run code when loaded"
            )
        raise ModelNotFoundError(
            f"{path} is neither a diffusers directory nor a .safetensors checkpoint"
        )
    header = read_safetensors_header(path)
    first_conv = header.get("model.diffusion_model.input_blocks.0.0.weight", {}).get("shape")
    in_channels = first_conv[1] if isinstance(first_conv, list) and len(first_conv) == 4 else None
    if single_file_config is not None:
        config_dir = resolve_single_file_config(single_file_config)
        index, components = _read_pipeline_layout(config_dir, require_weights=False)
        class_name: str | None = index["_class_name"]
        denoiser = _read_denoiser_config(config_dir, components)
        capabilities = _capabilities(class_name, index, in_channels or denoiser.get("in_channels"))
        default_size = _default_size(config_dir, components, denoiser)
        scheduler = _scheduler_class(config_dir, components)
    else:
        class_name, default_side = _guess_single_file_pipeline(header, in_channels)
        refiner = {"requires_aesthetics_score": class_name == _SDXL_REFINER}
        capabilities = (
            _capabilities(class_name, refiner, in_channels) if class_name else frozenset()
        )
        default_size = (default_side, default_side) if default_side else None
        scheduler = None
    return ModelInfo(
        path=path,
        format=SINGLE_FILE,
        pipeline_class=class_name,
        capabilities=capabilities,
        default_size=default_size,
        scheduler_class=scheduler,
        weights_bytes=path.stat().st_size,
        **_single_file_family(class_name),
    )


def _single_file_family(class_name: str | None) -> dict[str, Any]:
    """Family fields for a single file (SD 1.x/2.x or SDXL: CLIP prompt limits)."""
    family = family_of(class_name)
    if family is None:
        return {}
    return {
        "family": family.name,
        "prompt_tokenizer": family.prompt_tokenizer,
        "prompt_encoder": family.encoder,
        "prompt_tokens": family.prompt_tokens,
    }


def resolve_single_file_config(config_dir: str | Path) -> Path:
    """Return the resolved diffusers config directory for a single-file checkpoint, validated.

    It needs ``model_index.json`` and each component's configs; weights are not needed.
    """
    path = Path(config_dir).expanduser().resolve()
    if not path.is_dir() or not (path / "model_index.json").is_file():
        raise ModelNotFoundError(
            f"Single-file config {path} is not a diffusers directory with model_index.json"
        )
    _read_pipeline_layout(path, require_weights=False)
    return path


def _guess_single_file_pipeline(
    header: dict[str, Any], in_channels: int | None
) -> tuple[str | None, int | None]:
    """Guess the pipeline class and native side length of an original-layout checkpoint."""
    keys = header.keys()
    if any(k.startswith("conditioner.embedders.1.") for k in keys):
        return "StableDiffusionXLPipeline", 1024
    if any(k.startswith("conditioner.embedders.0.model.") for k in keys):
        return _SDXL_REFINER, 1024  # the SDXL refiner: OpenCLIP bigG only, no CLIP-L encoder
    if any(k.startswith("model.diffusion_model.") for k in keys):
        inpainting = in_channels == _INPAINTING_UNET_CHANNELS
        class_name = "StableDiffusionInpaintPipeline" if inpainting else "StableDiffusionPipeline"
        if any(k.startswith("cond_stage_model.transformer.") for k in keys):
            return class_name, 512  # SD 1.x: CLIP ViT-L text encoder
        return class_name, None  # SD 2.x: 512 or 768 (v-prediction) cannot be told from weights
    return None, None


def _read_pipeline_layout(path: Path, *, require_weights: bool) -> tuple[dict[str, Any], list[str]]:
    """Read ``model_index.json`` and check that each component it lists is on disk."""
    index = _read_index(path)
    components = _component_names(index)
    for name in components:
        folder = path / name
        if not folder.is_dir():
            raise ModelNotFoundError(
                f"model_index.json in {path} lists component {name!r} but {folder} is missing"
            )
        if require_weights and (folder / "config.json").is_file() and not _weights_in(folder):
            raise ModelNotFoundError(
                f"Component {name!r} of {path} has a config.json but no weights "
                "(*.safetensors or *.bin)"
            )
    return index, components


def _read_index(path: Path) -> dict[str, Any]:
    """``model_index.json`` of ``path``, which must name a pipeline class."""
    index = _read_json(path / "model_index.json", what="model_index.json")
    if not isinstance(index, dict) or not isinstance(index.get("_class_name"), str):
        raise ModelNotFoundError(
            f"model_index.json in {path} names no pipeline class (_class_name)"
        )
    return index


def _component_names(index: dict[str, Any]) -> list[str]:
    """Names of the components ``model_index.json`` lists as present (``[lib, class]`` pairs)."""
    names = []
    for name, value in index.items():
        if name.startswith("_") or name in _OPTIONAL_COMPONENTS:
            continue
        if isinstance(value, list) and len(value) == 2 and value[0] and value[1]:
            names.append(name)
    return sorted(names)


def _read_denoiser_config(path: Path, components: list[str]) -> dict[str, Any]:
    """The ``config.json`` of the UNet (or diffusion transformer), or ``{}`` if there is none."""
    for name in ("unet", "transformer"):
        if name in components:
            config = _read_json(path / name / "config.json", what=f"{name}/config.json")
            if isinstance(config, dict):
                return config
    return {}


def _vae_scale(path: Path, components: list[str]) -> int | None:
    """How many pixels one latent covers per side: 2 ** (VAE blocks - 1)."""
    if "vae" not in components:
        return None
    vae = _read_json(path / "vae" / "config.json", what="vae/config.json")
    blocks = vae.get("block_out_channels") if isinstance(vae, dict) else None
    if not isinstance(blocks, list) or not blocks:
        return None
    return 2 ** (len(blocks) - 1)


def _default_size(
    path: Path, components: list[str], denoiser: dict[str, Any], family: Family | None = None
) -> tuple[int, int] | None:
    """Native output size: the denoiser's latent ``sample_size`` times the VAE's downscale."""
    sample = denoiser.get("sample_size")
    if sample is None and family is not None:
        sample = family.default_sample_size
    scale = _vae_scale(path, components)
    if scale is None or sample is None:
        return None
    if isinstance(sample, int):
        return sample * scale, sample * scale
    if isinstance(sample, list) and len(sample) == 2:
        height, width = sample
        return int(width) * scale, int(height) * scale
    return None


def _scheduler_class(path: Path, components: list[str]) -> str | None:
    """The scheduler's ``_class_name`` from ``scheduler/scheduler_config.json``, if any."""
    if "scheduler" not in components:
        return None
    config = _read_json(
        path / "scheduler" / "scheduler_config.json", what="scheduler/scheduler_config.json"
    )
    name = config.get("_class_name") if isinstance(config, dict) else None
    return name if isinstance(name, str) else None


def _capabilities(
    class_name: str, index: dict[str, Any], in_channels: int | None
) -> frozenset[str]:
    """The modes a pipeline class supports through diffusers' AutoPipeline classes."""
    family = family_of(class_name)
    modes = family.capabilities if family else _auto_pipeline_modes(class_name)
    if in_channels == _INPAINTING_UNET_CHANNELS:
        modes &= {INPAINTING}
    if is_sdxl_refiner(index):
        modes -= {TEXT_TO_IMAGE}  # the SDXL refiner: refines images, cannot start from text
    return modes


@functools.cache
def _auto_pipeline_modes(class_name: str) -> frozenset[str]:
    """Modes diffusers' AutoPipeline maps ``class_name``'s family to (imports diffusers)."""
    from diffusers.pipelines import auto_pipeline

    tables = {
        TEXT_TO_IMAGE: auto_pipeline.AUTO_TEXT2IMAGE_PIPELINES_MAPPING,
        IMAGE_TO_IMAGE: auto_pipeline.AUTO_IMAGE2IMAGE_PIPELINES_MAPPING,
        INPAINTING: auto_pipeline.AUTO_INPAINT_PIPELINES_MAPPING,
    }
    for table in tables.values():
        for family, pipeline in table.items():
            if pipeline.__name__ == class_name:
                return frozenset(mode for mode, t in tables.items() if family in t)
    return frozenset()


def _weights_in(folder: Path) -> list[Path]:
    """Weight files of one component: its safetensors files, or else its ``.bin`` files."""
    safetensors = sorted(folder.glob("*.safetensors"))
    return safetensors or sorted(folder.glob("*.bin"))


def _weight_files(path: Path, components: list[str]) -> list[Path]:
    """All weight files of the listed components, in sorted relative-path order."""
    files = [weight for name in components for weight in _weights_in(path / name)]
    return sorted(files, key=lambda p: p.relative_to(path).as_posix())


def _read_json(path: Path, *, what: str) -> Any:
    """Parse a JSON config file, turning any failure into ``ModelNotFoundError``."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ModelNotFoundError(f"{what} is missing: {path}") from error
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelNotFoundError(f"{what} is not valid JSON ({error}): {path}") from error


def _hash_file(path: Path, digest: Any) -> None:
    """Feed a file to ``digest`` in 1 MiB chunks, never holding it in memory."""
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
