"""The demo brand style's images and the pixel ruler that finds its white outline."""

from __future__ import annotations

from itertools import islice

import numpy as np

from generation.demo.brand_style import brand_scenes, read_outline, render_outlined
from generation.demo.dataset import render


def test_the_outline_is_found_on_outlined_shapes_only():
    scenes = list(islice(brand_scenes(3), 60))
    assert all(s.colour != "white" and s.background != "white" for s in scenes)
    outlined = [read_outline(render_outlined(s)).present for s in scenes]
    plain = [read_outline(render(s)).present for s in scenes]
    assert sum(outlined) >= 57 and sum(plain) == 0


def test_a_white_blob_or_an_empty_image_is_no_outline():
    blank = np.full((64, 64, 3), 40, dtype=np.uint8)
    assert not read_outline(blank).present
    blob = blank.copy()
    blob[20:44, 20:44] = 245  # white all through: no coloured core
    assert not read_outline(blob).present
    outlined = blob.copy()
    outlined[23:41, 23:41] = (215, 35, 35)  # a red square inside a 3-pixel white frame
    assert read_outline(outlined).present
