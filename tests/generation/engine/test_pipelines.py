"""Tests for the plain-Python generation engine, run against the tiny random-weight pipeline."""

from __future__ import annotations

import gc
import json
import re
import shutil
import weakref
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
from diffusers import UNet2DConditionModel
from PIL import Image, ImageDraw
from transformers import CLIPTokenizer

from generation.engine.pipelines import (
    IMAGE_TO_IMAGE,
    INPAINTING,
    TEXT_TO_IMAGE,
    GenerationOutOfMemory,
    GenerationParams,
    ModelNotFoundError,
    ModeNotSupportedError,
    cached_models,
    clear_model_cache,
    configure_cache,
    generate,
    image_to_png_bytes,
    load_pipeline,
    load_text_to_image,
    run_with_oom_retry,
    warm_up,
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


# --- modes, cache, warm-up, out-of-memory -------------------------------------------------------


def _params(mode: str, **changes: object) -> GenerationParams:
    """PARAMS for ``mode`` with ``changes`` applied."""
    return replace(PARAMS, mode=mode, **changes)


def _init_image(color: tuple[int, int, int] = (200, 40, 40)) -> Image.Image:
    """An 80x48 RGBA picture (deliberately not 64x64 RGB) with a stripe, as an upload might be."""
    image = Image.new("RGBA", (80, 48), (*color, 255))
    ImageDraw.Draw(image).rectangle((20, 10, 60, 30), fill=(20, 20, 220, 255))
    return image


def _mask(box: tuple[int, int, int, int] = (16, 16, 48, 48)) -> Image.Image:
    """A 64x64 RGB mask, white (repaint) inside ``box``; converted to L by the engine."""
    mask = Image.new("RGB", (64, 64), (0, 0, 0))
    ImageDraw.Draw(mask).rectangle(box, fill=(255, 255, 255))
    return mask


@pytest.fixture(scope="module")
def tiny_copies(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three more paths holding the tiny model: distinct cache entries, without rebuilding."""
    root = tmp_path_factory.mktemp("copies")
    return [Path(shutil.copytree(tiny_model, root / name)) for name in ("a", "b", "c")]


@pytest.fixture(scope="module")
def tiny_inpainting_model(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny pipeline with a 9-channel UNet, the layout of dedicated SD inpainting models."""
    target = Path(shutil.copytree(tiny_model, tmp_path_factory.mktemp("inpaint") / "tiny"))
    config = json.loads((target / "unet" / "config.json").read_text())
    torch.manual_seed(1)
    UNet2DConditionModel.from_config({**config, "in_channels": 9}).save_pretrained(target / "unet")
    index = json.loads((target / "model_index.json").read_text())
    index["_class_name"] = "StableDiffusionInpaintPipeline"
    (target / "model_index.json").write_text(json.dumps(index))
    return target


@pytest.fixture
def clean_cache() -> Iterator[None]:
    """An empty model cache with default settings, restored afterwards."""
    clear_model_cache()
    configure_cache()
    yield
    clear_model_cache()
    configure_cache()


def test_params_validate_mode_and_strength() -> None:
    with pytest.raises(ValueError, match="mode must be one of"):
        _params("video")
    for strength in (0.0, -0.5, 1.5, float("nan")):
        with pytest.raises(ValueError, match="strength"):
            _params(IMAGE_TO_IMAGE, strength=strength)
    with pytest.raises(ValueError, match="at least one denoising step"):
        _params(INPAINTING, steps=2, strength=0.4)  # int(2 * 0.4) == 0
    assert _params(IMAGE_TO_IMAGE, steps=10, strength=0.55).denoising_steps == 5
    assert _params(TEXT_TO_IMAGE, steps=10, strength=0.1).denoising_steps == 10
    assert PARAMS.mode == TEXT_TO_IMAGE and PARAMS.strength == 0.8


def test_modes_share_one_set_of_components(tiny_model: Path) -> None:
    text = load_pipeline(tiny_model, TEXT_TO_IMAGE)
    image = load_pipeline(tiny_model, IMAGE_TO_IMAGE)
    inpaint = load_pipeline(tiny_model, INPAINTING)
    assert text is load_text_to_image(tiny_model)
    assert type(image).__name__ == "StableDiffusionImg2ImgPipeline"
    assert type(inpaint).__name__ == "StableDiffusionInpaintPipeline"
    for derived in (image, inpaint):
        assert derived.unet is text.unet
        assert derived.vae is text.vae
        assert derived.text_encoder is text.text_encoder
        # Schedulers keep per-run state (timesteps, step index), so each mode has its own.
        assert derived.scheduler is not text.scheduler
        assert derived.scheduler.config == text.scheduler.config
    assert load_pipeline(str(tiny_model), IMAGE_TO_IMAGE) is image  # derivatives are cached too


def test_image_to_image_runs_and_reports_the_steps_it_runs(tiny_model: Path) -> None:
    """10 steps at strength 0.5 denoise 5 times; progress must say 5, not 10."""
    params = _params(IMAGE_TO_IMAGE, steps=10, strength=0.5)
    steps: list[tuple[int, int]] = []
    images = generate(
        model_path=tiny_model,
        params=params,
        init_image=_init_image(),
        on_step=lambda done, total: steps.append((done, total)),
    )
    assert steps == [(n, 5) for n in range(1, 6)]
    assert [(i.size, i.mode) for i in images] == [((64, 64), "RGB")] * 2
    again = generate(model_path=tiny_model, params=params, init_image=_init_image())
    assert [image_to_png_bytes(i) for i in images] == [image_to_png_bytes(i) for i in again]
    other = generate(model_path=tiny_model, params=params, init_image=_init_image((20, 200, 20)))
    assert image_to_png_bytes(other[0]) != image_to_png_bytes(images[0])


def test_inpainting_runs_on_a_four_channel_unet(tiny_model: Path) -> None:
    """SD 1.x without an inpainting UNet: diffusers blends the kept area's latents each step."""
    params = _params(INPAINTING, steps=4, strength=0.75, num_images=1)
    steps: list[tuple[int, int]] = []
    inside = generate(
        model_path=tiny_model,
        params=params,
        init_image=_init_image(),
        mask_image=_mask(),
        on_step=lambda done, total: steps.append((done, total)),
    )
    assert steps == [(1, 3), (2, 3), (3, 3)]
    assert inside[0].size == (64, 64) and inside[0].mode == "RGB"
    elsewhere = generate(
        model_path=tiny_model,
        params=params,
        init_image=_init_image(),
        mask_image=_mask((0, 0, 8, 8)).resize((128, 128)),  # any size: resized to 64x64
    )
    assert image_to_png_bytes(inside[0]) != image_to_png_bytes(elsewhere[0])


def test_modes_check_their_input_images(tmp_path: Path) -> None:
    """Checked before any model is touched: ``tmp_path`` holds no model at all."""
    cases = [
        (_params(IMAGE_TO_IMAGE), {}, "image-to-image needs an init_image"),
        (_params(INPAINTING), {"init_image": _init_image()}, "inpainting needs a mask_image"),
        (_params(INPAINTING), {"mask_image": _mask()}, "inpainting needs an init_image"),
        (PARAMS, {"init_image": _init_image()}, "text-to-image takes no init_image"),
        (
            _params(IMAGE_TO_IMAGE),
            {"init_image": _init_image(), "mask_image": _mask()},
            "takes no mask_image",
        ),
    ]
    for params, images, message in cases:
        with pytest.raises(ValueError, match=message):
            generate(model_path=tmp_path, params=params, **images)


def test_inpainting_only_model(tiny_inpainting_model: Path) -> None:
    """A 9-channel UNet loads as an inpainting pipeline and refuses the other modes."""
    params = _params(INPAINTING, steps=2, strength=1.0, num_images=1)
    images = generate(
        model_path=tiny_inpainting_model,
        params=params,
        init_image=_init_image(),
        mask_image=_mask(),
    )
    assert images[0].size == (64, 64)
    pipeline = load_pipeline(tiny_inpainting_model, INPAINTING)
    assert type(pipeline).__name__ == "StableDiffusionInpaintPipeline"
    assert pipeline.unet.config.in_channels == 9
    with pytest.raises(ModeNotSupportedError, match="supports: inpainting"):
        generate(model_path=tiny_inpainting_model, params=PARAMS)
    with pytest.raises(ModeNotSupportedError):
        load_pipeline(tiny_inpainting_model, IMAGE_TO_IMAGE)
    assert warm_up(tiny_inpainting_model, width=64, height=64) > 0


def test_cache_keeps_the_most_recently_used_models(clean_cache: None, tiny_copies: list[Path]):
    a, b, c = tiny_copies
    first_a = load_pipeline(a)
    load_pipeline(a, IMAGE_TO_IMAGE)
    load_pipeline(b)
    assert load_pipeline(a) is first_a  # a is now the most recently used
    load_pipeline(c)
    assert cached_models() == [a, c]  # b, least recently used, went
    configure_cache(1)
    assert cached_models() == [c]
    assert load_pipeline(a) is not first_a  # reloaded
    assert cached_models() == [a]
    with pytest.raises(ValueError, match="at least 1"):
        configure_cache(0)


def test_evicting_a_model_frees_its_derived_pipelines(clean_cache: None, tiny_copies: list[Path]):
    a, b, _ = tiny_copies
    configure_cache(1)
    unet = weakref.ref(load_pipeline(a).unet)
    derived = weakref.ref(load_pipeline(a, INPAINTING))
    load_pipeline(b)  # evicts a
    gc.collect()
    assert derived() is None and unet() is None  # nothing kept a's weights alive


def test_warm_up_loads_the_model_and_runs_it(clean_cache: None, tiny_model: Path) -> None:
    seconds = warm_up(tiny_model, width=64, height=64, steps=2)
    assert seconds > 0
    assert cached_models() == [tiny_model]


def _fake_gpu(limit: int, calls: list[tuple[int, int]]) -> Callable[[int, int], list[int]]:
    """A fake batch runner standing in for a GPU that runs out of memory.

    It raises a real ``torch.cuda.OutOfMemoryError`` for batches above ``limit`` images and
    otherwise returns the seed offsets it was asked for, which must reassemble in order.
    """

    def run(first: int, count: int) -> list[int]:
        calls.append((first, count))
        if count > limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return list(range(first, first + count))

    return run


def test_out_of_memory_splits_the_batch_once_and_keeps_seeds() -> None:
    calls: list[tuple[int, int]] = []
    freed: list[bool] = []
    images = run_with_oom_retry(
        _fake_gpu(3, calls),
        num_images=5,
        width=512,
        height=512,
        retry=True,
        on_oom=lambda: freed.append(True),
    )
    assert images == [0, 1, 2, 3, 4]  # image i still comes from seed + i
    assert calls == [(0, 5), (0, 3), (3, 2)]
    assert freed == [True]


def test_out_of_memory_twice_raises_a_clear_error() -> None:
    calls: list[tuple[int, int]] = []
    with pytest.raises(GenerationOutOfMemory) as caught:
        run_with_oom_retry(_fake_gpu(2, calls), num_images=6, width=1024, height=768, retry=True)
    assert str(caught.value) == (
        "ran out of GPU memory generating 6 images at 1024\N{MULTIPLICATION SIGN}768; "
        "try fewer images or a smaller size"
    )
    assert calls == [(0, 6), (0, 3)]  # one retry, no further splitting
    assert isinstance(caught.value, RuntimeError)
    single: list[tuple[int, int]] = []
    with pytest.raises(GenerationOutOfMemory, match="generating 1 image at"):
        run_with_oom_retry(_fake_gpu(0, single), num_images=1, width=64, height=64, retry=True)
    assert single == [(0, 1), (0, 1)]  # a single image is retried once as is


def test_cpu_out_of_memory_is_reported_without_retry() -> None:
    """A real allocation failure from torch's CPU allocator (2**62 bytes never fits)."""
    calls: list[int] = []

    def run(first: int, count: int) -> list[torch.Tensor]:
        calls.append(count)
        return [torch.empty(2**62, dtype=torch.uint8)]

    with pytest.raises(GenerationOutOfMemory, match="ran out of memory generating 3 images"):
        run_with_oom_retry(run, num_images=3, width=64, height=64, retry=False)
    assert calls == [3]


def test_other_errors_pass_through_the_retry() -> None:
    class Cancelled(Exception):
        pass

    def run(first: int, count: int) -> list[int]:
        raise Cancelled("stopped by the user")

    with pytest.raises(Cancelled):
        run_with_oom_retry(run, num_images=2, width=64, height=64, retry=True)


def test_scheduler_can_be_swapped_per_run(tiny_model: Path) -> None:
    """Another compatible scheduler, built from the model's config, sharing the components."""
    params = replace(PARAMS, num_images=1, steps=3)
    ddim = generate(model_path=tiny_model, params=params)
    steps: list[tuple[int, int]] = []
    euler = generate(
        model_path=tiny_model,
        params=params,
        scheduler="EulerDiscreteScheduler",
        on_step=lambda done, total: steps.append((done, total)),
    )
    assert steps == [(1, 3), (2, 3), (3, 3)]
    assert image_to_png_bytes(euler[0]) != image_to_png_bytes(ddim[0])
    swapped = load_pipeline(tiny_model, scheduler="EulerDiscreteScheduler")
    assert type(swapped.scheduler).__name__ == "EulerDiscreteScheduler"
    assert swapped.scheduler.config.beta_schedule == "scaled_linear"  # the model's schedule
    assert swapped.unet is load_pipeline(tiny_model).unet
    assert load_pipeline(tiny_model, scheduler="DDIMScheduler") is load_pipeline(tiny_model)
    with pytest.raises(ValueError, match="Scheduler 'NoSuchScheduler' does not work with"):
        generate(model_path=tiny_model, params=params, scheduler="NoSuchScheduler")
