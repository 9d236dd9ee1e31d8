"""The demo brand style's images and the pixel ruler that finds its white outline."""

from __future__ import annotations

from collections import Counter
from itertools import islice

import numpy as np

from generation.demo.brand_style import (
    SHAPES,
    OutlineReading,
    brand_kit,
    brand_scenes,
    read_outline,
    render_outlined,
)
from generation.demo.dataset import render


def test_the_outline_is_found_on_outlined_shapes_only():
    scenes = list(islice(brand_scenes(3), 60))
    assert all(s.colour != "white" and s.background != "white" for s in scenes)
    outlined = [read_outline(render_outlined(s)) for s in scenes]
    plain = [read_outline(render(s)) for s in scenes]
    assert sum(r.present for r in outlined) >= 57 and not any(r.present for r in plain)
    # The core's colour is the shape's, with the outline and without it (a shape under 2 %
    # of the image is not read at all).
    for readings in (outlined, plain):
        read = [(r.core_colour, s.colour) for r, s in zip(readings, scenes, strict=True)]
        assert sum(core == colour for core, colour in read) >= 59
        assert all(core in (colour, None) for core, colour in read)


def test_a_white_blob_or_an_empty_image_is_no_outline():
    blank = np.full((64, 64, 3), 40, dtype=np.uint8)
    assert read_outline(blank) == OutlineReading(False, 0.0, 0.0, None)
    blob = blank.copy()
    blob[20:44, 20:44] = 245  # white all through: no coloured core
    assert not read_outline(blob).present
    outlined = blob.copy()
    outlined[23:41, 23:41] = (215, 35, 35)  # a red square inside a 3-pixel white frame
    assert read_outline(outlined).present
    assert read_outline(outlined).core_colour == "red"
    assert read_outline(blob).core_colour == "white"


def test_the_kit_covers_every_colour_and_shape_evenly():
    kit = brand_kit(7, 12)
    colours = Counter(scene.colour for scene in kit)
    shapes = Counter(scene.shape for scene in kit)
    pool = list(islice(brand_scenes(7), 400))
    assert set(colours) == {s.colour for s in pool} and set(shapes) == set(SHAPES)
    assert max(colours.values()) - min(colours.values()) <= 1
    assert max(shapes.values()) - min(shapes.values()) <= 1
    assert [s.caption for s in brand_kit(7, 12)] == [s.caption for s in kit]
    assert [s.caption for s in brand_kit(8, 12)] != [s.caption for s in kit]
    assert all(read_outline(render_outlined(scene)).present for scene in kit)
