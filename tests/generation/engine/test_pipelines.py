"""Tests for the plain-Python generation engine, run against the tiny random-weight pipeline."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import open_clip
import pytest
from transformers import CLIPTokenizer

from generation.engine.pipelines import (
    GenerationParams,
    ModelNotFoundError,
    generate,
    image_to_png_bytes,
    load_text_to_image,
)
from generation.engine.tiny import build_tiny_pipeline
from generation.engine.tokenizer import write_clip_tokenizer

PARAMS = GenerationParams(
    prompt="a red star",
    negative_prompt="blurry",
    width=64,
    height=64,
    steps=2,
    guidance_scale=7.5,
    seed=1234,
    num_images=2,
)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the tiny pipeline once for the whole module."""
    return build_tiny_pipeline(tmp_path_factory.mktemp("models") / "tiny-sd", seed=0)


@pytest.mark.parametrize("text", ["a red star", "A Photo of 2 CATS, sitting on a mat!"])
def test_tokenizer_ids_match_open_clip(tmp_path: Path, text: str) -> None:
    write_clip_tokenizer(tmp_path)
    tokenizer = CLIPTokenizer.from_pretrained(tmp_path)
    ours = tokenizer(text).input_ids
    theirs = open_clip.get_tokenizer("ViT-B-32")([text])[0].tolist()
    assert ours == theirs[: len(ours)]
    assert set(theirs[len(ours) :]) == {0}  # open_clip pads with 0, transformers with <|endoftext|>
    assert tokenizer.model_max_length == 77
    assert ours[0] == 49406 and ours[-1] == 49407


def test_build_refuses_to_overwrite(tiny_model: Path) -> None:
    with pytest.raises(FileExistsError):
        build_tiny_pipeline(tiny_model)
    leftovers = [p.name for p in tiny_model.parent.iterdir() if p.name != tiny_model.name]
    assert leftovers == []


def test_generate_returns_images_and_reports_progress(tiny_model: Path) -> None:
    steps: list[tuple[int, int]] = []
    images = generate(
        model_path=tiny_model,
        params=PARAMS,
        on_step=lambda done, total: steps.append((done, total)),
    )
    assert len(images) == 2
    assert all(image.size == (64, 64) and image.mode == "RGB" for image in images)
    assert steps == [(1, 2), (2, 2)]


def test_same_seed_gives_identical_png_bytes(tiny_model: Path) -> None:
    first = [image_to_png_bytes(image) for image in generate(model_path=tiny_model, params=PARAMS)]
    second = [image_to_png_bytes(image) for image in generate(model_path=tiny_model, params=PARAMS)]
    assert first == second
    assert first[0].startswith(b"\x89PNG\r\n\x1a\n")


def test_different_seeds_give_different_images(tiny_model: Path) -> None:
    one = replace(PARAMS, num_images=1)
    a = generate(model_path=tiny_model, params=one)[0]
    b = generate(model_path=tiny_model, params=replace(one, seed=one.seed + 7))[0]
    assert image_to_png_bytes(a) != image_to_png_bytes(b)


def test_image_i_uses_seed_plus_i(tiny_model: Path) -> None:
    """Image i of a batch matches a lone run at seed + i, up to batch-size float rounding."""
    batch = generate(model_path=tiny_model, params=PARAMS)
    lone = replace(PARAMS, seed=PARAMS.seed + 1, num_images=1)
    single = generate(model_path=tiny_model, params=lone)[0]
    diff = np.abs(np.asarray(batch[1], dtype=np.int16) - np.asarray(single, dtype=np.int16))
    assert diff.max() <= 2
    other = np.abs(np.asarray(batch[0], dtype=np.int16) - np.asarray(single, dtype=np.int16))
    assert other.max() > 2


def test_missing_path_raises_model_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelNotFoundError, match=re.escape(str(missing))):
        load_text_to_image(missing)
    with pytest.raises(ModelNotFoundError, match=r"model_index\.json"):
        load_text_to_image(tmp_path)
    assert issubclass(ModelNotFoundError, ValueError)


def test_loader_caches_per_resolved_path(tiny_model: Path) -> None:
    first = load_text_to_image(tiny_model)
    assert load_text_to_image(str(tiny_model)) is first
    assert load_text_to_image(tiny_model / ".." / tiny_model.name) is first
    assert first.safety_checker is None


def test_params_reject_impossible_sizes() -> None:
    with pytest.raises(ValueError, match="multiples of 8"):
        replace(PARAMS, width=60)
    with pytest.raises(ValueError, match="num_images"):
        replace(PARAMS, num_images=0)
