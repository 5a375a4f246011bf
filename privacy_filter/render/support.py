"""Where a full-size matte can be > 0, and enlarging a work-grid plane only around that box.

The matte refiner (``matte.MatteRefiner``) computes its linear model on a small work grid and applies it at the
frame's size. Most of a webcam frame is room, where the matte is exactly 0: ``support_box`` bounds the box where
it can be > 0 from the work-grid coefficients alone, and ``enlarge_around`` enlarges a plane only there, so the
full-size passes cost the person's box, not the frame. Arrays: planes and sources hxw float32 (work grid);
destinations HxW float32 (frame size); boxes (x0, y0, x1, y1) in pixels of the destination.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

MARGIN = 3  # pixels around support_box's box (rounding; see MatteRefiner.refine's enlargement of the apply grid)


def support_box(planes: Sequence[np.ndarray], sharpen: float, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The box (x0, y0, x1, y1) of a (w, h) = size grid outside which the colour-guided matte is 0 for any frame.

    planes: the work grid's [a_0, a_1, a_2, b] (``color_guided_planes``, guide colours in [0, 1]). On the work
    grid the largest value the linear model can take, over all colours, is b + sum_c max(a_c, 0); a pixel of
    ``size`` interpolates (bilinear) the models of its 2x2 work-grid neighbours, so it stays <= the largest of
    theirs. Where that bound gives sharpen * (bound - 0.5) + 0.5 <= 0 (with a margin for float rounding)
    the clip makes the matte exactly 0. Returns the box of the rest, widened by MARGIN pixels of ``size``;
    (0, 0, 0, 0) when nothing can be > 0. NaN coefficients count as 0 (hidden), as the final clip does.
    """
    a0, a1, a2, b = planes
    bound = b + np.maximum(a0, 0.0) + np.maximum(a1, 0.0) + np.maximum(a2, 0.0)
    mask = (bound > 0.5 - 0.5 / sharpen - 1e-3).astype(np.uint8)
    x, y, w, h = cv2.boundingRect(mask)
    if w == 0 or h == 0:
        return 0, 0, 0, 0
    grid_h, grid_w = mask.shape
    rx, ry = size[0] / grid_w, size[1] / grid_h
    # A pixel X of ``size`` reads work-grid pixels floor(sX) and floor(sX) + 1, sX = (X + 0.5) / r - 0.5: it can
    # be > 0 only if sX is in [x - 1, x + w).
    x0 = max(0, math.floor((x - 0.5) * rx - 0.5) - MARGIN)
    y0 = max(0, math.floor((y - 0.5) * ry - 0.5) - MARGIN)
    x1 = min(size[0], math.ceil((x + w + 0.5) * rx - 0.5) + MARGIN)
    y1 = min(size[1], math.ceil((y + h + 0.5) * ry - 0.5) + MARGIN)
    return x0, y0, x1, y1


def enlarge_around(src: np.ndarray, dst: np.ndarray, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """Write the bilinear enlargement of src (hxw float32) to dst's size (HxW) into dst around box = (x0, y0, x1,
    y1); returns the region (x0, y0, x1, y1) to use, which contains box. dst[box] is exactly the whole
    enlargement's box; dst[region] outside box reads only src pixels next to the box's.

    When H and W are integer multiples of h and w, only the src pixels the box reads, plus one on each side, are
    enlarged, straight into dst (inside the box the same source positions and weights as the whole
    enlargement; the region's outer half-pixel ring reads the edge pixel only); the region is their footprint.
    Otherwise the whole of dst is written and the region is the box. dst outside the region is left as it was
    or overwritten: the caller clears it.
    """
    height, width = dst.shape[:2]
    grid_h, grid_w = src.shape[:2]
    x0, y0, x1, y1 = box
    if not enlarges_region(src, dst) or (x0, y0, x1, y1) == (0, 0, width, height):
        cv2.resize(src, (width, height), dst=dst, interpolation=cv2.INTER_LINEAR)
        return box
    sx, sy = width // grid_w, height // grid_h
    k0, k1 = max(0, x0 // sx - 1), min(grid_w, -(-x1 // sx) + 1)
    l0, l1 = max(0, y0 // sy - 1), min(grid_h, -(-y1 // sy) + 1)
    region = (k0 * sx, l0 * sy, k1 * sx, l1 * sy)
    # Into the view itself: OpenCV writes row-strided views in place (no part buffer, no copy).
    cv2.resize(src[l0:l1, k0:k1], (region[2] - region[0], region[3] - region[1]),
               dst=dst[region[1]:region[3], region[0]:region[2]], interpolation=cv2.INTER_LINEAR)
    return region


def enlarges_region(src: np.ndarray, dst: np.ndarray) -> bool:
    """Whether ``enlarge_around(src, dst, box)`` writes only its region (else all of dst, for a box not the
    whole of it)."""
    return dst.shape[0] % src.shape[0] == 0 and dst.shape[1] % src.shape[1] == 0


def zero_outside(image: np.ndarray, box: tuple[int, int, int, int]) -> None:
    """Set image (HxW or HxWxC) to 0 outside box = (x0, y0, x1, y1), in place."""
    x0, y0, x1, y1 = box
    image[:y0] = 0.0
    image[y1:] = 0.0
    image[y0:y1, :x0] = 0.0
    image[y0:y1, x1:] = 0.0
