"""A style trained as several LoRA runs and averaged into one adapter (real diffusers and
peft on the tiny random-weight pipeline; a few steps each)."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from generation.engine.adapters import StyleAdapter, adapters_apply
from generation.engine.lora import WEIGHTS_FILE, LoraTrainResult, lora_train
from generation.engine.lora_ensemble import lora_average, lora_train_members
from generation.engine.pipelines import generate, load_pipeline
from tests.generation.engine.test_lora import CAPTIONS, PARAMS, QUICK, _images, one_thread

__all__ = ["one_thread"]  # the module-wide single torch thread of test_lora, used here too


@pytest.fixture(scope="module")
def pair(tiny_model_path, tmp_path_factory) -> tuple[LoraTrainResult, list[int]]:
    steps: list[int] = []
    result = lora_train_members(
        tiny_model_path,
        _images(3),
        CAPTIONS,
        tmp_path_factory.mktemp("pair"),
        QUICK,
        members=2,
        progress=lambda step, total, loss: steps.append((step, total)),
    )
    return result, steps


def _style(name: str, path, weight: float = 1.0) -> StyleAdapter:
    return StyleAdapter(name, path, weight, hashlib.sha256(path.read_bytes()).hexdigest())


def _image(model, *adapters) -> np.ndarray:
    [image] = generate(model_path=model, params=replace(PARAMS, adapters=tuple(adapters)))
    return np.asarray(image).astype(int)


def test_the_average_of_two_runs_is_both_at_half_weight(tiny_model_path, pair):
    result, steps = pair
    assert result.completed and result.steps_done == 2 * QUICK.steps
    assert [step for step, _ in steps] == list(range(1, 2 * QUICK.steps + 1))
    assert {total for _, total in steps} == {2 * QUICK.steps}
    folder = result.weights_path.parent
    members = [folder / f"member-{index}" / WEIGHTS_FILE for index in range(2)]
    first, second = (load_file(path) for path in members)
    assert any(not torch.equal(first[key], second[key]) for key in first)  # seeds 0 and 1
    merged = _image(tiny_model_path, _style("avg", result.weights_path))
    halves = _image(tiny_model_path, _style("m0", members[0], 0.5), _style("m1", members[1], 0.5))
    base = _image(tiny_model_path)
    adapters_apply(load_pipeline(tiny_model_path), [], keep_warm=0)
    # The same sums in another order (one matmul of rank 2r, or two of r at 0.5 each): float
    # rounding may move a channel by one level, never more (the CPU's kernels decide which).
    assert np.abs(merged - halves).max() <= 1 and (merged != halves).mean() < 1e-3
    assert np.abs(merged - base).mean() > 2  # and the style is there
    # One adapter of twice the rank, whose scale (alpha / r) is the members'.
    with safe_open(str(result.weights_path), "pt") as file:
        metadata = file.metadata()["lora_adapter_metadata"]
    assert f'"unet.r": {2 * QUICK.rank}' in metadata
    assert f'"unet.lora_alpha": {2 * QUICK.rank}' in metadata
    assert result.sha256 == hashlib.sha256(result.weights_path.read_bytes()).hexdigest()


def test_a_stopped_ensemble_resumes_in_the_member_it_stopped_in(tiny_model_path, pair, tmp_path):
    images, out = _images(3), tmp_path / "stopped"
    seen: list[int] = []
    stopped = lora_train_members(
        tiny_model_path,
        images,
        CAPTIONS,
        out,
        QUICK,
        members=2,
        progress=lambda step, total, loss: seen.append(step),
        should_stop=lambda: len(seen) == QUICK.steps + 1,
    )
    assert not stopped.completed and stopped.steps_done == QUICK.steps + 1
    assert not (out / WEIGHTS_FILE).exists()  # no average of a half-trained member
    finished = lora_train_members(tiny_model_path, images, CAPTIONS, out, QUICK, members=2)
    assert finished.completed and finished.sha256 == pair[0].sha256


def test_one_member_is_plain_training_and_bad_input_is_refused(tiny_model_path, tmp_path):
    single = lora_train_members(tiny_model_path, _images(3), CAPTIONS, tmp_path / "one", QUICK)
    plain = lora_train(tiny_model_path, _images(3), CAPTIONS, tmp_path / "plain", QUICK)
    assert single.sha256 == plain.sha256 and (tmp_path / "one" / WEIGHTS_FILE).is_file()
    # The size limit is the average's: two members of one's size do not fit in it.
    fits = replace(QUICK, max_bytes=plain.bytes)
    assert lora_train_members(tiny_model_path, _images(3), CAPTIONS, tmp_path / "fits", fits)
    with pytest.raises(ValueError, match=r"over the limit .* \(with 2 members each gets 1/2"):
        lora_train_members(tiny_model_path, _images(3), CAPTIONS, tmp_path / "big", fits, members=2)
    with pytest.raises(ValueError, match="members must be from 1 to 8"):
        lora_train_members(tiny_model_path, _images(3), CAPTIONS, tmp_path / "x", QUICK, members=0)
    other = tmp_path / "other.safetensors"
    save_file({"unet.x.lora_A.weight": torch.ones(2, 2)}, other)
    with pytest.raises(ValueError, match="adapt different layers"):
        lora_average([plain.weights_path, other], tmp_path / "avg.safetensors")
    with pytest.raises(ValueError, match="not a LoRA layer's weight"):
        save_file({"unet.x.weight": torch.ones(2)}, other)
        lora_average([other], tmp_path / "avg.safetensors")
    with pytest.raises(ValueError, match="at least one adapter"):
        lora_average([], tmp_path / "avg.safetensors")
