"""Helpers for the privacy tests: real frames with ground-truth person masks, and the measure of whether an
output shows the room.

The footage is DAVIS ``lucia`` (one person, no bystanders; ../shared/eval/davis2016_person): with its true
person masks a test can tell, pixel by pixel, whether an output frame shows the room outside the person.
"""

from __future__ import annotations

import cv2
import numpy as np
from conftest import EVAL

DAVIS = EVAL / "davis2016_person"
SEQUENCE = "lucia"  # one person, no bystanders: the healthy filter hides > 99.5 % of the background here


def davis(count: int, sequence: str = SEQUENCE) -> list[tuple[np.ndarray, np.ndarray]]:
    """(frame HxWx3 uint8 BGR, true person HxW bool) for the first ``count`` frames of the sequence."""
    images = sorted((DAVIS / "images" / sequence).glob("*.jpg"))[:count]
    assert len(images) == count, f"{DAVIS / 'images' / sequence} has fewer than {count} frames"
    pairs = []
    for path in images:
        truth = cv2.imread(str(DAVIS / "masks" / sequence / f"{path.stem}.png"), cv2.IMREAD_GRAYSCALE) > 127
        pairs.append((cv2.imread(str(path)), truth))
    return pairs


def shows_the_room(output: np.ndarray, frame: np.ndarray, hidden: np.ndarray, truth: np.ndarray) -> float:
    """Fraction of the background (well away from the true person) where the output is nearer the raw frame
    than the hidden one, among the pixels where the two clearly differ (detail the blur removes).

    output, frame, hidden: HxWx3 uint8 BGR (hidden = the effect applied to the whole frame); truth: HxW bool.
    """
    away = cv2.erode((~truth).astype(np.uint8), np.ones((41, 41), np.uint8)) > 0
    raw, out, hid = (a.astype(np.int16) for a in (frame, output, hidden))
    detail = np.abs(raw - hid).max(axis=2) > 25
    region = away & detail
    nearer_raw = np.abs(out - raw).sum(axis=2) < np.abs(out - hid).sum(axis=2)
    return float((nearer_raw & region).sum()) / max(int(region.sum()), 1)


def mostly_black(picture: np.ndarray) -> bool:
    """picture: HxWx3 uint8. Black but for a line of text at most (the camera-lost notice)."""
    return float((picture.max(axis=2) > 40).mean()) < 0.02
