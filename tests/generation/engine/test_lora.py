"""LoRA style training and style adapters on the tiny random-weight pipeline (real diffusers,
real peft; a few steps each)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from generation.engine.adapters import AdapterError, StyleAdapter, adapters_apply, loaded_adapters
from generation.engine.lora import (
    CHECKPOINT_FILE,
    WEIGHTS_FILE,
    LoraTrainConfig,
    LoraTrainResult,
    lora_train,
)
from generation.engine.pipelines import (
    IMAGE_TO_IMAGE,
    GenerationParams,
    cached_models,
    generate,
    load_pipeline,
)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # One torch thread: on a shared 2-core machine a second OpenMP thread waiting for a busy
    # core makes these tiny models 10 to 20 times slower. Module-wide, so that every run here
    # sums in the same order (the resume test compares weights bit for bit).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _images(count: int) -> list[Image.Image]:
    rng = np.random.default_rng(3)
    return [
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)) for _ in range(count)
    ]


CAPTIONS = ["a red star", "a blue square", "a green circle"]
#: A high learning rate so that a few steps visibly change a random model's output.
QUICK = LoraTrainConfig(rank=4, steps=4, learning_rate=5e-2, batch_size=2, checkpoint_every=2)


@pytest.fixture(scope="module")
def trained(tiny_model_path, tmp_path_factory) -> LoraTrainResult:
    return lora_train(tiny_model_path, _images(3), CAPTIONS, tmp_path_factory.mktemp("a"), QUICK)


@pytest.fixture(scope="module")
def second_style(trained, tmp_path_factory) -> StyleAdapter:
    """Another adapter file: style A with its up-projections negated (a different, valid LoRA:
    the opposite update), so tests need not train twice."""
    tensors = {
        key: -value if "lora_B" in key or "lora.up" in key else value
        for key, value in load_file(trained.weights_path).items()
    }
    path = tmp_path_factory.mktemp("b") / WEIGHTS_FILE
    save_file(tensors, path)
    return StyleAdapter("style-b-v1", path, 1.0, hashlib.sha256(path.read_bytes()).hexdigest())


@pytest.fixture
def style_a(trained) -> StyleAdapter:
    return StyleAdapter("style-a-v1", trained.weights_path, 1.0, trained.sha256)


@pytest.fixture
def clean_pipeline(tiny_model_path):
    """The cached tiny pipeline, with every adapter removed afterwards (it is shared)."""
    pipeline = load_pipeline(tiny_model_path)
    yield pipeline
    adapters_apply(pipeline, [], keep_warm=0)


PARAMS = GenerationParams(
    prompt="a red star",
    negative_prompt="",
    width=64,
    height=64,
    steps=2,
    guidance_scale=5.0,
    seed=1,
    num_images=1,
)


def _run(model: Path, *adapters: StyleAdapter) -> np.ndarray:
    [image] = generate(model_path=model, params=replace(PARAMS, adapters=tuple(adapters)))
    return np.asarray(image).astype(int)


def test_training_writes_a_diffusers_lora_that_loads(trained, tiny_model_path):
    assert trained.completed and trained.steps_done == 4 and len(trained.losses) == 4
    assert trained.weights_path.name == WEIGHTS_FILE and trained.weights_path.is_file()
    data = trained.weights_path.read_bytes()
    assert trained.sha256 == hashlib.sha256(data).hexdigest() and trained.bytes == len(data)
    keys = list(load_file(trained.weights_path))
    assert keys and all(key.startswith("unet.") for key in keys)
    assert any(".to_q." in key for key in keys) and any(".to_out.0." in key for key in keys)
    # diffusers' own loader reads it from the folder, as the worker's would.
    from diffusers import StableDiffusionPipeline

    pipeline = StableDiffusionPipeline.from_pretrained(
        tiny_model_path, local_files_only=True, safety_checker=None, requires_safety_checker=False
    )
    pipeline.load_lora_weights(
        trained.weights_path.parent, weight_name=WEIGHTS_FILE, adapter_name="check"
    )
    assert pipeline.get_list_adapters() == {"unet": ["check"]}


def test_a_convolution_adapter_loads_every_layer_it_trained(tiny_model_path, tmp_path):
    """``convolutions``: the resnets' convolutions and the attention blocks' projections are
    adapted too, and the file's metadata names them, so the loader applies every tensor."""
    result = lora_train(
        tiny_model_path,
        _images(3),
        CAPTIONS,
        tmp_path / "conv",
        replace(QUICK, convolutions=True),
    )
    keys = list(load_file(result.weights_path))
    for part in (".conv1.", ".conv2.", ".proj_in.", ".to_q."):
        assert any(part in key for key in keys), part
    from diffusers import StableDiffusionPipeline

    pipeline = StableDiffusionPipeline.from_pretrained(
        tiny_model_path, local_files_only=True, safety_checker=None, requires_safety_checker=False
    )
    pipeline.load_lora_weights(result.weights_path.parent, weight_name=WEIGHTS_FILE)
    adapted = {
        name
        for name, module in pipeline.unet.named_modules()
        if hasattr(module, "lora_A") and module.lora_A
    }
    trained_layers = {key.split(".lora")[0].removeprefix("unet.") for key in keys}
    assert trained_layers == adapted


def test_text_encoder_lora_and_size_budget(tiny_model_path, tmp_path):
    config = replace(QUICK, steps=1, train_text_encoder=True)
    result = lora_train(tiny_model_path, _images(2), CAPTIONS[:2], tmp_path / "te", config)
    keys = list(load_file(result.weights_path))
    assert any(key.startswith("text_encoder.") and "q_proj" in key for key in keys)
    with pytest.raises(ValueError, match="over the limit"):
        lora_train(
            tiny_model_path,
            _images(2),
            CAPTIONS[:2],
            tmp_path / "big",
            replace(QUICK, rank=64, max_bytes=result.bytes),
        )


def test_bad_inputs_are_refused_with_a_sentence(tiny_model_path, tmp_path):
    with pytest.raises(ValueError, match="at least one training image"):
        lora_train(tiny_model_path, [], [], tmp_path / "x", QUICK)
    with pytest.raises(ValueError, match="2 images and 3 captions"):
        lora_train(tiny_model_path, _images(2), CAPTIONS, tmp_path / "x", QUICK)
    (tmp_path / "notsd").mkdir()
    (tmp_path / "notsd" / "model_index.json").write_text(
        json.dumps({"_class_name": "FluxPipeline", "transformer": ["diffusers", "X"]})
    )
    with pytest.raises(ValueError, match="not a Stable-Diffusion-style pipeline"):
        lora_train(tmp_path / "notsd", _images(1), CAPTIONS[:1], tmp_path / "x", QUICK)
    with pytest.raises(ValueError, match=r"no model_index\.json"):
        lora_train(tmp_path / "missing", _images(1), CAPTIONS[:1], tmp_path / "x", QUICK)


def test_interrupted_training_resumes_to_the_same_weights(tiny_model_path, trained, tmp_path):
    images, out = _images(3), tmp_path / "resumed"

    # A process killed after step 3: its last checkpoint is step 2's.
    class Killed(Exception):
        pass

    def crash(step: int, total: int, loss: float) -> None:
        if step == 3:
            raise Killed

    with pytest.raises(Killed):
        lora_train(tiny_model_path, images, CAPTIONS, out, QUICK, progress=crash)
    assert (out / CHECKPOINT_FILE).is_file()
    # Resumed, then stopped by its caller before step 4 (a cancel): checkpoint at step 3.
    steps: list[int] = []
    stopped = lora_train(
        tiny_model_path,
        images,
        CAPTIONS,
        out,
        QUICK,
        progress=lambda step, total, loss: steps.append(step),
        should_stop=lambda: len(steps) == 1,
    )
    assert steps == [3] and not stopped.completed and stopped.steps_done == 3
    assert len(stopped.losses) == 3 and stopped.losses[:2] == trained.losses[:2]
    finished = lora_train(
        tiny_model_path, images, CAPTIONS, out, QUICK, progress=lambda *a: steps.append(a[0])
    )
    assert steps == [3, 4] and finished.completed and finished.steps_done == 4
    # Same seed, same device: the same losses and bit-identical weights as one whole run.
    assert finished.losses == trained.losses
    assert finished.sha256 == trained.sha256


def test_resume_refuses_other_settings_and_a_spent_budget_stops(tiny_model_path, tmp_path):
    out = tmp_path / "budget"
    result = lora_train(
        tiny_model_path, _images(3), CAPTIONS, out, replace(QUICK, time_budget_s=0.0)
    )
    assert not result.completed and result.steps_done == 0 and result.weights_path.is_file()
    with pytest.raises(ValueError, match="other settings \\(rank\\)"):
        lora_train(tiny_model_path, _images(3), CAPTIONS, out, replace(QUICK, rank=8))


def test_the_adapter_file_is_byte_identical_for_the_same_weights(tmp_path):
    """safetensors writes its metadata map in a hash map's order, which changes between saves;
    the header is rewritten sorted, so a style's SHA-256 depends on its weights alone."""
    from generation.engine.lora_checkpoint import _canonical_header

    tensors = {"b.weight": torch.arange(6.0).reshape(2, 3), "a.weight": torch.ones(4)}
    digests = set()
    for index, metadata in enumerate(({"format": "pt", "x": "1"}, {"x": "1", "format": "pt"})):
        path = tmp_path / f"{index}.safetensors"
        save_file(tensors, path, metadata=metadata)
        _canonical_header(path)
        assert load_file(path)["b.weight"].tolist() == tensors["b.weight"].tolist()
        length = int.from_bytes(path.read_bytes()[:8], "little")
        header = json.loads(path.read_bytes()[8 : 8 + length])
        assert list(header) == sorted(header)
        assert list(header["__metadata__"]) == ["format", "x"]
        digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
    assert len(digests) == 1


def test_flips_prior_images_and_caption_dropout_change_training_and_resume_alike(
    tiny_model_path, trained, tmp_path
):
    """Mirrored views, prior preservation and caption dropout are real inputs: each changes
    the losses from the plain run's, and each is part of the settings a checkpoint must be
    resumed with."""
    prior = (_images(5)[3:], ["a red star", "a blue square"])

    def train(folder: str, config: LoraTrainConfig = QUICK, **extra) -> LoraTrainResult:
        return lora_train(tiny_model_path, _images(3), CAPTIONS, tmp_path / folder, config, **extra)

    flipped = train("flip", replace(QUICK, flip=True))
    with_prior = train("prior", prior=prior)
    dropped = train("dropout", replace(QUICK, caption_dropout=0.5))
    assert flipped.completed and with_prior.completed and dropped.completed
    assert flipped.losses != trained.losses and with_prior.losses != trained.losses
    assert dropped.losses != trained.losses
    # The prior's loss is added to the style's: the same draws at weight 0 (before any update)
    # score the style's rows alone, a lower first loss.
    unweighted = train("zero", replace(QUICK, prior_weight=0.0), prior=prior)
    assert with_prior.losses[0] > unweighted.losses[0]
    with pytest.raises(ValueError, match="other settings \\(flip\\)"):
        lora_train(tiny_model_path, _images(3), CAPTIONS, tmp_path / "flip", QUICK)
    with pytest.raises(ValueError, match="every prior image needs one caption"):
        lora_train(
            tiny_model_path, _images(3), CAPTIONS, tmp_path / "x", QUICK, prior=(_images(1), [])
        )
    with pytest.raises(ValueError, match="prior_weight must not be negative"):
        replace(QUICK, prior_weight=-1.0)
    with pytest.raises(ValueError, match=r"caption_dropout must be in \[0, 1\)"):
        replace(QUICK, caption_dropout=1.0)


def test_cosine_schedule_min_snr_and_noise_offset_change_training_and_resume_alike(
    tiny_model_path, trained, tmp_path
):
    """The learning-rate schedule, min-SNR weighting and the noise offset are real levers:
    each changes the losses, and each is part of the settings a checkpoint resumes with."""
    from generation.engine.lora import _learning_rate, _min_snr_weights

    cosine = replace(QUICK, lr_schedule="cosine")
    rates = [_learning_rate(cosine, step) for step in range(QUICK.steps)]
    assert rates[0] == QUICK.learning_rate and rates[2] == pytest.approx(QUICK.learning_rate / 2)
    assert rates == sorted(rates, reverse=True) and rates[-1] < QUICK.learning_rate / 5
    assert {_learning_rate(QUICK, step) for step in range(QUICK.steps)} == {QUICK.learning_rate}
    # SNR = alpha / (1 - alpha): 9, 1 and 1/9 here. Epsilon rows above gamma = 5 count
    # 5/9; the others fully. v-prediction divides by SNR + 1 instead.
    alphas = torch.tensor([0.9, 0.5, 0.1])
    assert _min_snr_weights(alphas, 5.0, "epsilon").tolist() == pytest.approx([5 / 9, 1, 1])
    assert _min_snr_weights(alphas, 5.0, "v_prediction").tolist() == pytest.approx([0.5, 0.5, 0.1])

    def train(folder: str, config: LoraTrainConfig, **extra) -> LoraTrainResult:
        return lora_train(tiny_model_path, _images(3), CAPTIONS, tmp_path / folder, config, **extra)

    # The schedule is a function of the step alone: an interrupted cosine run resumes to the
    # same weights as one whole run.
    stops: list[int] = []
    first = train(
        "cos", cosine, progress=lambda *a: stops.append(a[0]), should_stop=lambda: len(stops) == 3
    )
    assert first.steps_done == 3 and not first.completed
    resumed = train("cos", cosine)
    whole = train("cos-whole", cosine)
    assert resumed.completed and resumed.sha256 == whole.sha256
    assert whole.losses[0] == trained.losses[0] and whole.sha256 != trained.sha256
    snr = train("snr", replace(QUICK, snr_gamma=5.0))
    offset = train("offset", replace(QUICK, noise_offset=0.1))
    assert snr.losses != trained.losses and offset.losses != trained.losses
    with pytest.raises(ValueError, match="other settings \\(lr_schedule\\)"):
        train("cos", QUICK)
    with pytest.raises(ValueError, match="other settings \\(snr_gamma\\)"):
        train("snr", QUICK)
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        replace(QUICK, lr_schedule="linear")
    with pytest.raises(ValueError, match="snr_gamma must be positive"):
        replace(QUICK, snr_gamma=0.0)
    with pytest.raises(ValueError, match=r"noise_offset must be in \[0, 1\)"):
        replace(QUICK, noise_offset=1.5)


def test_styles_switch_on_the_warm_base_and_disable_cleanly(
    tiny_model_path, clean_pipeline, style_a, second_style
):
    base = _run(tiny_model_path)
    unet = clean_pipeline.unet
    models = cached_models()
    with_a = _run(tiny_model_path, style_a)
    with_b = _run(tiny_model_path, second_style)
    both = _run(tiny_model_path, style_a, replace(second_style, weight=0.5))
    assert np.abs(with_a - base).max() > 0 and np.abs(with_b - with_a).max() > 0
    assert np.abs(both - with_a).max() > 0
    assert _run(tiny_model_path).tolist() == base.tolist()  # switched off: the base, exactly
    assert _run(tiny_model_path, style_a).tolist() == with_a.tolist()
    # No reload: the same UNet object, the same cached models, both styles still warm.
    assert clean_pipeline.unet is unet and cached_models() == models
    assert loaded_adapters(clean_pipeline) == ["style-b-v1", "style-a-v1"]
    # Derived modes share the UNet, so the styles loaded once serve them too.
    img2img = load_pipeline(tiny_model_path, IMAGE_TO_IMAGE)
    assert img2img.unet is unet and loaded_adapters(img2img) == ["style-b-v1", "style-a-v1"]


def test_least_recently_used_styles_are_unloaded(clean_pipeline, style_a, second_style):
    adapters_apply(clean_pipeline, [style_a], keep_warm=1)
    adapters_apply(clean_pipeline, [second_style], keep_warm=1)
    assert loaded_adapters(clean_pipeline) == ["style-b-v1"]
    assert clean_pipeline.get_list_adapters() == {"unet": ["style-b-v1"]}
    adapters_apply(clean_pipeline, [style_a, second_style], keep_warm=1)  # both asked: both kept
    assert sorted(loaded_adapters(clean_pipeline)) == ["style-a-v1", "style-b-v1"]


def test_a_wrong_sha256_is_refused_before_loading(clean_pipeline, style_a):
    forged = replace(style_a, name="forged", sha256="0" * 64)
    with pytest.raises(AdapterError, match="does not match its approved SHA-256"):
        adapters_apply(clean_pipeline, [forged])
    assert "forged" not in loaded_adapters(clean_pipeline)
    with pytest.raises(AdapterError, match="letters, digits"):
        StyleAdapter("style.v1", style_a.path, 1.0, style_a.sha256)
    with pytest.raises(AdapterError, match="cannot read"):
        adapters_apply(clean_pipeline, [replace(style_a, path=Path("/nonexistent.safetensors"))])


def test_a_pipeline_without_lora_support_runs_plain_but_takes_no_style(tmp_path):
    """PixArt pipelines have no ``load_lora_weights``: no styles is a no-op there (every run
    calls ``adapters_apply``), a style is refused in a sentence."""

    class NoLoraPipeline:  # a stand-in with a transformer and no LoRA loader, as PixArt's
        transformer = object()

    adapters_apply(NoLoraPipeline(), ())
    weights = tmp_path / "style.safetensors"
    weights.write_bytes(b"unused")
    style = StyleAdapter(name="style-1-v1", path=weights, weight=1.0, sha256="0" * 64)
    with pytest.raises(AdapterError, match="cannot take style adapters"):
        adapters_apply(NoLoraPipeline(), [style])
