"""Compositor: the sharp person over the processed background, through a soft alpha matte."""

from __future__ import annotations

import cv2
import numpy as np


class Compositor:
    """blend(frame: HxWx3 uint8 BGR, background: HxWx3 uint8 BGR, alpha: HxW float32 [0,1]) -> HxWx3 uint8.

    out = alpha * frame + (1 - alpha) * background, per pixel. ``cv2.blendLinear`` does the weighting in one
    multithreaded pass; the (1 - alpha) buffer is reused between frames of the same size.
    """

    def __init__(self) -> None:
        self._inverse: np.ndarray | None = None

    def blend(self, frame: np.ndarray, background: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        if self._inverse is None or self._inverse.shape != alpha.shape:
            self._inverse = np.empty_like(alpha)
        cv2.subtract(1.0, alpha, dst=self._inverse)
        return cv2.blendLinear(frame, background, alpha, self._inverse)


def blend(frame: np.ndarray, background: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Stateless form of ``Compositor.blend`` (same contract)."""
    return cv2.blendLinear(frame, background, alpha, 1.0 - alpha)
