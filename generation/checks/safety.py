"""Nudity and face detection with NudeNet (its YOLOv8 ONNX model ``320n.onnx``).

Why: every generated image is checked for explicit content before anyone sees it, and images
that show a face are routed to a likeness review. NudeNet is a small, permissively licensed
detector that ships its weights inside its PyPI package, so nothing is downloaded.

How it is run: NudeNet 3.4's own ``NudeDetector.detect_batch`` does stack images into one
ONNX call, but it decodes the model's 2,100 candidate boxes per image in a Python loop (a few
milliseconds an image) and builds its session with default options. This module runs the
same ``320n.onnx`` file from the package directory through onnxruntime itself, with the same
preprocessing (pad right/bottom to a square, resize to 320 with OpenCV, scale to 0..1, the
same channel order as ``NudeDetector.detect`` on an image file) and the same decoding
(candidates scoring at least 0.2, OpenCV NMS at score 0.25 / IoU 0.45, boxes in image pixels,
truncated to integers), vectorised with numpy. The tests check that the detections equal
``NudeDetector().detect`` on real photographs.

What the caller decides: a rule per NudeNet class (a threshold and an action). ``fail`` and
``flag`` classes decide the verdict; ``face`` classes never fail an image, they only mark it
as showing a face (for likeness review); ``ignore`` classes are reported but decide nothing.
Every detection is returned with the rule applied to it, so a reviewer sees why.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from generation.checks.common import FAIL, FLAG, PASS, as_rgb_images, worst_verdict

__all__ = [
    "ACTIONS",
    "DEFAULT_NUDENET_RULES",
    "NUDENET_LABELS",
    "Detection",
    "NudeNetResult",
    "NudeNetRule",
    "detect_nudity",
    "faces",
    "nudenet_model_path",
    "nudenet_rules",
    "rule_table",
]

#: The model's output classes, in the order of its output channels (from NudeNet 3.4).
NUDENET_LABELS: tuple[str, ...] = (
    "FEMALE_GENITALIA_COVERED",
    "FACE_FEMALE",
    "BUTTOCKS_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_BREAST_EXPOSED",
    "ANUS_EXPOSED",
    "FEET_EXPOSED",
    "BELLY_COVERED",
    "FEET_COVERED",
    "ARMPITS_COVERED",
    "ARMPITS_EXPOSED",
    "FACE_MALE",
    "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "ANUS_COVERED",
    "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
)

FACE = "face"
IGNORE = "ignore"
#: What a detection at or above its class threshold does.
ACTIONS: tuple[str, ...] = (FAIL, FLAG, FACE, IGNORE)

#: NudeNet's input side in pixels (the model was trained at 320).
INPUT_SIZE = 320
#: NudeNet's own decoding constants: candidates below CANDIDATE_SCORE are dropped before NMS,
#: NMS keeps boxes scoring at least NMS_SCORE and suppresses overlaps above NMS_IOU. No
#: detection below NMS_SCORE is ever reported, so a lower rule threshold acts as 0.25.
CANDIDATE_SCORE = 0.2
NMS_SCORE = 0.25
NMS_IOU = 0.45
#: Images per ONNX call: bounds the activation memory of a large job (about 40 MB an image).
ONNX_BATCH = 16


@dataclass(frozen=True)
class NudeNetRule:
    """What a detection of one class does once its score reaches ``threshold``."""

    threshold: float
    action: str

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown NudeNet action {self.action!r}; choose from {ACTIONS}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"a NudeNet threshold is a score in [0, 1], got {self.threshold}")


#: The default rules. Explicit exposure fails at 0.5 (anus at 0.4: the model scores it lower);
#: covered intimate areas and an exposed belly are flagged for a human at 0.6 (swimwear is a
#: brand decision, not a safety one); faces are recorded for likeness review at 0.5; feet,
#: armpits, a covered belly and a male chest are reported but decide nothing.
DEFAULT_NUDENET_RULES: Mapping[str, NudeNetRule] = {
    "FEMALE_GENITALIA_EXPOSED": NudeNetRule(0.5, FAIL),
    "MALE_GENITALIA_EXPOSED": NudeNetRule(0.5, FAIL),
    "ANUS_EXPOSED": NudeNetRule(0.4, FAIL),
    "FEMALE_BREAST_EXPOSED": NudeNetRule(0.5, FAIL),
    "BUTTOCKS_EXPOSED": NudeNetRule(0.5, FAIL),
    "FEMALE_GENITALIA_COVERED": NudeNetRule(0.6, FLAG),
    "ANUS_COVERED": NudeNetRule(0.6, FLAG),
    "BUTTOCKS_COVERED": NudeNetRule(0.6, FLAG),
    "FEMALE_BREAST_COVERED": NudeNetRule(0.6, FLAG),
    "BELLY_EXPOSED": NudeNetRule(0.6, FLAG),
    "FACE_FEMALE": NudeNetRule(0.5, FACE),
    "FACE_MALE": NudeNetRule(0.5, FACE),
    "MALE_BREAST_EXPOSED": NudeNetRule(0.5, IGNORE),
    "BELLY_COVERED": NudeNetRule(0.5, IGNORE),
    "FEET_EXPOSED": NudeNetRule(0.5, IGNORE),
    "FEET_COVERED": NudeNetRule(0.5, IGNORE),
    "ARMPITS_EXPOSED": NudeNetRule(0.5, IGNORE),
    "ARMPITS_COVERED": NudeNetRule(0.5, IGNORE),
}


def nudenet_rules(
    thresholds: Mapping[str, float] | None = None,
    actions: Mapping[str, str] | None = None,
    *,
    base: Mapping[str, NudeNetRule] = DEFAULT_NUDENET_RULES,
) -> dict[str, NudeNetRule]:
    """The default rules with some classes' thresholds and/or actions replaced.

    ``nudenet_rules({"BELLY_EXPOSED": 0.8})`` keeps every default but flags a belly only from
    0.8; ``nudenet_rules(actions={"FACE_MALE": "flag"})`` flags every male face. Unknown class
    names are refused, since a misspelt class would silently never match.
    """
    rules = dict(base)
    for name in {*(thresholds or {}), *(actions or {})}:
        if name not in NUDENET_LABELS:
            raise ValueError(
                f"NudeNet has no class {name!r}; its classes are {', '.join(NUDENET_LABELS)}"
            )
        current = rules.get(name, NudeNetRule(1.0, IGNORE))
        rules[name] = NudeNetRule(
            threshold=float((thresholds or {}).get(name, current.threshold)),
            action=(actions or {}).get(name, current.action),
        )
    return rules


@dataclass(frozen=True)
class Detection:
    """One NudeNet box, with the rule that judged it."""

    label: str
    score: float
    #: [x, y, width, height] in the image's own pixels (top-left origin), as NudeNet reports.
    box: tuple[int, int, int, int]
    threshold: float
    action: str

    @property
    def triggered(self) -> bool:
        """The score reached the class threshold, so the action applies."""
        return self.score >= self.threshold

    def to_dict(self) -> dict[str, Any]:
        return {
            "class": self.label,
            "score": round(self.score, 6),
            "box": list(self.box),
            "threshold": self.threshold,
            "action": self.action,
            "triggered": self.triggered,
        }


@dataclass(frozen=True)
class NudeNetResult:
    """NudeNet's findings on one image and the verdict they lead to."""

    detections: tuple[Detection, ...]
    verdict: str
    reasons: tuple[str, ...] = field(default=())

    @property
    def faces(self) -> tuple[Detection, ...]:
        """Detections of a ``face`` class at or above its threshold."""
        return tuple(d for d in self.detections if d.action == FACE and d.triggered)

    @property
    def has_face(self) -> bool:
        """Whether the image shows a face (routes it to likeness review)."""
        return bool(self.faces)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": "nudenet-320n",
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "has_face": self.has_face,
            "faces": [d.to_dict() for d in self.faces],
            "detections": [d.to_dict() for d in self.detections],
        }


def faces(result: NudeNetResult) -> tuple[Detection, ...]:
    """The face detections of ``result`` (for likeness routing)."""
    return result.faces


# --- the model -----------------------------------------------------------------------------


def nudenet_model_path() -> Path:
    """``320n.onnx`` inside the installed ``nudenet`` package (never downloaded)."""
    import importlib.util

    spec = importlib.util.find_spec("nudenet")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the nudenet package is not installed (pip install nudenet)")
    path = Path(spec.origin).parent / "320n.onnx"
    if not path.is_file():
        raise FileNotFoundError(f"NudeNet's model {path} is missing from its package")
    return path


_sessions: dict[tuple[str, int], Any] = {}
_session_lock = threading.Lock()


def _session(threads: int | None) -> Any:
    """One onnxruntime session per process and thread setting (loading takes ~0.1 s)."""
    import onnxruntime

    threads = threads or os.cpu_count() or 1
    key = (str(nudenet_model_path()), threads)
    with _session_lock:
        if key not in _sessions:
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
            # onnxruntime's idle threads spin for a while after each run by default; on a
            # worker that runs CLIP (torch) right after NudeNet they would steal its cores.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            _sessions[key] = onnxruntime.InferenceSession(
                key[0], options, providers=["CPUExecutionProvider"]
            )
        return _sessions[key]


def _blob(images: Sequence[Image.Image]) -> np.ndarray:
    """NudeNet's preprocessing for a batch: (N, 3, 320, 320) float32.

    The same pixels as NudeNet's ``cv2.dnn.blobFromImage`` (the tests compare them), done as
    one uint8 resize per image and one conversion for the batch, which is faster.
    """
    import cv2

    resized = np.empty((len(images), INPUT_SIZE, INPUT_SIZE, 3), dtype=np.uint8)
    for index, image in enumerate(images):
        pixels = np.asarray(image)
        side = max(pixels.shape[:2])
        if pixels.shape[0] != side or pixels.shape[1] != side:
            # NudeNet pads right and bottom with black to a square before resizing.
            pixels = cv2.copyMakeBorder(
                pixels, 0, side - pixels.shape[0], 0, side - pixels.shape[1], cv2.BORDER_CONSTANT
            )
        cv2.resize(
            pixels, (INPUT_SIZE, INPUT_SIZE), dst=resized[index], interpolation=cv2.INTER_LINEAR
        )
    # NudeDetector.detect(file) reads BGR, converts it with COLOR_RGBA2BGR (which swaps the
    # channels of a 3-channel image) and swaps them again in blobFromImage: the model sees the
    # planes in B, G, R order. From RGB pixels, reversing the channels gives the same planes.
    planes = np.ascontiguousarray(resized[..., ::-1].transpose(0, 3, 1, 2), dtype=np.float32)
    planes *= np.float32(1 / 255.0)
    return planes


def _decode(output: np.ndarray, width: int, height: int) -> list[tuple[str, float, tuple]]:
    """NudeNet's ``_postprocess`` for one image's (22, 2100) output, vectorised."""
    import cv2

    rows = output.T  # (candidates, 4 box values + 18 class scores)
    class_scores = rows[:, 4:]
    best = class_scores.max(axis=1)
    keep = best >= CANDIDATE_SCORE
    if not keep.any():
        return []
    rows, best = rows[keep], best[keep]
    class_ids = class_scores[keep].argmax(axis=1)
    side = max(width, height)  # the padded square NudeNet resized to 320
    scale = side / INPUT_SIZE
    w = rows[:, 2] * scale
    h = rows[:, 3] * scale
    x = np.clip((rows[:, 0] - rows[:, 2] / 2) * scale, 0, width)
    y = np.clip((rows[:, 1] - rows[:, 3] / 2) * scale, 0, height)
    w = np.minimum(w, width - x)
    h = np.minimum(h, height - y)
    boxes = np.stack([x, y, w, h], axis=1)
    indices = cv2.dnn.NMSBoxes(boxes.tolist(), best.tolist(), NMS_SCORE, NMS_IOU)
    found = []
    for index in np.asarray(indices, dtype=int).reshape(-1):
        bx, by, bw, bh = boxes[index]
        found.append(
            (
                NUDENET_LABELS[class_ids[index]],
                float(best[index]),
                (int(bx), int(by), int(bw), int(bh)),
            )
        )
    return found


def _judge(
    found: list[tuple[str, float, tuple]], rules: Mapping[str, NudeNetRule]
) -> NudeNetResult:
    detections = []
    verdicts = [PASS]
    reasons = []
    for label, score, box in found:
        rule = rules.get(label, NudeNetRule(1.0, IGNORE))
        detection = Detection(label, score, box, rule.threshold, rule.action)
        detections.append(detection)
        if detection.triggered and rule.action in (FAIL, FLAG):
            verdicts.append(rule.action)
            reasons.append(
                f"NudeNet found {label} at {score:.2f} \N{GREATER-THAN OR EQUAL TO} "
                f"{rule.threshold:.2f} ({rule.action})"
            )
    return NudeNetResult(tuple(detections), worst_verdict(verdicts), tuple(reasons))


def detect_nudity(
    images: Sequence[Image.Image],
    rules: Mapping[str, NudeNetRule] = DEFAULT_NUDENET_RULES,
    *,
    batch_size: int = ONNX_BATCH,
    threads: int | None = None,
) -> list[NudeNetResult]:
    """Run NudeNet on ``images`` (PIL) in batches of ``batch_size``; one result per image.

    ``rules`` maps class names to ``NudeNetRule``; a class without a rule is reported and
    ignored. ``threads`` is onnxruntime's intra-op thread count (default: every core).
    """
    images = as_rgb_images(images)
    unknown = set(rules) - set(NUDENET_LABELS)
    if unknown:
        raise ValueError(f"NudeNet has no class {', '.join(sorted(unknown))}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    session = _session(threads)
    input_name = session.get_inputs()[0].name
    results = []
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        (output,) = session.run(None, {input_name: _blob(chunk)})
        for image, image_output in zip(chunk, output, strict=True):
            results.append(_judge(_decode(image_output, image.width, image.height), rules))
    return results


def rule_table(rules: Mapping[str, NudeNetRule]) -> dict[str, dict[str, Any]]:
    """The rules as JSON-ready data (stored with the results, so a verdict can be re-read)."""
    return {name: asdict(rule) for name, rule in sorted(rules.items())}
