"""Compositor: the sharp person over the processed background, through a soft alpha matte.

out = alpha * frame + (1 - alpha) * background, per pixel and channel. The weighting is done in 8 bits:
the matte is quantised once to 0..255 and the two products are ``cv2.multiply`` with a 1/255 scale, which
OpenCV runs as vectorised, multithreaded uint8 loops. That is about 3x faster than ``cv2.blendLinear``
on float weights (0.3 ms against 0.8 ms at 640x480, 0.8 against 2.1 ms at 1280x720 on a 2-core box) and
far faster than float numpy. The error is at most 2 grey levels; alpha 0 gives the background and alpha 1
the frame exactly. Only the box around the person is touched, and in it only the soft band (0 < alpha < 1) is
blended: elsewhere the frame is copied (benchmarks/RESULTS.md, "Compositing budget").
"""

from __future__ import annotations

import cv2
import numpy as np

from .effects import take_fresh
from .matte import support_of

BAND_SHARE = 0.15  # above this share of the box in the soft ramp, blend the whole box (gathering costs more)


class Compositor:
    """blend(frame: HxWx3 uint8 BGR, background: HxWx3 uint8 BGR, alpha: HxW float32 [0,1] or uint8 0..255)
    -> HxWx3 uint8 BGR (a new array each call, so callers may keep it: a copy of background, or the background
    itself when an effect made it for this call, ``effects.take_fresh``).

    Scratch buffers are allocated once per frame size and reused; one Compositor is not meant to be used
    from two threads at once. Alpha outside [0, 1] is clipped and NaN counts as 0 (background): a bad
    matte can hide the person, never show more of the frame (NaN and infinities count as 0 too).
    """

    def __init__(self) -> None:
        self._shape: tuple[int, ...] | None = None

    def _buffers(self, shape: tuple[int, ...]) -> None:
        if self._shape == shape:
            return
        self._shape = shape
        height, width = shape[:2]
        self._alpha8 = np.empty((height, width), np.uint8)

    def alpha8(self, alpha: np.ndarray) -> np.ndarray:
        """alpha: HxW float32 [0,1] -> HxW uint8 0..255 (rounded; an internal buffer, reused next call)."""
        if alpha.dtype == np.uint8:
            return alpha
        if alpha.dtype != np.float32:
            alpha = alpha.astype(np.float32)
        # One pass: saturate(255 a + 0 a) to 8 bits. Negative values saturate to 0, and NaN (also inf * 0) converts
        # to 0 (tests/test_compositor.py): a bad matte hides. Half the cost of threshold + convertScaleAbs at
        # 1280x720 (0.23 vs 0.41 ms, AVX2), the same bytes.
        return cv2.addWeighted(alpha, 255.0, alpha, 0.0, 0.0, dst=self._alpha8, dtype=cv2.CV_8U)

    def blend(self, frame: np.ndarray, background: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        if frame.shape != background.shape or frame.shape[:2] != alpha.shape[:2]:
            raise ValueError(f"blend: frame {frame.shape}, background {background.shape}, alpha {alpha.shape}")
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"blend: expected HxWx3 frames, got {frame.shape}")
        self._buffers(frame.shape)
        # Only the box around the person (alpha > 0) needs blending; elsewhere the output is the background.
        # At 1280x720 a webcam user covers ~40 % of the frame: the three 3-channel products run on that part.
        support = support_of(alpha)
        if support is not None:
            # The refiner's own matte: 0 outside its support box, so only that box goes to 8 bits (the rest of
            # the buffer is stale and never read). Anything written outside it later would count as 0 (hidden).
            x0, y0, x1, y1 = support
            alpha8 = self._alpha8
            x, y, w, h = 0, 0, 0, 0
            if x1 > x0 and y1 > y0:
                inside = alpha[y0:y1, x0:x1]
                cv2.addWeighted(inside, 255.0, inside, 0.0, 0.0, dst=alpha8[y0:y1, x0:x1], dtype=cv2.CV_8U)
                x, y, w, h = cv2.boundingRect(alpha8[y0:y1, x0:x1])
                x, y = x + x0, y + y0
        else:
            alpha8 = self.alpha8(alpha)
            if alpha8 is not self._alpha8:  # a uint8 matte from the caller: copy it, it may be non-contiguous
                np.copyto(self._alpha8, alpha8)
                alpha8 = self._alpha8
            x, y, w, h = cv2.boundingRect(alpha8)
        # A background an effect made for this frame is written into (it becomes the output: one full-size copy
        # less, ~0.1 ms at 640x480 and ~0.5 at 1280x720 on a 2-core AVX2 AMD EPYC); any other is copied.
        out = background if take_fresh(background) else background.copy()
        if w == 0 or h == 0:
            return out
        box = (slice(y, y + h), slice(x, x + w))
        weights = alpha8[box]
        # The matte is mostly exactly 0 or 255 (its soft ramp is a band ~1 % of the box): 255 is the frame
        # exactly, 0 the background. So copy the frame where alpha > 0, then blend only the band (0 < alpha <
        # 255), gathered into a short list of pixels: the same bytes as blending the whole box, for less. A soft
        # matte (a wide band) takes the whole-box path.
        band = nonzero_indices(cv2.inRange(weights, 1, 254))  # flat indices into the box
        if len(band) > BAND_SHARE * w * h:
            self._blend_box(frame[box], background[box], weights, out[box])
            return out
        mixed = None
        if len(band):
            # The band's pixels as flat indices into the frame: np.take on the flat pixel rows is ~4x cheaper than
            # indexing with (rows, columns) (0.025 vs 0.1 ms a gather at 1280x720); views fall back to the latter.
            width = frame.shape[1]
            picked = band + (band // w) * (width - w) + (y * width + x)
            mixed = np.empty((len(band), 1, 3), np.uint8)
            # Gathered before the copy below: out may be the background itself.
            self._blend_box(_pixels(frame, picked)[:, None], _pixels(background, picked)[:, None],
                            alpha8.reshape(-1).take(picked)[:, None], mixed)
        cv2.copyTo(frame[box], weights, out[box])
        if mixed is not None:
            out.reshape(-1, 3)[picked] = mixed[:, 0]  # out is C-contiguous (a copy, or an effect's new array)
        return out

    @staticmethod
    def _blend_box(frame: np.ndarray, background: np.ndarray, alpha8: np.ndarray, out: np.ndarray) -> None:
        """out = round(frame * a / 255) + round(background * (255 - a) / 255), saturated: frame, background, out
        hxwx3 uint8, a = alpha8 hxw uint8 (views are fine: OpenCV writes into out in place)."""
        weight = cv2.cvtColor(alpha8, cv2.COLOR_GRAY2BGR)
        inverse = cv2.bitwise_not(weight)
        front = cv2.multiply(frame, weight, scale=1.0 / 255.0)
        back = cv2.multiply(background, inverse, scale=1.0 / 255.0)
        # The two rounded products can sum to 256 at most; cv2.add saturates to 255.
        cv2.add(front, back, dst=out)


def _pixels(image: np.ndarray, flat: np.ndarray) -> np.ndarray:
    """image (HxWx3) pixels at flat indices (row * W + column) -> Nx3, a copy."""
    if image.flags.c_contiguous:
        return image.reshape(-1, 3).take(flat, axis=0)
    rows, columns = np.divmod(flat, image.shape[1])
    return image[rows, columns]


def nonzero_indices(mask: np.ndarray) -> np.ndarray:
    """Flat indices (int64, ascending) of the non-zero pixels of mask (hxw uint8, C-contiguous).

    A thin band is ~1 % of the box: the mask is scanned 8 bytes at a time and only the non-zero words are looked
    at pixel by pixel. cv2.findNonZero costs ~5x more (0.6 ms for a 1280x720 webcam box, AVX2 AMD EPYC).
    """
    flat = mask.reshape(-1)
    whole = flat.size // 8 * 8
    packed = flat[:whole].view(np.uint64)
    words = np.nonzero(packed != 0)[0]  # (bool nonzero: numpy's fast path)
    byte = np.nonzero(packed[words].view(np.uint8) != 0)[0]  # the words' bytes, in memory order
    found = words[byte >> 3] * 8 + (byte & 7)
    if whole == flat.size:
        return found
    return np.concatenate((found, np.flatnonzero(flat[whole:]) + whole))


def blend(frame: np.ndarray, background: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Stateless form of ``Compositor.blend`` (same contract; allocates its buffers every call)."""
    return Compositor().blend(frame, background, alpha)
