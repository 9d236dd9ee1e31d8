"""Tests for reading models without loading them, and for single-file checkpoints end to end."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from generation.engine.catalog import (
    IMAGE_TO_IMAGE,
    INPAINTING,
    KNOWN_PIPELINES,
    MODES,
    TEXT_TO_IMAGE,
    ModelNotFoundError,
    ModeNotSupportedError,
    checkpoint_digest,
    inspect_model,
)
from generation.engine.pipelines import (
    GenerationParams,
    generate,
    image_to_png_bytes,
    load_pipeline,
)
from generation.engine.tiny import build_tiny_pipeline
from tests.generation.engine.ldm_checkpoint import copy_configs, write_ldm_checkpoint

WEIGHTS = (
    "text_encoder/model.safetensors",
    "unet/diffusion_pytorch_model.safetensors",
    "vae/diffusion_pytorch_model.safetensors",
)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the tiny pipeline once for the whole module."""
    return build_tiny_pipeline(tmp_path_factory.mktemp("models") / "tiny-sd", seed=0)


@pytest.fixture(scope="module")
def single_file(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny model as one LDM-layout .safetensors file, and its weightless config dir."""
    root = tmp_path_factory.mktemp("single")
    checkpoint = write_ldm_checkpoint(tiny_model, root / "tiny-sd.safetensors")
    return checkpoint, copy_configs(tiny_model, root / "config")


def _copy(tiny_model: Path, target: Path) -> Path:
    """A copy of the tiny model whose weights are hard links (cheap) and configs real copies."""

    def copy(source: str, destination: str) -> None:
        if source.endswith(".safetensors"):
            os.link(source, destination)
        else:
            shutil.copy2(source, destination)

    return Path(shutil.copytree(tiny_model, target, copy_function=copy))


def _truncate(path: Path) -> None:
    """Replace ``path`` (maybe a hard link) by its first half, like an interrupted download."""
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data[: len(data) // 2])


def _edit_json(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Apply ``change`` to the JSON object in ``path``."""
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_inspects_a_diffusers_directory(tiny_model: Path) -> None:
    info = inspect_model(tiny_model)
    assert info.path == tiny_model.resolve()
    assert info.format == "diffusers"
    assert info.pipeline_class == "StableDiffusionPipeline"
    assert info.capabilities == frozenset(MODES)
    assert info.default_size == (64, 64)  # UNet sample_size 32 x 2 (two VAE blocks)
    assert info.scheduler_class == "DDIMScheduler"
    assert info.weights_bytes == sum((tiny_model / w).stat().st_size for w in WEIGHTS)
    assert info.checkpoint_sha256 is None  # only computed when asked for


def test_digest_covers_the_weights_and_nothing_else(tiny_model: Path, tmp_path: Path) -> None:
    digest = checkpoint_digest(tiny_model)
    assert len(digest) == 64 and digest == checkpoint_digest(tiny_model)
    assert inspect_model(tiny_model, with_digest=True).checkpoint_sha256 == digest
    moved = _copy(tiny_model, tmp_path / "elsewhere")
    _edit_json(moved / "unet" / "config.json", lambda c: c.update(sample_size=64))
    assert checkpoint_digest(moved) == digest  # same weights at another path
    vae = moved / "vae" / "diffusion_pytorch_model.safetensors"
    data = bytearray(vae.read_bytes())
    data[-1] ^= 1
    vae.unlink()  # a hard link: replace the file rather than edit the original's bytes
    vae.write_bytes(bytes(data))
    assert checkpoint_digest(moved) != digest


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda m: (m / "model_index.json").unlink(), r"no model_index\.json"),
        (lambda m: (m / "model_index.json").write_text("{not json"), "is not valid JSON"),
        (lambda m: (m / "model_index.json").write_text("[]"), "names no pipeline class"),
        (
            lambda m: shutil.rmtree(m / "vae"),
            r"Stable Diffusion 1\.x/2\.x model at .*: vae is missing \(model_index\.json lists it",
        ),
        (
            lambda m: (m / "unet" / "diffusion_pytorch_model.safetensors").unlink(),
            r"Stable Diffusion 1\.x/2\.x model at .*: unet has a config\.json but no weights",
        ),
        (lambda m: (m / "unet" / "config.json").write_text("{"), r"unet/config\.json is not valid"),
        (
            lambda m: (m / "scheduler" / "scheduler_config.json").unlink(),
            r"scheduler/scheduler_config\.json is missing",
        ),
        (lambda m: _truncate(m / WEIGHTS[2]), "vae.* is truncated or corrupt"),
    ],
    ids=[
        "no-index",
        "bad-index",
        "index-not-object",
        "no-vae",
        "no-weights",
        "bad-unet",
        "no-sched",
        "cut-weights",
    ],
)
def test_refuses_broken_directories(
    tiny_model: Path, tmp_path: Path, breakage: Callable[[Path], Any], message: str
) -> None:
    broken = _copy(tiny_model, tmp_path / "broken")
    breakage(broken)
    with pytest.raises(ModelNotFoundError, match=message):
        inspect_model(broken)


def test_refuses_missing_paths_and_unsafe_or_bad_files(tiny_model: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        inspect_model(tmp_path / "nowhere")
    cases = {
        "model.ckpt": (b"\x80\x04pickle", "are Python pickles"),
        "notes.txt": (b"hello", "neither a diffusers directory nor a .safetensors"),
        "empty.safetensors": (b"", "too short"),
        "noise.safetensors": (os.urandom(4096), "not a safetensors file"),
        "garbled.safetensors": (b"\x10" + b"\0" * 7 + b"{not json}......", "unreadable"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ModelNotFoundError, match=message):
            inspect_model(tmp_path / name)
    weights = (tiny_model / WEIGHTS[1]).read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(weights[: len(weights) // 2])
    with pytest.raises(ModelNotFoundError, match="truncated or corrupt"):
        inspect_model(tmp_path / "cut.safetensors")


@pytest.mark.parametrize(
    ("edit", "capabilities"),
    [
        # A 9-channel UNet (dedicated inpainting model) can only inpaint.
        (("unet/config.json", {"in_channels": 9}), {INPAINTING}),
        # An SDXL-refiner-like pipeline refines images; it cannot start from text.
        (("model_index.json", {"requires_aesthetics_score": True}), {IMAGE_TO_IMAGE, INPAINTING}),
        # Outside the known families (families.py), diffusers' AutoPipeline tables decide.
        (
            ("model_index.json", {"_class_name": "LatentConsistencyModelPipeline"}),
            {TEXT_TO_IMAGE, IMAGE_TO_IMAGE},
        ),
        (("model_index.json", {"_class_name": "SomeoneElsesPipeline"}), set()),
    ],
    ids=["inpainting-unet", "refiner", "outside-families", "unknown"],
)
def test_capabilities_follow_the_configs(
    tiny_model: Path, tmp_path: Path, edit: tuple[str, dict], capabilities: set[str]
) -> None:
    model = _copy(tiny_model, tmp_path / "model")
    name, values = edit
    _edit_json(model / name, lambda data: data.update(values))
    info = inspect_model(model)
    assert info.capabilities == capabilities
    for mode in set(MODES) - capabilities:
        with pytest.raises(ModeNotSupportedError, match=f"cannot do {mode}"):
            info.require(mode)
        with pytest.raises(ModeNotSupportedError):  # refused before any weight is loaded
            load_pipeline(model, mode)


def test_default_size_follows_the_vae_depth(tiny_model: Path, tmp_path: Path) -> None:
    model = _copy(tiny_model, tmp_path / "model")
    _edit_json(model / "unet" / "config.json", lambda c: c.update(sample_size=[48, 64]))
    _edit_json(model / "vae" / "config.json", lambda c: c.update(block_out_channels=[8] * 4))
    assert inspect_model(model).default_size == (512, 384)  # (width, height) = latent x 8


def test_known_pipelines_match_diffusers_auto_pipeline() -> None:
    from diffusers.pipelines import auto_pipeline

    tables = {
        TEXT_TO_IMAGE: auto_pipeline.AUTO_TEXT2IMAGE_PIPELINES_MAPPING,
        IMAGE_TO_IMAGE: auto_pipeline.AUTO_IMAGE2IMAGE_PIPELINES_MAPPING,
        INPAINTING: auto_pipeline.AUTO_INPAINT_PIPELINES_MAPPING,
    }
    for family, classes in KNOWN_PIPELINES.items():
        for mode, class_name in classes.items():
            assert tables[mode][family].__name__ == class_name


def test_inspects_a_single_file_checkpoint(single_file: tuple[Path, Path]) -> None:
    checkpoint, config = single_file
    guessed = inspect_model(checkpoint)
    assert guessed.format == "single-file"
    assert guessed.pipeline_class == "StableDiffusionPipeline"  # SD 1.x keys, CLIP-L encoder
    assert guessed.capabilities == frozenset(MODES)
    assert guessed.default_size == (512, 512)  # what SD 1.x was trained at
    assert guessed.scheduler_class is None
    assert guessed.weights_bytes == checkpoint.stat().st_size
    configured = inspect_model(checkpoint, single_file_config=config)
    assert (configured.default_size, configured.scheduler_class) == ((64, 64), "DDIMScheduler")
    expected = hashlib.sha256(checkpoint.read_bytes()).hexdigest()  # what sha256sum prints
    assert checkpoint_digest(checkpoint) == expected


def test_single_file_generates_the_same_pixels_as_the_directory(
    tiny_model: Path, single_file: tuple[Path, Path]
) -> None:
    checkpoint, config = single_file
    with pytest.raises(ModelNotFoundError, match="needs single_file_config"):
        load_pipeline(checkpoint)
    params = GenerationParams(
        prompt="a red star",
        negative_prompt="",
        width=64,
        height=64,
        steps=3,
        guidance_scale=7.5,
        seed=7,
        num_images=1,
    )
    from_file = generate(model_path=checkpoint, params=params, single_file_config=config)
    from_dir = generate(model_path=tiny_model, params=params)
    assert image_to_png_bytes(from_file[0]) == image_to_png_bytes(from_dir[0])
    pipeline = load_pipeline(checkpoint, IMAGE_TO_IMAGE, single_file_config=config)
    assert pipeline.unet is load_pipeline(checkpoint, single_file_config=config).unet
    with pytest.raises(ModelNotFoundError, match="not a diffusers directory"):
        load_pipeline(checkpoint, single_file_config=checkpoint.parent)


def test_weights_that_do_not_fit_the_configs_fail_to_load(tiny_model: Path, tmp_path: Path):
    """Inspection reads configs and headers only; loading finds the mismatch and says so."""
    model = _copy(tiny_model, tmp_path / "model")
    _edit_json(model / "unet" / "config.json", lambda c: c.update(cross_attention_dim=64))
    inspect_model(model)
    with pytest.raises(ModelNotFoundError, match=r"Could not load .*model"):
        load_pipeline(model)
