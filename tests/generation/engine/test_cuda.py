"""Tests that need a CUDA GPU (skipped elsewhere): half precision, compiled warm-up, eviction when
GPU memory is short, and a real out-of-memory error that the engine splits and retries."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from generation.engine.pipelines import (
    IMAGE_TO_IMAGE,
    INPAINTING,
    GenerationOutOfMemory,
    GenerationParams,
    cached_models,
    clear_model_cache,
    configure_cache,
    generate,
    load_pipeline,
    warm_up,
)
from generation.engine.tiny import build_tiny_pipeline

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

MB = 1024 * 1024
X = "\N{MULTIPLICATION SIGN}"
PARAMS = GenerationParams(
    prompt="a red star",
    negative_prompt="blurry",
    width=64,
    height=64,
    steps=2,
    guidance_scale=7.5,
    seed=1234,
    num_images=1,
)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The tiny pipeline, built once, and two copies of it (distinct cache entries)."""
    root = tmp_path_factory.mktemp("models")
    first = build_tiny_pipeline(root / "a", seed=0)
    return [first, *(Path(shutil.copytree(first, root / name)) for name in ("b", "c"))]


@pytest.fixture
def clean_cache() -> Iterator[None]:
    """An empty model cache with default settings and no GPU ballast, before and after."""
    clear_model_cache()
    configure_cache()
    yield
    clear_model_cache()
    configure_cache()


def _recorder(into: list[tuple[int, int]]) -> Callable[[int, int], None]:
    """An ``on_step`` callback that appends ``(done, total)`` to ``into``."""
    return lambda done, total: into.append((done, total))


def _ballast(leave_free: int) -> torch.Tensor:
    """Occupy GPU memory so that about ``leave_free`` bytes stay free on the device."""
    torch.cuda.empty_cache()
    free, _total = torch.cuda.mem_get_info()
    return torch.empty(max(free - leave_free, 0), dtype=torch.uint8, device="cuda")


def test_runs_every_mode_in_half_precision(clean_cache: None, tiny_models: list[Path]) -> None:
    model = tiny_models[0]
    pipeline = load_pipeline(model)
    assert pipeline.device.type == "cuda" and pipeline.unet.dtype == torch.float16
    init = Image.new("RGB", (64, 64), (200, 30, 30))
    mask = Image.new("L", (64, 64), 255)
    for mode, images in (
        (IMAGE_TO_IMAGE, {"init_image": init}),
        (INPAINTING, {"init_image": init, "mask_image": mask}),
    ):
        steps: list[tuple[int, int]] = []
        params = replace(PARAMS, mode=mode, steps=10, strength=0.5, num_images=2)
        out = generate(model_path=model, params=params, on_step=_recorder(steps), **images)
        assert len(out) == 2 and steps[-1] == (5, 5)


def test_compiled_unet_is_warmed_up_and_shared(clean_cache: None, tiny_models: list[Path]) -> None:
    model = tiny_models[0]
    configure_cache(compile_unet=True)
    cold = warm_up(model, width=64, height=64, steps=2)
    started = time.perf_counter()
    generate(model_path=model, params=PARAMS)
    warm = time.perf_counter() - started
    print(f"compiled warm-up {cold:.1f} s, next generation {warm * 1000:.0f} ms")
    assert warm < cold
    assert load_pipeline(model, IMAGE_TO_IMAGE).unet is load_pipeline(model).unet


def test_short_gpu_memory_evicts_the_least_recently_used_model_first(
    clean_cache: None, tiny_models: list[Path]
) -> None:
    a, b, c = tiny_models
    configure_cache(3)  # the count limit is not what evicts here
    load_pipeline(a)
    load_pipeline(b)
    ballast = _ballast(leave_free=12 * MB)  # the next model wants 1.2 x 13 MB free
    try:
        load_pipeline(c)
        assert a not in cached_models()
        assert c in cached_models()
        print(f"after loading c with little free memory: {[p.name for p in cached_models()]}")
    finally:
        del ballast
        torch.cuda.empty_cache()


def _extra_allocated(model: Path, params: GenerationParams) -> tuple[int, list[Image.Image]]:
    """Peak GPU memory a run allocates beyond what is allocated already, and its images."""
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    images = generate(model_path=model, params=params)
    return torch.cuda.max_memory_allocated() - before, images


def test_real_out_of_memory_is_split_in_two_halves(
    clean_cache: None, tiny_models: list[Path]
) -> None:
    """Leave free more GPU memory than 2 images need but less than 4 need, then ask for 4."""
    model = tiny_models[0]
    params = replace(PARAMS, width=1024, height=1024, num_images=4)
    load_pipeline(model)
    generate(model_path=model, params=replace(params, num_images=1))  # first-call allocations
    need_four, reference = _extra_allocated(model, params)
    need_two, _ = _extra_allocated(model, replace(params, num_images=2))
    print(f"4 images need {need_four / MB:.0f} MB, 2 images {need_two / MB:.0f} MB")
    assert need_four > need_two + 64 * MB
    steps: list[tuple[int, int]] = []
    ballast = _ballast(leave_free=(need_two + need_four) // 2)
    try:
        images = generate(model_path=model, params=params, on_step=_recorder(steps))
    finally:
        del ballast
    assert len(images) == 4
    for ours, theirs in zip(images, reference, strict=True):  # image i still used seed + i
        diff = np.abs(np.asarray(ours, np.int16) - np.asarray(theirs, np.int16)).max()
        assert diff <= 8, diff
    print(f"progress reported: {steps}")
    assert steps[-1] == (4, 4)  # it did run out: two halves of 2 steps each
    ballast = _ballast(leave_free=need_two // 2)
    try:
        with pytest.raises(GenerationOutOfMemory, match=f"generating 4 images at 1024{X}1024"):
            generate(model_path=model, params=params)
    finally:
        del ballast
    assert len(generate(model_path=model, params=replace(params, num_images=1))) == 1
