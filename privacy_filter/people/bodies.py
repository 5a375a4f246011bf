"""Bodies: MediaPipe's pose detector and pose_landmark (lite), for one person's own mask. Two verbs::

    bodies = BodyMasker()                   # pose detector + pose_landmark full (bundled in models/)
    found = bodies.detect(frame)            # frame: HxWx3 uint8 BGR -> list[Body], best score first
    mask = bodies.mask(frame, found[0])     # -> HxW float32 in [0, 1]: THAT person (touching neighbours left out)

The selfie map draws everybody as one region where people touch; pose_landmark, given the crop MediaPipe's
pose graph would give it (centred on the hip centre, 1.25 x twice the distance hip centre -> body-size point,
rotated so the body is upright), returns one person's mask. The detector finds bodies from the face-ish region
down, so a person is found even where a face is not, and its keypoints give the full-body ROI.
Cost (LiteRT, 2 threads, 2-core AVX2, ../shared/README.md): detector ~18 ms, pose_landmark full ~20 ms (lite
~14 ms, but its mask took in 91 % of a touching neighbour against 73 % for full), so the people stage runs them
rarely for a lone user and every few frames only while the scene holds more than one person.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import ModelError
from ..segment.models import BUNDLED_MODELS_DIR, PEOPLE_MODELS, verified_path
from ..segment.runtime import TFLiteModel
from .anchors import decode, letterbox, ssd_anchors, weighted_nms

DETECTOR = "pose_detection.tflite"
LANDMARKS = {"lite": "pose_landmark_lite.tflite", "full": "pose_landmark_full.tflite"}
DETECTOR_SIDE = 224
LANDMARK_SIDE = 256
STRIDES = (8, 16, 32, 32, 32)
MIN_SCORE = 0.5  # MediaPipe's pose_detection threshold
ROI_SCALE = 1.25  # MediaPipe's pose_detection_to_roi: the body box grown by this


@dataclass(frozen=True)
class Body:
    """One body in frame pixels: box (x0, y0, x1, y1: the face-ish region the detector anchors on), score,
    keypoints 4x2 float32 (hip centre, a point giving body size and rotation, shoulder centre, a point giving
    the upper body's size)."""

    box: tuple[float, float, float, float]
    score: float
    keypoints: np.ndarray

    def shifted(self, dx: float, dy: float) -> Body:
        """The same body moved by (dx, dy) frame pixels (followed by its face between detections)."""
        step = np.array([dx, dy], np.float32)
        x0, y0, x1, y1 = self.box
        return Body((x0 + dx, y0 + dy, x1 + dx, y1 + dy), self.score, self.keypoints + step)

    def roi(self) -> tuple[tuple[float, float], float, float]:
        """MediaPipe's body ROI: (centre x, y), side (pixels, square), rotation (radians, counter-clockwise
        turn that makes the body upright)."""
        hip, size = self.keypoints[0], self.keypoints[1]
        side = 2.0 * float(np.hypot(*(size - hip))) * ROI_SCALE
        # The vector hip -> size point points up the body; upright is 90 degrees (straight up in the image).
        angle = np.pi / 2 - np.arctan2(-(size[1] - hip[1]), size[0] - hip[0])
        angle = (angle + np.pi) % (2 * np.pi) - np.pi
        return (float(hip[0]), float(hip[1])), side, float(angle)


class BodiesUnavailable(ModelError):
    """The pose models are there and intact, but the runtime cannot run them (cv2.dnn: the pose detector's
    DENSIFY op). The people stage then runs on faces alone, as before the bodies."""


def _model(name: str, model_dir: str | Path | None, runtime: str | None, threads: int | None) -> TFLiteModel:
    folder = Path(model_dir or os.environ.get("PRIVACY_FILTER_MODEL_DIR") or BUNDLED_MODELS_DIR)
    path = verified_path(folder / name, PEOPLE_MODELS[name], "pose model")  # missing or corrupt: ModelError
    kwargs = {} if threads is None else {"threads": threads}
    try:
        return TFLiteModel(path, runtime=runtime, **kwargs)
    except ModelError as error:
        raise BodiesUnavailable(str(error)) from None


class BodyMasker:
    """detect(frame) -> bodies; mask(frame, body) -> that body's HxW float32 mask in [0, 1]."""

    def __init__(self, landmark: str = "full", model_dir: str | Path | None = None, runtime: str | None = None,
                 threads: int | None = None, min_score: float = MIN_SCORE) -> None:
        if landmark not in LANDMARKS:
            raise ModelError(f"pose landmark model must be one of {', '.join(LANDMARKS)}, not {landmark!r}")
        self._detector = _model(DETECTOR, model_dir, runtime, threads)
        self._landmark = _model(LANDMARKS[landmark], model_dir, runtime, threads)
        names = self._landmark.output_names
        # The mask is the one 1x256x256x1 output (MediaPipe's Identity_2), whatever the file calls it.
        self._mask_name = next((n for n in names if n.endswith("_2")), names[2] if len(names) > 2 else names[-1])
        self._anchors = ssd_anchors(DETECTOR_SIDE, STRIDES)
        self.min_score = min_score

    def describe(self) -> str:
        """What runs, for the startup line and the ``f`` overlay: "bodies pose 224x224 + landmarks on LiteRT, ..."."""
        return f"bodies pose {DETECTOR_SIDE}x{DETECTOR_SIDE} + landmarks on {self._landmark.describe()}"

    def detect(self, frame: np.ndarray) -> list[Body]:
        tensor, placement = letterbox(frame, DETECTOR_SIDE)
        outputs = self._detector.run(tensor)
        boxes = next(v for v in outputs.values() if v.shape[-1] == 12)
        logits = next(v for v in outputs.values() if v.shape[-1] == 1)
        found = weighted_nms(decode(boxes, logits, self._anchors, DETECTOR_SIDE, self.min_score))
        bodies = []
        for box, keypoints, score in zip(found.boxes, found.keypoints, found.scores, strict=True):
            corners = placement.to_frame(box.reshape(2, 2))
            points = placement.to_frame(keypoints)
            if not (np.all(np.isfinite(corners)) and np.all(np.isfinite(points))):
                raise ModelError("pose detector returned non-finite values")
            x0, y0 = corners[0]
            x1, y1 = corners[1]
            bodies.append(Body((float(x0), float(y0), float(x1), float(y1)), float(score), points))
        return bodies

    def mask(self, frame: np.ndarray, body: Body) -> np.ndarray:
        """frame: HxWx3 uint8 BGR, body: from ``detect`` -> HxW float32 in [0, 1], that person's mask."""
        height, width = frame.shape[:2]
        (cx, cy), side, angle = body.roi()
        side = max(side, 8.0)
        # Affine map crop -> frame: the crop's x axis along the ROI's rotated x axis.
        cos, sin = np.cos(angle), np.sin(angle)
        s = side / LANDMARK_SIDE
        to_frame = np.array(
            [[cos * s, -sin * s, 0.0], [sin * s, cos * s, 0.0]], np.float64
        )
        half = LANDMARK_SIDE / 2
        to_frame[:, 2] = [cx - (to_frame[0, 0] * half + to_frame[0, 1] * half),
                          cy - (to_frame[1, 0] * half + to_frame[1, 1] * half)]
        crop = cv2.warpAffine(frame, to_frame, (LANDMARK_SIDE, LANDMARK_SIDE),
                              flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT)
        tensor = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32) * np.float32(1.0 / 255.0)
        logits = self._landmark.run(tensor[np.newaxis])[self._mask_name].reshape(LANDMARK_SIDE, LANDMARK_SIDE)
        if not np.all(np.isfinite(logits)):
            raise ModelError("pose_landmark returned a non-finite mask")
        prob = (1.0 / (1.0 + np.exp(-np.clip(logits, -80.0, 80.0)))).astype(np.float32)
        return cv2.warpAffine(prob, to_frame, (width, height), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
