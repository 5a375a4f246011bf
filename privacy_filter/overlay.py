"""Text drawn over the preview: FPS, help, and the camera-lost screen."""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np


def draw_lines(frame: np.ndarray, lines: Iterable[str], origin: tuple[int, int] = (10, 24)) -> np.ndarray:
    """Write lines of text on a copy of frame (HxWx3 uint8 BGR), white on a dark outline for contrast."""
    out = frame.copy()
    x, y = origin
    for line in lines:
        cv2.putText(out, line, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(out, line, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
        y += 22
    return out


def lost_screen(size: tuple[int, int], message: str) -> np.ndarray:
    """A black (W, H) = size frame that says what is wrong: shown instead of any picture of the room."""
    frame = np.zeros((size[1], size[0], 3), np.uint8)
    return draw_lines(frame, [message], origin=(10, size[1] // 2))
