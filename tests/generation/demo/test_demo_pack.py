"""The demo model pack shipped in generation/demo_models, loaded by the production loaders.

The pipeline goes through the engine the workers use and its pictures are read back by pixel
statistics (generation.demo.measure); the CLIP model goes through the checks' loader with the
configured (default) settings. Prompts and images are from the held-out split only.
"""

from __future__ import annotations

from itertools import islice

import pytest
from diffusers import AutoPipelineForText2Image
from django.conf import settings
from django.core.management import call_command

from generation.demo.dataset import COLOURS, SHAPES, is_held_out, render, scenes
from generation.demo.evaluation import held_out_prompts
from generation.demo.measure import read_scene
from generation.demo.training import DEMO_CLIP_DIR, DEMO_PIPELINE_DIR, RECOMMENDED_GUIDANCE
from generation.engine.clip import load_clip
from generation.engine.pipelines import GenerationParams, clear_model_cache, generate
from generation.jobs.models import ModelProfile

PACK_LIMIT_BYTES = 40 * 1024 * 1024


def test_the_pack_is_in_the_repository_and_small():
    files = [p for p in DEMO_PIPELINE_DIR.parent.rglob("*") if p.is_file()]
    assert (DEMO_PIPELINE_DIR / "model_index.json") in files
    assert (DEMO_CLIP_DIR / "open_clip_model.safetensors") in files
    assert sum(p.stat().st_size for p in files) <= PACK_LIMIT_BYTES
    assert settings.IMPRIMATUR_DEMO_PIPELINE_PATH == DEMO_PIPELINE_DIR


def test_the_pipeline_loads_offline_as_stable_diffusion():
    pipeline = AutoPipelineForText2Image.from_pretrained(DEMO_PIPELINE_DIR, local_files_only=True)
    assert type(pipeline).__name__ == "StableDiffusionPipeline"
    scale = 2 ** (len(pipeline.vae.config.block_out_channels) - 1)
    assert pipeline.unet.config.sample_size * scale == 64


def test_the_pipeline_draws_held_out_prompts_recognisably():
    """Eight prompts whose (shape, colour, background) training never showed."""
    prompts = held_out_prompts(8)
    colours = backgrounds = 0
    try:
        for prompt, shape, colour, background, seed in prompts:
            assert is_held_out(shape, colour, background)
            params = GenerationParams(
                prompt=prompt,
                negative_prompt="",
                width=64,
                height=64,
                steps=25,
                guidance_scale=RECOMMENDED_GUIDANCE,
                seed=seed,
                num_images=1,
            )
            (image,) = generate(model_path=DEMO_PIPELINE_DIR, params=params)
            reading = read_scene(image)
            colours += reading.colour == colour
            backgrounds += reading.background == background
    finally:
        clear_model_cache()
    assert colours >= 6, f"shape colour right in {colours}/8"
    assert backgrounds >= 6, f"background right in {backgrounds}/8"


def test_the_configured_clip_model_classifies_held_out_images_zero_shot():
    clip = load_clip(
        settings.IMPRIMATUR_CLIP_ARCHITECTURE,
        settings.IMPRIMATUR_CLIP_CHECKPOINT,
        config_file=settings.IMPRIMATUR_CLIP_CONFIG or None,
    )
    items = list(islice(scenes("held_out", 99), 100))
    images = [render(scene) for scene in items]
    colours = clip.classify(images, [f"a {c} shape" for c in COLOURS])
    shapes = clip.classify(images, [f"a {s}" for s in SHAPES])
    colour_acc = sum(COLOURS[i] == s.colour for i, s in zip(colours, items, strict=True)) / 100
    shape_acc = sum(SHAPES[i] == s.shape for i, s in zip(shapes, items, strict=True)) / 100
    assert colour_acc >= 0.85, colour_acc
    assert shape_acc >= 0.65, shape_acc


@pytest.mark.django_db
def test_make_run_registers_the_demo_pipeline_by_default():
    call_command("seed_demo")
    call_command(
        "model_register",
        "--organization",
        "acme",
        "--name",
        "demo-shapes",
        "--capabilities",
        "text-to-image,image-to-image,inpainting",
        "--sizes",
        "64",
        "--projects",
        "spring-campaign",
    )
    profile = ModelProfile.objects.get(name="demo-shapes")
    assert profile.path == str(DEMO_PIPELINE_DIR.resolve())
    assert profile.pipeline_class == "StableDiffusionPipeline"
    assert set(profile.model_capabilities) >= {"text-to-image", "image-to-image", "inpainting"}
