"""Training the demo pack: a few seconds of each stage, exported and loaded like a real model.

The models these runs make are barely trained; the tests check the machinery (seeding,
checkpoints, resuming, export formats, loaders), not picture quality (see test_demo_pack).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from diffusers import AutoPipelineForText2Image
from django.core.management import CommandError, call_command
from PIL import Image

from generation.demo.dataset import render
from generation.demo.training import (
    CLIP_ARCHITECTURE,
    Budget,
    image_bank,
    train_clip,
    train_pipeline,
)
from generation.engine.clip import load_clip
from generation.engine.pipelines import (
    IMAGE_TO_IMAGE,
    INPAINTING,
    GenerationParams,
    clear_model_cache,
    generate,
)

SECONDS = 1 / 60


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo-training")
    budget = Budget(vae=2 * SECONDS, unet=2 * SECONDS, decoder=2 * SECONDS, clip=2 * SECONDS)
    pipeline = train_pipeline(
        root / "work", root / "out" / "tiny-sd", budget, seed=3, bank_size=256
    )
    clip = train_clip(
        root / "work", root / "out" / "tiny-clip", budget.clip, seed=3, bank_size=256, batch_size=16
    )
    return root, pipeline, clip


def test_the_exported_pipeline_loads_as_stable_diffusion_offline(trained):
    _, path, _ = trained
    pipeline = AutoPipelineForText2Image.from_pretrained(path, local_files_only=True)
    assert type(pipeline).__name__ == "StableDiffusionPipeline"
    assert pipeline.scheduler.config.prediction_type == "v_prediction"
    assert pipeline.scheduler.config.rescale_betas_zero_snr
    image = pipeline(
        "a red star on a navy background",
        num_inference_steps=2,
        height=64,
        width=64,
        generator=torch.Generator().manual_seed(0),
    ).images[0]
    assert image.size == (64, 64)
    meta = json.loads((path / "TRAINING.json").read_text())
    assert meta["seed"] == 3 and min(meta["steps"].values()) >= 1
    assert set(meta["steps"]) == {"vae", "unet", "decoder"}


def test_all_three_modes_run_on_the_exported_components(trained):
    _, path, _ = trained
    init = Image.new("RGB", (64, 64), "navy")
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    try:
        for mode, extra in ((IMAGE_TO_IMAGE, {}), (INPAINTING, {"mask_image": mask})):
            params = GenerationParams(
                prompt="a red star",
                negative_prompt="",
                width=64,
                height=64,
                steps=4,
                guidance_scale=5.0,
                seed=1,
                num_images=1,
                mode=mode,
                strength=0.5,
            )
            (image,) = generate(model_path=path, params=params, init_image=init, **extra)
            assert image.size == (64, 64)
    finally:
        clear_model_cache()


def test_the_exported_clip_loads_through_open_clip(trained):
    _, _, path = trained
    clip = load_clip(
        CLIP_ARCHITECTURE,
        path / "open_clip_model.safetensors",
        config_file=path / f"{CLIP_ARCHITECTURE}.json",
        device="cpu",
    )
    scores = clip.similarity([Image.new("RGB", (64, 64), "red")], ["a red shape", "a star"])
    assert scores.shape == (1, 2) and torch.all(scores.abs() <= 1.0001)
    # Stored in half precision, loaded into a float32 model.
    assert next(clip.model.parameters()).dtype == torch.float32


def test_training_resumes_and_a_finished_stage_is_not_repeated(trained):
    root, path, _ = trained
    work = root / "work"
    steps = json.loads((path / "TRAINING.json").read_text())["steps"]
    # Same budgets: nothing left to do, the same steps are exported again.
    budget = Budget(vae=2 * SECONDS, unet=2 * SECONDS, decoder=2 * SECONDS, clip=2 * SECONDS)
    again = train_pipeline(work, root / "again", budget, seed=3, bank_size=256)
    assert json.loads((again / "TRAINING.json").read_text())["steps"] == steps
    # A larger UNet budget continues from the saved step (one step may overrun a budget).
    spent = torch.load(work / "unet.pt", weights_only=False)["elapsed"]
    longer = Budget(vae=2 * SECONDS, unet=(spent + 1) / 60, decoder=2 * SECONDS, clip=2 * SECONDS)
    more = train_pipeline(work, root / "more", longer, seed=3, bank_size=256)
    resumed = json.loads((more / "TRAINING.json").read_text())["steps"]
    assert resumed["vae"] == steps["vae"] and resumed["unet"] > steps["unet"]
    assert resumed["decoder"] == steps["decoder"]
    # A checkpoint belongs to its seed.
    with pytest.raises(ValueError, match="seed 3"):
        train_pipeline(work, root / "other", longer, seed=4, bank_size=256)


def test_the_command_refuses_bad_budgets():
    with pytest.raises(CommandError, match="--unet-minutes must not be negative"):
        call_command("train_demo_models", "--unet-minutes", "-1")
    with pytest.raises(CommandError, match="--bank-size"):
        call_command("train_demo_models", "--bank-size", "10")
    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        call_command("train_demo_models", "--batch-size", "0")
    # A GPU and other batch sizes are for continuing an exported pipeline only.
    with pytest.raises(CommandError, match="--device needs --continue-from"):
        call_command("train_demo_models", "--device", "cuda")
    with pytest.raises(CommandError, match="--batch-size needs --continue-from"):
        call_command("train_demo_models", "--batch-size", "256")


def test_the_command_names_a_device_it_cannot_use(tmp_path):
    args = ("--model", "pipeline", "--continue-from", str(tmp_path), "--device", "warp-drive")
    with pytest.raises(CommandError, match="--device warp-drive"):
        call_command("train_demo_models", *args)


def test_the_image_bank_renders_in_processes_as_it_would_in_one(tmp_path):
    """Over 1,000 images the bank is rendered by a pool of processes, chunk by chunk."""
    pixels, items = image_bank(tmp_path, seed=5, count=2100)
    assert pixels.shape == (2100, 64, 64, 3)
    for index in (0, 999, 1000, 2099):  # each side of the chunk edges
        assert np.array_equal(pixels[index], np.asarray(render(items[index])))
    # Cached: the same pixels come back without rendering.
    again, _ = image_bank(tmp_path, seed=5, count=2100)
    assert np.array_equal(again, pixels)


def _state(path):
    from safetensors.torch import load_file

    return load_file(path)


def _continue(source, work, output) -> None:
    """``train_demo_models --continue-from source``: a two-second run, seed 3, batches of 8."""
    call_command(
        "train_demo_models",
        *("--model", "pipeline", "--continue-from", str(source), "--seed", "3"),
        *("--unet-minutes", str(2 * SECONDS), "--bank-size", "256", "--batch-size", "8"),
        *("--work-dir", str(work), "--output", str(output)),
    )


def test_an_exported_pipeline_trains_further_from_its_own_weights(trained, tmp_path):
    """``--continue-from``: the shipped pack's scratch checkpoints are not in the repository,
    so the UNet trains on from the exported weights; the VAE stays as it was."""
    _, path, _ = trained
    _continue(path, tmp_path / "work", tmp_path / "out")
    out = tmp_path / "out" / "tiny-sd"
    meta = json.loads((out / "TRAINING.json").read_text())
    before = json.loads((path / "TRAINING.json").read_text())
    assert meta["steps"] == before["steps"]
    [run] = meta["continued"]  # one entry per continued run
    assert run["from_steps"] == before["steps"]
    assert run["unet_steps"] >= 1
    assert (run["batch_size"], run["device"], run["bank_size"]) == (8, "cpu", 256)
    # The UNet moved; the VAE (whose encoder made the latents the UNet knows) did not.
    name = "diffusion_pytorch_model.safetensors"
    old_unet, new_unet = _state(path / "unet" / name), _state(out / "unet" / name)
    assert any(not torch.equal(old_unet[k], new_unet[k]) for k in old_unet)
    old_vae, new_vae = _state(path / "vae" / name), _state(out / "vae" / name)
    assert all(torch.equal(old_vae[k], new_vae[k]) for k in old_vae)
    vae_config = json.loads((out / "vae" / "config.json").read_text())
    assert vae_config["scaling_factor"] == pytest.approx(
        json.loads((path / "vae" / "config.json").read_text())["scaling_factor"]
    )
    pipeline = AutoPipelineForText2Image.from_pretrained(out, local_files_only=True)
    image = pipeline("a red star", num_inference_steps=2, height=64, width=64).images[0]
    assert image.size == (64, 64)
    # Resumable: its checkpoint is kept in its own work folder.
    continue_work = tmp_path / "work" / "seed-3" / "continue"
    assert (continue_work / "unet.pt").is_file()
    # Continued again (resuming the finished run: nothing more to train), the record keeps
    # the earlier run and adds this one.
    _continue(out, tmp_path / "work", tmp_path / "again")
    again = json.loads((tmp_path / "again" / "tiny-sd" / "TRAINING.json").read_text())
    assert [entry["unet_steps"] for entry in again["continued"]] == [run["unet_steps"]] * 2


def test_continuing_refuses_a_folder_that_is_not_an_exported_pipeline(tmp_path):
    with pytest.raises(CommandError, match="not an exported demo pipeline: no vae"):
        call_command(
            "train_demo_models",
            "--model",
            "pipeline",
            "--continue-from",
            str(tmp_path),
            "--work-dir",
            str(tmp_path / "work"),
        )
    with pytest.raises(CommandError, match="--continue-from needs --model pipeline"):
        call_command("train_demo_models", "--continue-from", str(tmp_path))
