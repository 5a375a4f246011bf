"""Face detector: MediaPipe's BlazeFace, run by the model runtime. One object, one verb::

    faces = FaceDetector(model="full").detect(frame)   # frame: HxWx3 uint8 BGR -> list[Face], best first

"full" (full range, 192x192 input, ~6.5 ms in LiteRT on a 2-core AVX2 CPU) finds faces up to a few metres away
and, on the webcam clip, took nothing else for a face; "short" (short range, 128x128, ~2.4 ms) is for faces
within about 2 m of the camera and took a skull print on a T-shirt for a face (../shared/README.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..segment.models import BUNDLED_MODELS_DIR, PEOPLE_MODELS, verified_path
from ..segment.runtime import TFLiteModel
from .anchors import decode, letterbox, ssd_anchors, weighted_nms

# model name -> (file, input side, anchor strides, anchors per layer, MediaPipe's score threshold)
FACE_MODELS = {
    "short": ("face_detection_short_range.tflite", 128, (8, 16, 16, 16), 2, 0.5),
    "full": ("face_detection_full_range_dense.tflite", 192, (4,), 1, 0.6),
}


@dataclass(frozen=True)
class Face:
    """One face in frame pixels.

    box: (x0, y0, x1, y1) float; score: in (0, 1]; keypoints: 6x2 float32 (x, y) — right eye, left eye, nose tip,
    mouth centre, right ear tragion, left ear tragion (the person's right and left).
    """

    box: tuple[float, float, float, float]
    score: float
    keypoints: np.ndarray

    @property
    def centre(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]


class FaceDetector:
    """detect(frame: HxWx3 uint8 BGR) -> list[Face] in frame pixels, best score first."""

    def __init__(
        self,
        model: str = "full",
        min_score: float | None = None,
        model_dir: str | Path | None = None,
        runtime: str | None = None,
        threads: int | None = None,
    ) -> None:
        if model not in FACE_MODELS:
            raise ModelError(f"face model must be one of {', '.join(FACE_MODELS)}, not {model!r}")
        self.model = model
        name, self.input_side, strides, per_layer, default_score = FACE_MODELS[model]
        folder = Path(model_dir or os.environ.get("PRIVACY_FILTER_MODEL_DIR") or BUNDLED_MODELS_DIR)
        path = verified_path(folder / name, PEOPLE_MODELS[name], "face detection model")
        kwargs = {} if threads is None else {"threads": threads}
        self._model = TFLiteModel(path, runtime=runtime, **kwargs)
        self.runtime = self._model.runtime
        self.min_score = default_score if min_score is None else min_score
        self._anchors = ssd_anchors(self.input_side, strides, per_layer)
        # The two outputs by shape, whatever the file calls them: boxes Nx16, score logits Nx1.
        self._names = self._model.output_names

    def describe(self) -> str:
        """What runs, for the startup line and the ``f`` overlay: "faces full range 192x192 on LiteRT, 1 thread"."""
        side = self.input_side
        return f"faces {self.model} range {side}x{side} on {self._model.describe()}"

    def detect(self, frame: np.ndarray) -> list[Face]:
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"detect: expected HxWx3 uint8 BGR, got {frame.shape} {frame.dtype}")
        tensor, placement = letterbox(frame, self.input_side, fast=True)
        outputs = self._model.run(tensor)
        boxes = next(v for v in outputs.values() if v.shape[-1] == 16)
        logits = next(v for v in outputs.values() if v.shape[-1] == 1)
        found = weighted_nms(decode(boxes, logits, self._anchors, self.input_side, self.min_score))
        height, width = frame.shape[:2]
        faces = []
        for box, keypoints, score in zip(found.boxes, found.keypoints, found.scores, strict=True):
            corners = placement.to_frame(box.reshape(2, 2))
            x0, y0 = np.clip(corners[0], 0, [width, height])
            x1, y1 = np.clip(corners[1], 0, [width, height])
            if x1 - x0 < 1 or y1 - y0 < 1:
                continue
            box_px = (float(x0), float(y0), float(x1), float(y1))
            faces.append(Face(box_px, float(score), placement.to_frame(keypoints)))
        return faces
