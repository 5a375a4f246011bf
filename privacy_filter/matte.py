"""Matte refinement: turn a coarse person map into a smooth, stable full-resolution alpha matte.

The seed pasted a thresholded 15x15 mask (jagged edges) and itself suggested the fix: interpolate, feather,
alpha-blend. Here, per frame (``MatteRefiner.refine``):

1. **Work grid.** The coarse map (the segmenter's grid, e.g. 256x144) and the frame's grey levels are resized
   to a small grid with the frame's aspect ratio (long side ``work_size``, 320 by default). Everything costly
   happens there.
2. **Temporal smoothing** (on the work grid). An exponential moving average whose weight rises to 1 where the
   frame itself changed: a still scene keeps a steady matte (the model's frame-to-frame jitter is averaged
   away), while a moving person is followed at once (no smear, no ghost).
3. **Edges: fast guided filter** (He et al., *Guided Image Filtering*, TPAMI 2013; He & Sun, *Fast Guided
   Filter*, 2015). On the work grid, fit in every window a linear model alpha ~ a * grey + b; then resize only
   the coefficients a, b to the frame and apply them to the full-resolution grey frame. The matte edge snaps
   to the frame's real edges (hair, shoulders) at full-resolution detail, for the price of two resizes and a
   multiply-add at full size. Box filters are ``cv2.blur`` (``cv2.ximgproc`` is not in opencv-python).
4. **Contrast and feather.** ``sharpen`` steepens the soft ramp around alpha = 0.5 (it never moves the 0.5
   contour), folded into a and b for free; an optional box ``feather_px`` and ``grow_px`` dilation follow.

Full-size work is about 8 cheap passes over an HxW float32 image, all into preallocated buffers.
"""

from __future__ import annotations

import cv2
import numpy as np


def upsample(alpha: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """alpha: hxw float32 [0,1] -> HxW float32 [0,1] with (W, H) = size, bilinear."""
    if alpha.shape[1] == size[0] and alpha.shape[0] == size[1]:
        return alpha
    return cv2.resize(alpha, size, interpolation=cv2.INTER_LINEAR)


def feather(alpha: np.ndarray, grow_px: int, feather_px: int) -> np.ndarray:
    """Grow the person by ``grow_px`` and soften its edge over ``feather_px`` pixels.

    alpha: HxW float32 [0,1] -> HxW float32 [0,1].
    """
    out = alpha
    if grow_px > 0:
        out = cv2.dilate(out, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow_px + 1,) * 2))
    if feather_px > 0:
        out = cv2.blur(out, (2 * feather_px + 1,) * 2)
    return np.clip(out, 0.0, 1.0, out=out if out is not alpha else None)


def work_grid(frame_hw: tuple[int, int], work_size: int) -> tuple[int, int]:
    """(w, h) of the refinement grid: the frame shrunk so that its long side is at most ``work_size``."""
    height, width = frame_hw
    scale = max(1.0, max(height, width) / float(work_size))
    return max(1, round(width / scale)), max(1, round(height / scale))


def _box(image: np.ndarray, radius: int, dst: np.ndarray | None = None) -> np.ndarray:
    # Mean over a (2r+1)^2 window; reflecting borders keep the mean unbiased at the frame edge.
    return cv2.blur(image, (2 * radius + 1, 2 * radius + 1), dst=dst, borderType=cv2.BORDER_REFLECT)


def guided_coefficients(
    guide: np.ndarray, source: np.ndarray, radius: int, eps: float
) -> tuple[np.ndarray, np.ndarray]:
    """Grey-guided filter coefficients (mean a, mean b) so that the filtered source is a * guide + b.

    guide, source: hxw float32 (guide in [0, 1]); radius: window radius in pixels of this grid; eps: the
    regulariser (a variance, in guide units squared): windows whose guide varies less than ~sqrt(eps) are
    smoothed, windows with a stronger edge pass it into the output. Returns two hxw float32 arrays.
    """
    mean_i = _box(guide, radius)
    mean_p = _box(source, radius)
    corr_ip = _box(guide * source, radius)
    var_i = _box(guide * guide, radius) - mean_i * mean_i
    a = (corr_ip - mean_i * mean_p) / (var_i + eps)
    b = mean_p - a * mean_i
    return _box(a, radius), _box(b, radius)


def guided_filter(guide: np.ndarray, source: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Plain (single-scale) grey guided filter: hxw float32 guide in [0, 1], hxw source -> hxw float32."""
    a, b = guided_coefficients(guide, source, radius, eps)
    return a * guide + b


class MatteRefiner:
    """refine(alpha: hxw float32 [0,1] on any grid, frame: HxWx3 uint8 BGR) -> HxW float32 [0,1].

    Stateful across frames (temporal smoothing); call ``reset()`` when the source jumps (new clip, seek,
    privacy toggled back on). The returned array is an internal buffer, reused by the next call: copy it
    to keep it.

    Parameters (defaults chosen on the eval sets, see benchmarks/RESULTS.md "Quality"):
        guided: snap the edge to the frame with the fast guided filter; False = bilinear upsampling only.
        work_size: long side, in pixels, of the grid the filter and the smoothing run on.
        radius: guided filter window radius on the work grid (x full-size/work_size in frame pixels).
        eps: guided filter regulariser (grey levels in [0, 1], squared).
        sharpen: slope of the final ramp around 0.5 (1 = as filtered; larger = crisper edge).
        temporal: smooth over time.
        still_weight: EMA weight of the new frame where the frame did not change (0 < w <= 1; lower = steadier).
        motion_gain: how fast the weight rises to 1 with the grey-level change (per unit of [0, 1] grey).
        grow_px, feather_px: optional dilation and box feather at full size (0 = off).
    """

    def __init__(
        self,
        guided: bool = True,
        work_size: int = 320,
        radius: int = 4,
        eps: float = 1e-3,
        sharpen: float = 1.0,
        temporal: bool = True,
        still_weight: float = 0.35,
        motion_gain: float = 12.0,
        grow_px: int = 0,
        feather_px: int = 0,
    ) -> None:
        if not 0.0 < still_weight <= 1.0:
            raise ValueError(f"still_weight must be in (0, 1], not {still_weight}")
        self.guided = guided
        self.work_size = int(work_size)
        self.radius = int(radius)
        self.eps = float(eps)
        self.sharpen = float(sharpen)
        self.temporal = temporal
        self.still_weight = float(still_weight)
        self.motion_gain = float(motion_gain)
        self.grow_px = int(grow_px)
        self.feather_px = int(feather_px)
        self._shape: tuple[int, int] | None = None
        self.reset()

    def reset(self) -> None:
        """Forget any state carried between frames (call when the source jumps)."""
        self._previous_alpha: np.ndarray | None = None
        self._previous_grey: np.ndarray | None = None

    def _buffers(self, height: int, width: int) -> None:
        # Full-size buffers are allocated once per frame size: the hot path then only writes into them.
        if self._shape == (height, width):
            return
        self._shape = (height, width)
        self._grey = np.empty((height, width), np.uint8)
        self._out = np.empty((height, width), np.float32)
        self._b_full = np.empty((height, width), np.float32)
        self.reset()

    def refine(self, alpha: np.ndarray, frame: np.ndarray) -> np.ndarray:
        """alpha: hxw float32 [0,1] (any grid spanning the frame), frame: HxWx3 uint8 BGR -> HxW float32 [0,1]."""
        height, width = frame.shape[:2]
        self._buffers(height, width)
        if alpha.dtype != np.float32:
            alpha = alpha.astype(np.float32)
        if not self.guided and not self.temporal:
            out = upsample(alpha, (width, height))
            return feather(out, self.grow_px, self.feather_px) if self.grow_px or self.feather_px else out

        size = work_grid((height, width), self.work_size)
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY, dst=self._grey) if frame.ndim == 3 else frame
        # INTER_AREA averages the pixels it drops, so the small grey image is not aliased.
        grey_small = cv2.resize(grey, size, interpolation=cv2.INTER_AREA).astype(np.float32)
        grey_small *= 1.0 / 255.0
        coarse = cv2.resize(alpha, size, interpolation=cv2.INTER_LINEAR)
        if self.temporal:
            coarse = self._smooth(coarse, grey_small)

        out = self._out
        if self.guided:
            a, b = guided_coefficients(grey_small, coarse, self.radius, self.eps)
            # Fold the contrast ramp and the 1/255 of the uint8 grey into a, b on the small grid:
            # out = sharpen * (a * grey / 255 + b - 0.5) + 0.5.
            a *= self.sharpen / 255.0
            b = self.sharpen * (b - 0.5) + 0.5
            cv2.resize(a, (width, height), dst=out, interpolation=cv2.INTER_LINEAR)
            cv2.resize(b, (width, height), dst=self._b_full, interpolation=cv2.INTER_LINEAR)
            np.multiply(out, grey, out=out)
            np.add(out, self._b_full, out=out)
        else:
            cv2.resize(coarse, (width, height), dst=out, interpolation=cv2.INTER_LINEAR)
            if self.sharpen != 1.0:
                out -= 0.5
                out *= self.sharpen
                out += 0.5
        if self.grow_px > 0:
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * self.grow_px + 1,) * 2)
            cv2.dilate(out, kernel, dst=out)
        if self.feather_px > 0:
            cv2.blur(out, (2 * self.feather_px + 1,) * 2, dst=out)
        np.clip(out, 0.0, 1.0, out=out)
        return out

    def _smooth(self, coarse: np.ndarray, grey_small: np.ndarray) -> np.ndarray:
        """EMA of the work-grid matte; weight still_weight where the frame is still, 1 where it changed."""
        previous, previous_grey = self._previous_alpha, self._previous_grey
        self._previous_grey = grey_small
        if previous is None or previous.shape != coarse.shape:
            self._previous_alpha = coarse
            return coarse
        # Local grey change, averaged over a small window so that sensor noise does not count as motion.
        change = _box(cv2.absdiff(grey_small, previous_grey), 1)
        weight = cv2.min(change * self.motion_gain + self.still_weight, 1.0)
        smoothed = previous + weight * (coarse - previous)
        self._previous_alpha = smoothed
        return smoothed
