"""The demo upscaler: the shipped network beats bicubic interpolation on held-out scenes (PSNR
and SSIM against the scene drawn at 256 px), and training writes a file spandrel loads."""

import json

from django.conf import settings

from generation.demo.upscaler import (
    WEIGHTS_NAME,
    UpscalerTrainConfig,
    evaluate_upscaler,
    train_upscaler,
)
from generation.engine.upscale import upscaler_inspect


def test_the_shipped_network_beats_bicubic_on_held_out_scenes():
    weights = settings.IMPRIMATUR_DEMO_MODELS_DIR / "upscaler" / WEIGHTS_NAME
    scores = evaluate_upscaler(weights, count=12)
    assert scores.psnr_model > scores.psnr_bicubic, scores
    assert scores.ssim_model > scores.ssim_bicubic, scores


def test_training_writes_a_network_spandrel_loads(tmp_path):
    config = UpscalerTrainConfig(steps=3, batch_size=2, pool=2, num_feat=4, num_conv=1)
    losses = []
    weights = train_upscaler(
        tmp_path, config, progress=lambda step, total, loss: losses.append(loss)
    )
    assert weights == tmp_path / WEIGHTS_NAME and len(losses) == 3
    info = upscaler_inspect(weights)
    assert info.scale == 4 and info.architecture == "RealESRGAN Compact"
    record = json.loads((tmp_path / "TRAINING.json").read_text())
    assert record["config"]["steps"] == 3 and record["parameters"] == info.parameters
