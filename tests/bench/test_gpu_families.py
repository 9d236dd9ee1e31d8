"""bench/gpu_families.py, the GPU script of issue 21, checked where there is no GPU: the full-size
architectures have the real checkpoints' shapes, and the script's main function times a tiny case
end to end through the engine (on the CPU in fp32; on CUDA in fp16 where a GPU is present)."""

from __future__ import annotations

import pytest
import torch

from bench import gpu_families


def _parameters(components: dict) -> dict[str, int]:
    return {
        name: sum(p.numel() for p in module.parameters()) for name, module in components.items()
    }


def test_architectures_have_the_released_checkpoints_parameter_counts():
    # Built on the meta device: shapes only, no memory, well under a second.
    with torch.device("meta"):
        sd15 = _parameters(gpu_families.sd15_components())
        sdxl = _parameters(gpu_families.sdxl_components())
    # The published counts of stable-diffusion-v1-5 and stable-diffusion-xl-base-1.0.
    assert sd15 == {"unet": 859_520_964, "vae": 83_653_863, "text_encoder": 123_060_480}
    assert sdxl == {
        "unet": 2_567_463_684,
        "vae": 83_653_863,
        "text_encoder": 123_060_480,
        "text_encoder_2": 694_659_840,
    }


def test_sdxl_architecture_runs_its_conditioning_at_1024_px_on_the_meta_device():
    # Shapes only (meta tensors: no memory, no arithmetic): the two encoders' hidden states
    # concatenate to the UNet's 2048-wide cross-attention, the pooled bigG projection and the
    # six time ids fill its added embedding, and the VAE decodes 128-px latents to 1024 px.
    with torch.device("meta"):
        modules = gpu_families.sdxl_components()
        ids = torch.zeros(2, 77, dtype=torch.long)
        first = modules["text_encoder"](ids, output_hidden_states=True).hidden_states[-2]
        second = modules["text_encoder_2"](ids, output_hidden_states=True)
        context = torch.cat([first, second.hidden_states[-2]], dim=-1)
        latents = modules["unet"](
            torch.zeros(2, 4, 128, 128),
            999,
            encoder_hidden_states=context,
            added_cond_kwargs={"text_embeds": second.text_embeds, "time_ids": torch.zeros(2, 6)},
        ).sample
        image = modules["vae"].decode(latents).sample
    assert context.shape == (2, 77, 2048)
    assert latents.shape == (2, 4, 128, 128)
    assert image.shape == (2, 3, 1024, 1024)


def test_main_reports_images_per_second_of_the_tiny_sd_case(tmp_path):
    device = "cuda" if torch.cuda.is_available() else "cpu"
    lines: list[str] = []
    results = gpu_families.main(
        [
            "--device",
            device,
            "--tiny-only",
            "--cases",
            "stable-diffusion",
            "--steps",
            "1",
            "--rounds",
            "2",
            "--compile",
            "off",
            "--json",
            str(tmp_path / "out.json"),
        ],
        out=lines.append,
    )
    assert len(results) == 1
    (result,) = results
    assert "error" not in result, result
    assert result["case"] == "stable-diffusion" and result["compile"] is False
    assert result["size"] == "64x64"  # the tiny model's native size
    assert result["images_per_s"] > 0
    assert result["s_min"] <= result["s_per_job"] <= result["s_max"]
    assert lines[-1] == f"images/s: stable-diffusion[b1]={result['images_per_s']}"
    assert "| stable-diffusion | 64x64 | 1 | no |" in lines[-2]
    assert (tmp_path / "out.json").read_text().count('"images_per_s"') == 1


def test_unknown_case_is_refused():
    with pytest.raises(SystemExit, match="unknown case"):
        gpu_families.main(["--device", "cpu", "--cases", "sd9"], out=lambda line: None)
