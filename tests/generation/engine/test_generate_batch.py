"""Cross-request batches (``generate_batch``): each request keeps its seed's images and its
own cancellation. Real tiny pipeline on the CPU."""

import numpy as np
import pytest

from generation.engine.pipelines import (
    BatchDropped,
    BatchItem,
    GenerationParams,
    batch_key,
    generate,
    generate_batch,
)

#: CPU float differences across batch sizes: the same seed gives the same image within this
#: many levels (of 255) per pixel channel. Measured with the demo tiny-sd at 64 px, eight
#: requests batched against one by one (bench/throughput.py): at most 1.
TOLERANCE = 2


def params(**overrides) -> GenerationParams:
    values = dict(
        prompt="a red star",
        negative_prompt="",
        width=64,
        height=64,
        steps=3,
        guidance_scale=7.5,
        seed=0,
        num_images=1,
    )
    values.update(overrides)
    return GenerationParams(**values)


def pixels(image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def test_seeds_give_the_unbatched_images_within_the_tolerance(tiny_model_path):
    requests = [("a red star", "", 11, 1), ("a blue circle", "blurry", 12, 2), ("a cat", "", 13, 1)]
    items = [
        BatchItem(prompt=p, negative_prompt=n, seed=s, num_images=k) for p, n, s, k in requests
    ]
    generate_batch(model_path=tiny_model_path, params=params(), items=items)
    for item, (prompt, negative, seed, count) in zip(items, requests, strict=True):
        alone = generate(
            model_path=tiny_model_path,
            params=params(prompt=prompt, negative_prompt=negative, seed=seed, num_images=count),
        )
        assert len(item.images) == count
        for batched, single in zip(item.images, alone, strict=True):
            difference = np.abs(pixels(batched) - pixels(single)).max()
            assert difference <= TOLERANCE, (prompt, difference)
    # Different seeds, different images: the comparison above is not trivially true.
    assert np.abs(pixels(items[0].images[0]) - pixels(items[2].images[0])).max() > 10


def test_cancelling_one_item_leaves_the_others(tiny_model_path):
    calls = {"kept": 0, "cancelled": 0}

    def kept(step, total):
        calls["kept"] += 1

    def cancelled(step, total):
        calls["cancelled"] += 1
        if step == 2:
            raise RuntimeError("cancelled by a user")

    items = [
        BatchItem(prompt="a red star", negative_prompt="", seed=1, on_step=kept),
        BatchItem(prompt="a cat", negative_prompt="", seed=2, on_step=cancelled),
    ]
    generate_batch(model_path=tiny_model_path, params=params(), items=items)
    assert len(items[0].images) == 1 and items[0].error is None
    assert items[1].images == [] and "cancelled" in str(items[1].error)
    # The cancelled item's callback is not called after it raised; the other's at every step.
    assert calls == {"kept": 3, "cancelled": 2}


def test_a_batch_whose_items_are_all_cancelled_stops(tiny_model_path):
    def cancel(step, total):
        raise RuntimeError("cancelled")

    items = [BatchItem(prompt="x", negative_prompt="", seed=1, on_step=cancel)]
    with pytest.raises(BatchDropped):
        generate_batch(model_path=tiny_model_path, params=params(steps=5), items=items)


def test_the_batch_key_is_every_field_but_the_requests_own():
    key = batch_key(params(prompt="a", seed=1, num_images=1))
    assert key == batch_key(params(prompt="b", negative_prompt="n", seed=9, num_images=3))
    for other in (params(steps=4), params(width=128), params(guidance_scale=5.0)):
        assert batch_key(other) != key
    assert "mode" in dict(key) and "prompt" not in dict(key)
