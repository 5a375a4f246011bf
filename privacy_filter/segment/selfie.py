"""Segmenter: Google's MediaPipe selfie-segmentation model, run by the model runtime (LiteRT, or cv2.dnn).

One object, one verb (as MediaPipe's ``SelfieSegmentation(model_selection=1).process(rgb)``)::

    segmenter = SelfieSegmenter(model_selection=1)
    probability = segmenter.process(frame)  # frame: HxWx3 uint8 BGR -> hxw float32 in [0, 1]

The model segments every person in view as one map; splitting it into people is ``selection``'s job.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import ModelError
from .models import BUNDLED_MODELS_DIR, SELFIE_MODELS, verified_path
from .runtime import TFLiteModel

# model_selection as in MediaPipe: 0 = "general" (256x256), 1 = "landscape" (256x144, faster).
MODEL_FILES = {0: "selfie_segmentation.tflite", 1: "selfie_segmentation_landscape.tflite"}
MODEL_NAMES = {0: "general", 1: "landscape"}


class SelfieSegmenter:
    """Person probability map for a frame.

    process(frame: HxWx3 uint8 BGR) -> hxw float32 in [0, 1], where (w, h) is the model's input size
    ((256, 144) for model_selection=1, (256, 256) for 0); the map spans the whole frame (stretched).
    """

    def __init__(self, model_selection: int = 1, model_dir: str | Path | None = None,
                 runtime: str | None = None) -> None:
        if model_selection not in MODEL_FILES:
            raise ModelError(f"model_selection must be 0 or 1, not {model_selection}")
        name = MODEL_FILES[model_selection]
        sha256, self.input_size = SELFIE_MODELS[name]
        path = verified_path(
            Path(model_dir or BUNDLED_MODELS_DIR) / name, sha256, "selfie segmentation model"
        )
        try:
            self._model = TFLiteModel(path, runtime=runtime)
        except ModelError as exc:
            raise ModelError(f"cannot load selfie segmentation model {path}: {exc}") from None
        self.model_selection = model_selection
        self.runtime = self._model.runtime
        (self._output_name,) = self._model.output_names[:1]

    def describe(self) -> str:
        """What runs, for the startup line and the ``f`` overlay: "selfie landscape 256x144 on LiteRT, 1 thread"."""
        width, height = self.input_size
        return f"selfie {MODEL_NAMES[self.model_selection]} {width}x{height} on {self._model.describe()}"

    @property
    def output_size(self) -> tuple[int, int]:
        """(width, height) of the probability maps ``process`` returns."""
        return self.input_size

    def process(self, frame: np.ndarray) -> np.ndarray:
        """frame: HxWx3 uint8 BGR -> hxw float32 person probability in [0, 1] (model grid)."""
        return self.infer(self.preprocess(frame))

    # process() in two steps, so that a benchmark can time them apart without reaching inside.
    def preprocess(self, frame: np.ndarray) -> np.ndarray:
        """frame: HxWx3 uint8 BGR -> the model's input, 1xhxwx3 float32 RGB in [0, 1] (NHWC)."""
        small = cv2.resize(frame, self.input_size, interpolation=cv2.INTER_LINEAR)
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        return (rgb.astype(np.float32) * np.float32(1.0 / 255.0))[np.newaxis]

    def infer(self, blob: np.ndarray) -> np.ndarray:
        """input from ``preprocess`` -> hxw float32 person probability (model grid)."""
        output = self._model.run(blob)[self._output_name]
        probability = output.reshape(self.input_size[1], self.input_size[0])
        # A NaN must never count as "person": the caller treats a bad map as a failure.
        return probability.astype(np.float32, copy=False)
