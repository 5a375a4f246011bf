"""The face veil: another person's face, hidden beyond recognition inside the background, whatever its size.

The background effects hide at a strength set for the room (``--kernel``, relative to the frame's width). A
face that fills a third of the frame keeps its eyes, nose and mouth as shades under that blur, and an ordinary
face detector still finds it (OpenCV's Haar cascade found a face in 35 of 40 close-up portraits blurred whole
at the default kernel 81; benchmarks/RESULTS.md, issue 24). So where the people stage knows a face that is not
kept, the background inside that face's (grown) box is replaced by the box's own background shrunk to a few
cells and enlarged smoothly: the face's colours stay (skin, hair: no flat patch pasted on the picture), its
features do not (a 3x3 grid of means has nothing a face detector can find). The veil is feathered (a
box whose weight falls to 0 at its edges): it draws no rectangle.

It is applied to the background, before the compositor: the kept people come back through the matte as
always, so the veil can never cover what is kept; a ``spare`` box (the user's own face) is left untouched
even where the matte dips. Boxes are plain normalised (x1, y1, x2, y2) tuples: render does not know people.
Cost: only the boxes' pixels, a few vectorised passes over each (benchmarks/RESULTS.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

Box = tuple[float, float, float, float]

CELLS = 3  # the veiled face's background shrinks to CELLS x CELLS means: colour, no features
FEATHER = 0.25  # share of the box's half-size over which the veil's weight falls from 1 to 0 at its edge


def pixel_box(box: Box, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """Normalised (x1, y1, x2, y2) -> pixel (x0, y0, x1, y1) clipped to an image of ``shape`` (H, W, ...)."""
    height, width = shape[:2]
    x0 = min(width, max(0, int(np.floor(box[0] * width))))
    y0 = min(height, max(0, int(np.floor(box[1] * height))))
    x1 = min(width, max(0, int(np.ceil(box[2] * width))))
    y1 = min(height, max(0, int(np.ceil(box[3] * height))))
    return x0, y0, x1, y1


def _ramp(lo: float, hi: float, start: int, stop: int) -> np.ndarray:
    """1-D float32 over pixels start..stop-1: 1 inside [lo, hi] (pixel units, unclipped), falling linearly to 0 at
    its ends over FEATHER of its half-size."""
    half = max(0.5, (hi - lo) / 2)
    distance = np.abs(np.arange(start, stop, dtype=np.float32) + 0.5 - (lo + hi) / 2) / half  # 0 centre, 1 end
    return np.clip((1.0 - distance) / FEATHER, 0.0, 1.0)


def _weight(box: Box, shape: tuple[int, ...], region: tuple[int, int, int, int]) -> np.ndarray:
    """hxw float32 in [0, 1] over ``region`` (pixels, inside the box clipped): 1 inside, falling to 0 at the box's
    edge over FEATHER of its half-size (a product of two ramps: soft sides, softer corners). Computed on the whole
    (unclipped) box, so a face the frame's edge cuts stays veiled up to that edge."""
    height, width = shape[:2]
    x0, y0, x1, y1 = region
    across = _ramp(box[0] * width, box[2] * width, x0, x1)
    down = _ramp(box[1] * height, box[3] * height, y0, y1)
    return np.outer(down, across)


def veil_faces(background: np.ndarray, boxes: Sequence[Box], spare: Sequence[Box] = ()) -> np.ndarray:
    """Veil each box of ``background`` in place and return it.

    background: HxWx3 uint8 BGR (or HxW uint8), written into (the caller's own array: an effect's fresh output).
    boxes: normalised (x1, y1, x2, y2): the grown boxes of the faces to hide. spare: normalised boxes never
    written (the user's own face). Only the boxes' pixels are read and written.
    """
    for box in boxes:
        x0, y0, x1, y1 = pixel_box(box, background.shape)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        region = background[y0:y1, x0:x1]
        cells = cv2.resize(region, (CELLS, CELLS), interpolation=cv2.INTER_AREA)
        fill = cv2.resize(cells, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        weight = _weight(box, background.shape, (x0, y0, x1, y1))
        for keep in spare:
            # The user's face inside this box: weight 0 there (the box and the spare box overlap at most).
            a0, b0, a1, b1 = pixel_box(keep, background.shape)
            weight[max(0, b0 - y0):max(0, b1 - y0), max(0, a0 - x0):max(0, a1 - x0)] = 0.0
        # (w * fill + (1 - w) * region) in OpenCV's vectorised uint8 loop, written back into the box.
        region[...] = cv2.blendLinear(fill, region, weight, 1.0 - weight)
    return background
