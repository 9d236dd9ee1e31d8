"""NudeNet really runs here, on real photographs from scikit-image."""

from __future__ import annotations

import json

import numpy as np
import pytest

from generation.checks.safety import (
    DEFAULT_NUDENET_RULES,
    NudeNetRule,
    _blob,
    detect_nudity,
    faces,
    nudenet_model_path,
    nudenet_rules,
)

NO_NUDITY = ("coffee", "chelsea", "rocket")


def test_astronaut_has_a_female_face_that_is_not_a_safety_failure(photos):
    image = photos["astronaut"]
    (result,) = detect_nudity([image])
    face_boxes = [d for d in result.detections if d.label == "FACE_FEMALE"]
    assert face_boxes, result.detections
    x, y, w, h = face_boxes[0].box
    assert x >= 0 and y >= 0 and x + w <= image.width and y + h <= image.height
    # A face, not the whole picture or a speck: 1 to 25 % of the image, in its upper half.
    assert 0.01 <= (w * h) / (image.width * image.height) <= 0.25
    assert y + h / 2 < image.height / 2
    assert result.verdict == "pass"
    assert result.has_face
    assert faces(result) == tuple(face_boxes)
    assert face_boxes[0].threshold == DEFAULT_NUDENET_RULES["FACE_FEMALE"].threshold


@pytest.mark.parametrize("name", NO_NUDITY)
def test_photos_without_nudity_pass(photos, name):
    (result,) = detect_nudity([photos[name]])
    assert not [d for d in result.detections if d.label.endswith("_EXPOSED")]
    assert result.verdict == "pass"
    assert result.reasons == ()


def test_a_face_configured_as_a_failure_fails_the_image(photos):
    strict = nudenet_rules(thresholds={"FACE_FEMALE": 0.3}, actions={"FACE_FEMALE": "fail"})
    (result,) = detect_nudity([photos["astronaut"]], strict)
    assert result.verdict == "fail"
    assert any(r.startswith("NudeNet found FACE_FEMALE at 0.") for r in result.reasons)
    assert "\N{GREATER-THAN OR EQUAL TO} 0.30" in result.reasons[0]
    assert not result.has_face  # a "fail" class is no longer recorded as a face


def test_the_threshold_decides_not_the_action_alone(photos):
    (detection,) = detect_nudity([photos["astronaut"]])[0].faces
    above = nudenet_rules(thresholds={"FACE_FEMALE": detection.score + 0.01})
    above = nudenet_rules(actions={"FACE_FEMALE": "flag"}, base=above)
    below = nudenet_rules(thresholds={"FACE_FEMALE": detection.score - 0.01})
    below = nudenet_rules(actions={"FACE_FEMALE": "flag"}, base=below)
    assert detect_nudity([photos["astronaut"]], above)[0].verdict == "pass"
    assert detect_nudity([photos["astronaut"]], below)[0].verdict == "flag"


@pytest.mark.parametrize("name", ["astronaut", *NO_NUDITY])
def test_detections_equal_nudenets_own_detector(photos, name):
    """Our batched ONNX run is NudeNet's: same classes, boxes and scores as ``detect``."""
    from nudenet import NudeDetector

    pixels = np.asarray(photos[name])
    expected = NudeDetector().detect(np.ascontiguousarray(pixels[..., ::-1]))  # BGR, as cv2
    (result,) = detect_nudity([photos[name]])
    got = [(d.label, list(d.box)) for d in result.detections]
    assert got == [(d["class"], d["box"]) for d in expected]
    for ours, theirs in zip(result.detections, expected, strict=True):
        assert ours.score == pytest.approx(theirs["score"], abs=1e-5)


def test_preprocessing_equals_nudenets(photos):
    import cv2

    image = photos["rocket"]  # not square: exercises the padding
    pixels = np.asarray(image)
    side = max(pixels.shape[:2])
    padded = cv2.copyMakeBorder(
        pixels[..., ::-1], 0, side - pixels.shape[0], 0, side - pixels.shape[1], 0
    )
    padded = cv2.cvtColor(padded, cv2.COLOR_RGBA2BGR)  # what NudeNet does to a BGR image
    theirs = cv2.dnn.blobFromImage(padded, 1 / 255.0, (320, 320), (0, 0, 0), swapRB=True)
    np.testing.assert_array_equal(_blob([image]), theirs)


def test_a_batch_gives_the_same_detections_as_one_at_a_time(photos):
    images = [photos["astronaut"], photos["coffee"], photos["astronaut"].resize((300, 200))]
    images += [photos["rocket"], photos["chelsea"]]
    batched = detect_nudity(images, batch_size=3)  # two ONNX calls, of 3 and 2 images
    single = [detect_nudity([image])[0] for image in images]
    assert sum(len(r.detections) for r in single) >= 2
    for one, many in zip(single, batched, strict=True):
        assert [d.label for d in one.detections] == [d.label for d in many.detections]
        for a, b in zip(one.detections, many.detections, strict=True):
            assert a.score == pytest.approx(b.score, abs=1e-4)
            assert np.abs(np.subtract(a.box, b.box)).max() <= 1  # integer truncation
        assert one.verdict == many.verdict


def test_grey_and_transparent_images_are_converted(photos):
    grey = photos["astronaut"].convert("L")
    rgba = photos["astronaut"].convert("RGBA")
    results = detect_nudity([grey, rgba])
    assert all(r.has_face for r in results)


def test_result_is_json_with_boxes_and_thresholds(photos):
    (result,) = detect_nudity([photos["astronaut"]])
    data = json.loads(json.dumps(result.to_dict()))
    (face,) = data["faces"]
    assert face["class"] == "FACE_FEMALE"
    assert len(face["box"]) == 4 and face["threshold"] == 0.5 and face["triggered"]


def test_bad_input_is_refused_clearly(photos):
    with pytest.raises(ValueError, match="at least one image"):
        detect_nudity([])
    with pytest.raises(ValueError, match="single image"):
        detect_nudity(photos["coffee"])
    with pytest.raises(ValueError, match="not a PIL image"):
        detect_nudity([np.zeros((8, 8, 3), dtype=np.uint8)])
    with pytest.raises(ValueError, match="no class 'FACE'"):
        nudenet_rules({"FACE": 0.5})
    with pytest.raises(ValueError, match="unknown NudeNet action"):
        NudeNetRule(0.5, "block")
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        NudeNetRule(1.5, "fail")


def test_the_model_comes_from_the_installed_package():
    path = nudenet_model_path()
    assert path.name == "320n.onnx" and path.parent.name == "nudenet"
    assert path.stat().st_size > 1_000_000  # the real weights, not a pointer file
