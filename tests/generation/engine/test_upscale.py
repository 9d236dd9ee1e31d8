"""The upscaler's loading and running: a network spandrel recognises from its file alone, the
factors a request may ask for, tiles that leave no seam, and a sentence for every file that is
not an upscaler. The networks here are small random-weight ones made by the test (spandrel's own
Real-ESRGAN compact class), so the loading path is the one a downloaded checkpoint takes."""

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from generation.engine import upscale as engine


def _network_file(path, *, scale=4, num_feat=8, num_conv=2, seed=0):
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(seed)
    network = Compact(num_feat=num_feat, num_conv=num_conv, upscale=scale)
    save_file({name: tensor.contiguous() for name, tensor in network.state_dict().items()}, path)
    return path


@pytest.fixture(autouse=True)
def _fresh_cache():
    engine.clear_cache()
    yield
    engine.clear_cache()


@pytest.fixture
def photo() -> Image.Image:
    skimage_data = pytest.importorskip("skimage.data")
    return Image.fromarray(skimage_data.astronaut()).resize((48, 40))


def test_the_file_alone_says_architecture_and_scale(tmp_path):
    info = engine.upscaler_inspect(_network_file(tmp_path / "x4.safetensors"))
    assert info.scale == 4 and info.architecture == "RealESRGAN Compact"
    assert len(info.sha256) == 64 and info.parameters > 0
    assert engine.upscaler_inspect(_network_file(tmp_path / "x2.safetensors", scale=2)).scale == 2


@pytest.mark.parametrize(("native", "factor"), [(4, 4), (4, 2), (2, 2), (2, 4)])
def test_each_factor_from_either_native_scale(tmp_path, photo, native, factor):
    path = _network_file(tmp_path / f"x{native}.safetensors", scale=native)
    result = engine.upscale(photo, model_path=path, scale=factor)
    assert result.size == (photo.width * factor, photo.height * factor)
    assert result.mode == "RGB"


def test_a_4x_network_does_more_than_resize(tmp_path, photo):
    """The network's output is its own: not the Lanczos resize a 2x request ends with alone."""
    path = _network_file(tmp_path / "x4.safetensors")
    result = np.asarray(engine.upscale(photo, model_path=path, scale=4), dtype=np.int16)
    resized = np.asarray(photo.resize(result.shape[1::-1], Image.Resampling.LANCZOS), np.int16)
    assert np.abs(result - resized).mean() > 1


def test_tiles_leave_no_seam(tmp_path, photo):
    """A tile borrows more context than the network's receptive field, so tiling changes
    nothing but float rounding."""
    path = _network_file(tmp_path / "x4.safetensors", num_conv=4)
    whole = np.asarray(engine.upscale(photo, model_path=path, scale=4, tile=64), np.int16)
    tiled = np.asarray(engine.upscale(photo, model_path=path, scale=4, tile=16), np.int16)
    assert np.abs(whole - tiled).max() <= 1


def test_files_that_are_not_upscalers_are_refused_in_a_sentence(tmp_path):
    with pytest.raises(engine.UpscalerError, match="No upscaler file"):
        engine.upscaler_inspect(tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not weights at all")
    with pytest.raises(engine.UpscalerError, match="could not be read as model weights"):
        engine.upscaler_inspect(junk)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"linear.weight": torch.zeros(2, 2)}, foreign)
    with pytest.raises(engine.UpscalerError, match="not a super-resolution network"):
        engine.upscaler_inspect(foreign)
    same_size = _network_file(tmp_path / "x1.safetensors", scale=1)
    with pytest.raises(engine.UpscalerError, match="does not enlarge"):
        engine.upscaler_inspect(same_size)


def test_only_2x_and_4x_are_asked_for(tmp_path, photo):
    path = _network_file(tmp_path / "x4.safetensors")
    with pytest.raises(engine.UpscalerError, match="must be one of"):
        engine.upscale(photo, model_path=path, scale=3)


def test_passes():
    assert engine.passes_for(4, 4) == 1 and engine.passes_for(4, 2) == 1
    assert engine.passes_for(2, 4) == 2 and engine.passes_for(2, 2) == 1
