"""Every model family on the engine level: recognised from its model_index.json, described
(capabilities, size, scheduler, prompt limit), refused by name when a part is missing, and run
in each of its modes through the same code a worker uses, on tiny random-weight pipelines."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from generation.engine.catalog import (
    IMAGE_TO_IMAGE,
    INPAINTING,
    MODES,
    TEXT_TO_IMAGE,
    ModelNotFoundError,
    ModeNotSupportedError,
    inspect_model,
)
from generation.engine.families import (
    FLOW_MATCHING_SCHEDULERS,
    count_prompt_tokens,
    family_of,
)
from generation.engine.pipelines import GenerationParams, generate, load_pipeline

ALL = frozenset(MODES)
#: family: (pipeline class, capabilities, scheduler, prompt tokenizer, its encoder, tokens)
EXPECTED = {
    "stable-diffusion": ("StableDiffusionPipeline", ALL, "DDIMScheduler", "tokenizer", 77),
    "stable-diffusion-xl": (
        "StableDiffusionXLPipeline",
        ALL,
        "EulerDiscreteScheduler",
        "tokenizer_2",
        77,
    ),
    "stable-diffusion-3": (
        "StableDiffusion3Pipeline",
        ALL,
        "FlowMatchEulerDiscreteScheduler",
        "tokenizer_3",
        256,
    ),
    "pixart-alpha": (
        "PixArtAlphaPipeline",
        {TEXT_TO_IMAGE},
        "DPMSolverMultistepScheduler",
        "tokenizer",
        120,
    ),
    "pixart-sigma": (
        "PixArtSigmaPipeline",
        {TEXT_TO_IMAGE},
        "DPMSolverMultistepScheduler",
        "tokenizer",
        300,
    ),
    "flux": ("FluxPipeline", ALL, "FlowMatchEulerDiscreteScheduler", "tokenizer_2", 512),
}


def _copy(model: Path, target: Path) -> Path:
    return Path(shutil.copytree(model, target))


def _edit_index(model: Path, **values) -> None:
    index = json.loads((model / "model_index.json").read_text())
    index.update(values)
    (model / "model_index.json").write_text(json.dumps(index))


@pytest.mark.parametrize("family", EXPECTED)
def test_each_family_is_recognised_and_described(tiny_family_models, family) -> None:
    pipeline_class, capabilities, scheduler, tokenizer, tokens = EXPECTED[family]
    info = inspect_model(tiny_family_models[family])
    assert (info.family, info.pipeline_class) == (family, pipeline_class)
    assert info.capabilities == capabilities
    assert info.scheduler_class == scheduler
    assert (info.prompt_tokenizer, info.prompt_tokens) == (tokenizer, tokens)
    assert info.family_label == family_of(pipeline_class).label
    flow = scheduler.startswith("FlowMatch")
    assert (info.schedulers == FLOW_MATCHING_SCHEDULERS) == flow
    assert ("DDIMScheduler" in info.schedulers) == (not flow)
    assert info.default_size is not None
    for mode in ALL - capabilities:
        with pytest.raises(ModeNotSupportedError, match=f"cannot do {mode}"):
            info.require(mode)


@pytest.mark.parametrize("family", EXPECTED)
def test_each_family_generates_in_each_of_its_modes(tiny_family_models, family) -> None:
    model = tiny_family_models[family]
    for mode in sorted(inspect_model(model).capabilities):
        init = Image.new("RGB", (48, 40), (200, 30, 30)) if mode != TEXT_TO_IMAGE else None
        mask = Image.new("L", (48, 40), 255) if mode == INPAINTING else None
        params = GenerationParams(
            prompt="a red star on a navy background",
            negative_prompt="" if mode == TEXT_TO_IMAGE else "blurry",  # both ways
            width=32,
            height=48,
            steps=2,
            guidance_scale=4.0,
            seed=7,
            num_images=2,
            mode=mode,
        )
        steps: list[tuple[int, int]] = []
        images = generate(
            model_path=model,
            params=params,
            init_image=init,
            mask_image=mask,
            on_step=lambda done, total, steps=steps: steps.append((done, total)),
        )
        assert [image.size for image in images] == [(32, 48)] * 2, mode
        assert steps and steps[-1][0] == steps[-1][1], (mode, steps)  # progress reached the end
        pixels = [np.asarray(image) for image in images]
        assert not np.array_equal(pixels[0], pixels[1])  # seed + i: two different images
        if mode == TEXT_TO_IMAGE:  # the same seeds and parameters, the same pixels
            again = generate(model_path=model, params=params)
            assert all(np.array_equal(a, np.asarray(b)) for a, b in zip(pixels, again, strict=True))


def test_flow_matching_families_refuse_ddim(tiny_family_models) -> None:
    for family in ("stable-diffusion-3", "flux"):
        with pytest.raises(ValueError, match="does not work with"):
            load_pipeline(tiny_family_models[family], TEXT_TO_IMAGE, scheduler="DDIMScheduler")


@pytest.mark.parametrize(
    ("family", "break_it", "message"),
    [
        (
            "stable-diffusion-xl",
            lambda m: _edit_index(m, text_encoder_2=[None, None]),
            r"SDXL model at .*: text_encoder_2 is missing \(model_index\.json does not list it",
        ),
        (
            "stable-diffusion-xl",
            lambda m: shutil.rmtree(m / "tokenizer_2"),
            r"SDXL model at .*: tokenizer_2 is missing \(model_index\.json lists it but",
        ),
        (
            "stable-diffusion-3",
            lambda m: (m / "transformer" / "diffusion_pytorch_model.safetensors").unlink(),
            r"Stable Diffusion 3 model at .*: transformer has a config\.json but no weights",
        ),
        (
            "pixart-sigma",
            lambda m: _edit_index(m, text_encoder=[None, None]),
            r"PixArt-Sigma model at .*: text_encoder is missing",
        ),
        (
            "flux",
            lambda m: shutil.rmtree(m / "vae"),
            r"Flux model at .*: vae is missing",
        ),
        (
            # A T5 tokenizer as many checkpoints ship it: spiece.model only. This machine has
            # no sentencepiece (the suite checks that below), so the family cannot run here.
            "pixart-alpha",
            lambda m: (
                (m / "tokenizer" / "tokenizer.json").unlink(),
                (m / "tokenizer" / "spiece.model").write_bytes(b"\n\x05hello"),
            ),
            r"PixArt-Alpha model at .* cannot run on this machine: its T5 tokenizer "
            r"\(tokenizer\) has only spiece\.model, which needs the sentencepiece package",
        ),
    ],
    ids=["sdxl-unlisted", "sdxl-folder", "sd3-weights", "pixart-encoder", "flux-vae", "no-spm"],
)
def test_a_broken_model_is_refused_naming_its_family_and_the_missing_part(
    tiny_family_models, tmp_path, family, break_it, message
) -> None:
    from importlib.util import find_spec

    if "sentencepiece" in message and find_spec("sentencepiece") is not None:
        pytest.skip("sentencepiece is installed here: a spiece.model tokenizer can load")
    model = _copy(tiny_family_models[family], tmp_path / "broken")
    break_it(model)
    with pytest.raises(ModelNotFoundError, match=message):
        inspect_model(model)
    with pytest.raises(ModelNotFoundError, match=message):  # the worker refuses it alike
        load_pipeline(model, TEXT_TO_IMAGE)


def test_an_sdxl_refiner_needs_only_its_second_encoder(tiny_family_models, tmp_path) -> None:
    refiner = _copy(tiny_family_models["stable-diffusion-xl"], tmp_path / "refiner")
    _edit_index(
        refiner,
        _class_name="StableDiffusionXLImg2ImgPipeline",
        text_encoder=[None, None],
        tokenizer=[None, None],
        requires_aesthetics_score=True,
    )
    info = inspect_model(refiner)
    assert info.family == "stable-diffusion-xl"
    assert info.capabilities == {IMAGE_TO_IMAGE, INPAINTING}  # refines; cannot start from text


def test_prompt_tokens_are_counted_with_the_family_s_tokenizer(tiny_family_models) -> None:
    clip = count_prompt_tokens(tiny_family_models["stable-diffusion"], "tokenizer", "a red star")
    assert clip == 5  # start, three words, end
    t5 = count_prompt_tokens(tiny_family_models["flux"], "tokenizer_2", "a red star")
    assert t5 == 4  # three words, end
    long = " ".join(["star"] * 300)
    assert count_prompt_tokens(tiny_family_models["pixart-sigma"], "tokenizer", long) == 301
    assert count_prompt_tokens(Path("/nowhere"), "tokenizer", "a red star") is None
