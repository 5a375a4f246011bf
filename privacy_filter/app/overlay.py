"""Text drawn over the preview: FPS, help, and the camera-lost screen."""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

FONT, SCALE, LINE_HEIGHT = cv2.FONT_HERSHEY_SIMPLEX, 0.55, 22


def draw_lines(frame: np.ndarray, lines: Iterable[str], origin: tuple[int, int] = (10, 24)) -> np.ndarray:
    """Write lines of text on a copy of frame (HxWx3 uint8 BGR): white on a darkened panel, readable on any
    background. (An outline drawn as thicker dark text does not line up: Hershey glyphs advance by their
    stroke thickness, so the two strings drift apart.)"""
    out = frame.copy()
    x, y = origin
    lines = fit_lines(lines, out.shape[1] - x - 6)
    if not lines:
        return out
    width = max(cv2.getTextSize(line, FONT, SCALE, 1)[0][0] for line in lines)
    top, left = max(0, y - 17), max(0, x - 6)
    bottom = min(out.shape[0], y + LINE_HEIGHT * (len(lines) - 1) + 8)
    right = min(out.shape[1], x + width + 6)
    if bottom > top and right > left:
        out[top:bottom, left:right] = cv2.convertScaleAbs(out[top:bottom, left:right], alpha=0.35)
    for line in lines:
        cv2.putText(out, line, (x, y), FONT, SCALE, (255, 255, 255), 1, cv2.LINE_AA)
        y += LINE_HEIGHT
    return out


def fit_lines(lines: Iterable[str], width: int) -> list[str]:
    """The lines, each longer than ``width`` pixels broken at spaces into as many as it takes (a word longer
    than the width stays whole): the model line is longer than a 640-px picture is wide."""
    fitted: list[str] = []
    for line in lines:
        words, current = line.split(" "), ""
        for word in words:
            candidate = f"{current} {word}" if current else word
            if current and cv2.getTextSize(candidate, FONT, SCALE, 1)[0][0] > width:
                fitted.append(current)
                current = "  " + word  # continuation lines indented: one line of text, wrapped
            else:
                current = candidate
        fitted.append(current)
    return fitted


def lost_screen(size: tuple[int, int], message: str) -> np.ndarray:
    """A black (W, H) = size frame that says what is wrong: shown instead of any picture of the room."""
    frame = np.zeros((size[1], size[0], 3), np.uint8)
    return draw_lines(frame, [message], origin=(10, size[1] // 2))


def mark_kept(frame: np.ndarray, selector: object) -> np.ndarray:
    """The ``f`` overlay's "who is kept": a green box round the user's face and round each face clicked in
    (``UserSelector._user_face``, ``kept_faces``: normalised boxes). frame: HxWx3 uint8 BGR -> a marked copy."""
    faces = [getattr(selector, "_user_face", None), *getattr(selector, "kept_faces", [])]
    faces = [face for face in faces if face is not None]
    if not faces:
        return frame
    height, width = frame.shape[:2]
    marked = frame.copy()
    for x0, y0, x1, y1 in faces:
        cv2.rectangle(marked, (round(x0 * width), round(y0 * height)), (round(x1 * width), round(y1 * height)),
                      (0, 200, 0), 2)
    return marked
