"""Matte refinement: turn a coarse person map into a smooth, stable full-resolution alpha matte.

The seed pasted a thresholded 15x15 mask (jagged edges) and itself suggested the fix: interpolate, feather,
alpha-blend. Here, per frame (``MatteRefiner.refine``):

1. **Work grid.** The coarse map (the segmenter's grid, e.g. 256x144) and the frame are resized to a small
   grid with the frame's aspect ratio: the frame divided by an integer, at least 0.7 x ``work_size``^2 grid
   pixels (160x120 for 640x480, 182x102 for 1280x720 by default; ``work_grid``). Everything costly happens
   there; a guided filter needs no finer grid, since the detail comes from the full-size frame in step 3.
2. **Temporal smoothing** (on the work grid). An exponential moving average whose weight rises to 1 where the
   frame itself changed: a still scene keeps a steady matte (the model's frame-to-frame jitter is averaged
   away), while a moving person is followed at once (no smear). A scene cut (most of the grid changed at
   once) resets it, so no one's matte lingers on the next scene (no ghost).
3. **Edges: fast guided filter** (He et al., *Guided Image Filtering*, TPAMI 2013; He & Sun, *Fast Guided
   Filter*, 2015). On the work grid, fit in every window a linear model alpha ~ a . colour + b; then resize
   only the coefficients a, b to the frame and apply them to the full-resolution frame. The matte edge snaps
   to the frame's real edges (hair, shoulders) at full-resolution detail, for the price of a few resizes and
   multiply-adds at full size. The colour guide tells an orange hood from a white wall of the same
   brightness, which a grey guide cannot. ``passes`` > 1 re-filters the result, pulling an edge the model
   misplaced by more than the window further onto the image edge. Box filters are ``cv2.blur`` /
   ``cv2.sepFilter2D`` (``cv2.ximgproc`` is not in opencv-python).
4. **Contrast and feather.** ``sharpen`` steepens the soft ramp around alpha = 0.5 (it never moves the 0.5
   contour), folded into a and b for free; optional ``grow_px`` dilation and ``feather_px`` box blur follow.

Full-size work is about a dozen cheap passes over an HxW image, into buffers allocated once per frame size,
and only inside the box where the matte can be > 0 (``support.support_box``; outside it the result is 0 exactly).
"""

from __future__ import annotations

import math
import weakref

import cv2
import numpy as np

from .guided import Scratch, box_mean, color_guided_planes, guided_coefficients, shrink
from .pyramid import halvings
from .support import enlarge_around, enlarges_region, support_box, zero_outside

GUIDES = ("color", "grey")
_INV255 = np.float32(1.0 / 255.0)
TINY = 1e-6  # alpha below this is 0 (see refine: denormal floats are slow)
CUT_CHANGE = 0.12  # grey change (of [0, 1]) beyond the flow that counts a work-grid pixel as "new scene"


# id(matte) -> (the matte, the box outside which it was 0): MatteRefiner.refine's last output of each refiner.
_SUPPORT: dict[int, tuple[weakref.ref, tuple[int, int, int, int]]] = {}


def support_of(alpha: np.ndarray) -> tuple[int, int, int, int] | None:
    """The box (x0, y0, x1, y1) outside which ``alpha`` was exactly 0 when ``MatteRefiner.refine`` returned it
    (alpha: that very array), or None for any other array.

    The effect and the compositor work only in this box. Should a caller write into the matte outside it
    afterwards, they ignore that: alpha counts as 0 there, so the frame is hidden there, never shown.
    """
    entry = _SUPPORT.get(id(alpha))
    if entry is None or entry[0]() is not alpha:
        return None
    return entry[1]


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
    """(w, h) of the refinement grid: the frame divided by the largest integer factor that leaves at least
    0.7 x work_size^2 grid pixels (never upscaled). 160x120 for 640x480 (and 120x160 for 600x800) as before;
    a wide frame now gets about as many: 182x102 for 1280x720 and 213x120 for 854x480, where the old rule (long
    side in [work_size, 2 work_size)) gave 160x90 and 170x96, too coarse for the edge of a walking person
    (DAVIS hike and lucia flickered 5 points more; benchmarks/RESULTS.md, "Smoothing per DAVIS clip").
    An integer factor keeps ``shrink`` cheap (640x480 -> 160x120 is two exact halvings)."""
    height, width = frame_hw
    target = max(1, work_size * work_size * 7 // 10)
    factor = max(1, math.isqrt(height * width // target))
    while factor > 1 and (height // factor) * (width // factor) < target:
        factor -= 1
    return max(1, width // factor), max(1, height // factor)



class MatteRefiner:
    """refine(alpha: hxw float32 [0,1] on any grid, frame: HxWx3 uint8 BGR) -> HxW float32 [0,1].

    Stateful across frames (temporal smoothing); call ``reset()`` when the source jumps (new clip, seek,
    privacy toggled back on). The returned array is an internal buffer, reused by the next call: copy it
    to keep it, and do not write into it (the next call zeroes only where it wrote last).

    Parameters (defaults chosen on the eval sets, see benchmarks/RESULTS.md "Quality"):
        guided: snap the edge to the frame with the fast guided filter; False = bilinear upsampling only.
        guide: "color" (3x3 covariance per window; tells colours of equal brightness apart) or "grey"
            (cheaper).
        work_size: size of the grid the filter and the smoothing run on: at least 0.7 x work_size^2 pixels.
        radius: guided filter window radius on the work grid (x frame size / work grid size in frame pixels).
        eps: guided filter regulariser (colour levels in [0, 1], squared).
        passes, pass_sharpen: guided filter passes, and the ramp steepening between them.
        sharpen: slope of the final ramp around 0.5 (1 = as filtered; larger = crisper edge). 4: a moving edge
            flickers less (DAVIS hike/lucia 3-4 points of raw's flicker less than at 2) and the still-image
            scores do not move (the 0.5 contour stays; MAE 0.0234 -> 0.0225 on eg1800).
        temporal: smooth over time.
        still_weight: EMA weight of the new frame where the frame did not change (0 < w <= 1; lower = steadier).
            0.1 (was 0.2): with the two above, flicker <= 50 % of raw on every DAVIS clip, never below raw in
            IoU or BF@1 %.
        motion_gain: how fast the weight rises to 1 with the grey-level change (per unit of [0, 1] grey).
        grow_px, feather_px: optional dilation and box feather at full size (0 = off).
        apply_size: frames whose long side is larger get the colour guided filter's linear model applied on a
            copy halved until it fits (never below twice the work grid), the matte then enlarged (0 = always at
            full size). 480 (was 960): 640x480 is applied at 320x240, 854x480 at 427x240, 600x800 at 300x400,
            1280x720 at 640x360 as before, 1920x1080 at 480x270; benchmarks.quality moved by <= 0.003 (IoU
            eg1800 0.9653 -> 0.9650, DAVIS 0.6038 -> 0.6027, flicker 0.00980 -> 0.00957) for 0.75-1.1 CPU ms
            less at 640x480 on a 2-core AVX2 CPU (benchmarks/RESULTS.md, "stop 19").
        follow: move the previous matte along the optical flow before averaging (off by default: it did not
            lower flicker on the DAVIS clips and costs ~0.5 ms).
        cut_level: a scene cut is declared when more than this share of the work grid changed by more than
            CUT_CHANGE grey: the smoothing then starts afresh (no ghost of the previous scene's person).
            0 = never. DAVIS clips reach 0.19 within a clip and 0.58-0.84 across clips.
    """

    def __init__(
        self,
        guided: bool = True,
        guide: str = "color",
        work_size: int = 160,
        radius: int = 2,
        eps: float = 1e-3,
        passes: int = 1,  # a 2nd pass: +1.3 pts BF@0.3% on eg1800, +1 ms in the pipeline (over 3 ms)
        pass_sharpen: float = 2.0,
        sharpen: float = 4.0,
        temporal: bool = True,
        still_weight: float = 0.1,
        motion_gain: float = 4.0,
        follow: bool = False,  # optical-flow following: no better on DAVIS (benchmarks.privacy), +~0.5 ms
        apply_size: int = 480,  # was 960: -0.75-1.1 ms at 640x480 (AVX2), quality within 0.003
        cut_level: float = 0.4,
        grow_px: int = 0,
        feather_px: int = 0,
    ) -> None:
        if guide not in GUIDES:
            raise ValueError(f"guide must be one of {GUIDES}, not {guide!r}")
        if not 0.0 < still_weight <= 1.0:
            raise ValueError(f"still_weight must be in (0, 1], not {still_weight}")
        if passes < 1 or radius < 1 or work_size < 8:
            raise ValueError("passes and radius must be >= 1 and work_size >= 8")
        self.guided = guided
        self.guide = guide
        self.work_size = int(work_size)
        self.radius = int(radius)
        self.eps = float(eps)
        self.passes = int(passes)
        self.pass_sharpen = float(pass_sharpen)
        self.sharpen = float(sharpen)
        self.temporal = temporal
        self.still_weight = float(still_weight)
        self.motion_gain = float(motion_gain)
        self.follow = follow
        self.apply_size = int(apply_size)
        self.cut_level = float(cut_level)
        self.cuts = 0  # scene cuts seen (for tests and benchmarks)
        self._flow: cv2.DISOpticalFlow | None = None
        self._grid: tuple[np.ndarray, np.ndarray] | None = None
        self.grow_px = int(grow_px)
        self.feather_px = int(feather_px)
        self._shape: tuple[int, int] | None = None
        self._scratch = Scratch((0, 0))  # the colour guided filter's planes, kept across frames
        self.reset()

    def reset(self) -> None:
        """Forget any state carried between frames (call when the source jumps)."""
        self._previous_alpha: np.ndarray | None = None
        self._previous_grey: np.ndarray | None = None

    def _buffers(self, height: int, width: int) -> None:
        # Full-size buffers are allocated once per frame size: the hot path then only writes into them.
        if self._shape == (height, width):
            return
        if self._shape is not None:
            _SUPPORT.pop(id(self._out), None)
        self._shape = (height, width)
        self._grey = np.empty((height, width), np.uint8)
        self._out: np.ndarray = np.empty((height, width), np.float32)
        # support_of's entry for this buffer goes when the buffer does (a refiner dropped, a new frame size).
        key = id(self._out)
        # mypy cannot type a lambda with a default-argument parameter:
        self._out_ref = weakref.ref(self._out, lambda _, key=key: _SUPPORT.pop(key, None))  # type: ignore[misc]
        self._term = np.empty((height, width), np.float32)
        self._planes: list[np.ndarray] | None = None  # the split frame (or apply grid) in _apply
        self._small_buffers: tuple[np.ndarray, np.ndarray] | None = None  # (out, term) when apply_size halves
        self._dirty: dict[int, tuple[int, int, int, int]] = {}  # id(buffer) -> where it may be non-zero
        self.reset()

    def refine(self, alpha: np.ndarray, frame: np.ndarray, dropped: np.ndarray | None = None,
               shown: np.ndarray | None = None) -> np.ndarray:
        """alpha: hxw float32 [0,1] (any grid spanning the frame), frame: HxWx3 uint8 BGR -> HxW float32 [0,1].

        dropped: optional h'xw' float32 [0,1] (any grid spanning the frame): where people were found but the
        selection did not keep them. There the smoothing lets alpha fall at once (hide fast); everywhere
        else, and for every rise, it fades as usual (show slowly).
        shown: optional h'xw' float32 [0,1] (any grid spanning the frame): where a cut that was no judgement of the
        segmenter's (another person's face box, ``people.floor``) hid pixels last frame and no longer does. There
        a rise takes effect at once: what is kept there was the user all along, cut only by a box that moved on.
        """
        height, width = frame.shape[:2]
        self._buffers(height, width)
        if alpha.dtype != np.float32:
            alpha = alpha.astype(np.float32)
        size = work_grid((height, width), self.work_size)
        colour = self.guided and self.guide == "color" and frame.ndim == 3
        apply_frame, apply_w, apply_h = frame, width, height
        if colour and self.apply_size:
            # The linear model is applied on the frame halved until its long side is <= apply_size (at least
            # twice the work grid), and the matte enlarged bilinearly: a quarter of the full-size passes. The
            # edge still comes from a guide twice as fine as the coefficients: benchmarks.quality moved by
            # <= 0.003 (BF@0.3 % eg1800 0.6390 -> 0.6384, DAVIS 0.4275 -> 0.4322).
            while max(apply_w, apply_h) > self.apply_size and min(apply_w, apply_h) >= 4 * min(size):
                apply_w, apply_h = apply_w // 2, apply_h // 2
        if colour:
            # The frame's halvings are shared with the background effect (pyramid.py): made once a frame.
            levels = halvings(frame)
            if (apply_w, apply_h) != (width, height):
                apply_frame = levels.shrink((apply_w, apply_h))
            # Area averaging: the small guide is not aliased.
            small = levels.shrink(size)
            planes = [plane.astype(np.float32) * _INV255 for plane in cv2.split(small)]
            grey_small = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.float32) * _INV255
        else:
            grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY, dst=self._grey) if frame.ndim == 3 else frame
            grey_small = shrink(grey, size).astype(np.float32) * _INV255
        coarse = cv2.resize(alpha, size, interpolation=cv2.INTER_LINEAR)
        # The selfie model writes ~1e-38 (denormal floats) over most of the background; every product of
        # them then takes the CPU's slow path: the filter ran 2x slower on real maps than on random ones.
        # Below TINY is nothing (a millionth of a grey level): flush to 0 (NaN is flushed too).
        coarse = cv2.threshold(coarse, TINY, 0.0, cv2.THRESH_TOZERO)[1]
        if self.temporal:
            if dropped is not None:
                dropped = cv2.resize(dropped.astype(np.float32, copy=False), size, interpolation=cv2.INTER_LINEAR)
            if shown is not None:
                shown = cv2.resize(shown.astype(np.float32, copy=False), size, interpolation=cv2.INTER_LINEAR)
            coarse = self._smooth(coarse, grey_small, dropped, shown)

        out = self._out
        if not self.guided:
            cv2.resize(coarse, (width, height), dst=out, interpolation=cv2.INTER_LINEAR)
            self._dirty[id(out)] = (0, 0, width, height)
            if self.sharpen != 1.0:
                out -= 0.5
                out *= self.sharpen
                out += 0.5
        elif colour:
            c = color_guided_planes(planes, coarse, self.radius, self.eps, self.passes, self.pass_sharpen,
                                    self._scratch)
            # Only the box where the matte can be > 0 is computed at full size (~40 % of a webcam frame; the
            # rest is exactly 0 after the clip below, as before: bit-exact). See support_box.
            spread = self.grow_px > 0 or self.feather_px > 0 or self.sharpen <= 0
            box = (0, 0, apply_w, apply_h) if spread else support_box(c, self.sharpen, (apply_w, apply_h))
            if apply_frame is frame:
                box = self._apply(c, apply_frame, out, self._term, box)
            else:
                if self._small_buffers is None or self._small_buffers[0].shape != (apply_h, apply_w):
                    self._small_buffers = (np.empty((apply_h, apply_w), np.float32),
                                           np.empty((apply_h, apply_w), np.float32))
                    self._dirty = {}
                small_out, small_term = self._small_buffers
                self._apply(c, apply_frame, small_out, small_term, box)
                x0, y0, x1, y1 = box
                # The box scaled to the frame (the apply grid is the frame halved k times). Outside it small_out
                # is <= 0 (the support box's margin) or 0, and so is their enlargement: 0 after the clip.
                fx, fy = width / apply_w, height / apply_h
                box = (math.floor(x0 * fx), math.floor(y0 * fy), min(width, math.ceil(x1 * fx)),
                       min(height, math.ceil(y1 * fy)))
                region = enlarge_around(small_out, out, box)
                self._clear_outside(out, region, whole=not enlarges_region(small_out, out))
                box = region
        else:
            a, b = guided_coefficients(grey_small, coarse, self.radius, self.eps, self.passes, self.pass_sharpen)
            box = self._apply([a, b], grey, out, self._term, (0, 0, width, height))
        if self.grow_px > 0:
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * self.grow_px + 1,) * 2)
            cv2.dilate(out, kernel, dst=out)
        if self.feather_px > 0:
            cv2.blur(out, (2 * self.feather_px + 1,) * 2, dst=out)
        # Clip to [0, 1], flushing the tiny and negative (and NaN) to 0: no denormal leaves for the effect.
        if self.guided:
            x0, y0, x1, y1 = box
            inside = out[y0:y1, x0:x1]
        else:
            inside = out
        cv2.threshold(inside, TINY, 0.0, cv2.THRESH_TOZERO, dst=inside)
        cv2.min(inside, 1.0, dst=inside)  # type: ignore[call-overload]  # cv2 takes a scalar; its stubs do not say so
        _SUPPORT[id(out)] = (self._out_ref, box if self.guided else (0, 0, width, height))
        return out

    def _apply(self, coefficients: list[np.ndarray], image: np.ndarray, out: np.ndarray, term: np.ndarray,
               box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """out = sharpen * (sum_c a_c * channel_c / 255 + b - 0.5) + 0.5 (not clipped) in a region (x0, y0, x1, y1)
        around box, 0 outside it; returns the region. a_c and b (work-grid planes) are resized to out's grid
        (``enlarge_around``). image: out's size, uint8, 1 or 3 channels; out, term: float32 buffers of that size.

        The contrast ramp and the 1/255 of the uint8 channels are folded into a and b on the small grid. Where
        the region exceeds box, it reads work-grid pixels outside the support (a box from ``support_box``): the
        values there clip to 0, as the whole computation's do.
        """
        *slopes, offset = coefficients
        scale = self.sharpen / 255.0
        x0, y0, x1, y1 = box
        if x1 <= x0 or y1 <= y0:
            self._clear_outside(out, (0, 0, 0, 0))
            return box
        region = enlarge_around(self.sharpen * (offset - 0.5) + 0.5, out, box)
        self._clear_outside(out, region, whole=not enlarges_region(offset, out))
        x0, y0, x1, y1 = region
        inside, scratch = out[y0:y1, x0:x1], term[y0:y1, x0:x1]
        # cv2.split is the cheapest way to planes in OpenCV 5, on the whole image: a box of it is not contiguous
        # and would be copied first (+0.3 ms at 640x480). The planes' boxes are row-strided views.
        if image.ndim == 3:
            wanted = (image.shape[2], *image.shape[:2])
            if self._planes is None or (len(self._planes), *self._planes[0].shape) != wanted:
                self._planes = [np.empty(image.shape[:2], np.uint8) for _ in range(image.shape[2])]
            channels = [plane[y0:y1, x0:x1] for plane in cv2.split(image, self._planes)]
        else:
            channels = [image[y0:y1, x0:x1]]
        for slope, channel in zip(slopes, channels, strict=True):
            enlarge_around(slope * scale, term, box)  # the same region: the planes share one grid
            # OpenCV, not numpy, on these box views: numpy's mixed-type loops on row-strided views cost ~3x.
            cv2.multiply(scratch, channel, dst=scratch, dtype=cv2.CV_32F)
            cv2.add(inside, scratch, dst=inside)
        return region

    def _clear_outside(self, image: np.ndarray, region: tuple[int, int, int, int], whole: bool = False) -> None:
        """Zero ``image`` (one of this refiner's buffers) outside region. Only where it may be non-zero: the region
        of the last call on this buffer (the rest is still 0 from then), unless ``whole`` (all of it was written
        since) or the buffer is new. ~0.1-0.3 ms a frame less than zeroing the whole outside (a webcam frame's
        box is about half the frame). A caller writing into the returned matte voids this (do not: see refine)."""
        dirty = None if whole else self._dirty.get(id(image))
        if dirty is None:
            zero_outside(image, region)
        else:
            dx0, dy0, dx1, dy1 = dirty
            height, width = dy1 - dy0, dx1 - dx0
            x0, y0, x1, y1 = region

            def clamp(value: int, top: int) -> int:
                return min(max(value, 0), top)

            zero_outside(image[dy0:dy1, dx0:dx1], (clamp(x0 - dx0, width), clamp(y0 - dy0, height),
                                                    clamp(x1 - dx0, width), clamp(y1 - dy0, height)))
        self._dirty[id(image)] = region

    def _smooth(self, coarse: np.ndarray, grey_small: np.ndarray, dropped: np.ndarray | None = None,
                shown: np.ndarray | None = None) -> np.ndarray:
        """EMA of the work-grid matte; weight still_weight where the frame is still, 1 where it changed.

        Asymmetric where ``dropped`` (work grid, [0, 1]) marks people the selection removed: there a fall of
        alpha takes effect at once (the EMA would show them for ~3 more frames), a rise still fades in.

        With ``follow``, the previous matte and frame are first moved along the optical flow between the two
        frames (DIS, on the work grid): a person or a camera that moves is followed, and only what the flow
        does not explain counts as change. A scene cut (most of the frame changed beyond the flow) starts afresh.
        """
        previous, previous_grey = self._previous_alpha, self._previous_grey
        self._previous_grey = grey_small
        if previous is None or previous.shape != coarse.shape:
            self._previous_alpha = coarse
            return coarse
        assert previous_grey is not None  # set in every call that set the previous alpha
        if self.follow:
            previous, previous_grey = self._follow(previous, previous_grey, grey_small)
        # Local grey change, averaged over a small window so that sensor noise does not count as motion.
        change = box_mean(cv2.absdiff(grey_small, previous_grey), 1)
        if self.cut_level > 0 and float(np.mean(change > CUT_CHANGE)) > self.cut_level:
            self.cuts += 1
            self._previous_alpha = coarse
            return coarse
        weight = cv2.min(change * self.motion_gain + self.still_weight, 1.0)  # type: ignore[call-overload]  # as above
        smoothed = previous + weight * (coarse - previous)
        if dropped is not None:
            # Hide fast: weight 1 for a fall inside a dropped person (min keeps every rise on the EMA).
            fall = np.minimum(smoothed, coarse)
            np.copyto(smoothed, fall, where=dropped > 0.5)
        if shown is not None:
            # Show at once where only a face box that moved on hid (a rise there is no flicker of the model's).
            rise = np.maximum(smoothed, coarse)
            np.copyto(smoothed, rise, where=shown > 0.5)
        # An EMA decays towards 0 without reaching it: flush it before it turns denormal (slow arithmetic).
        smoothed = cv2.threshold(smoothed, TINY, 0.0, cv2.THRESH_TOZERO)[1]
        self._previous_alpha = smoothed
        return smoothed

    def _follow(self, previous: np.ndarray, previous_grey: np.ndarray, grey: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
        """previous matte and grey warped onto the current frame along the optical flow (work grid)."""
        if self._flow is None:
            self._flow = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)  # = DISOpticalFlow_create
        current8 = cv2.convertScaleAbs(grey, alpha=255.0)
        previous8 = cv2.convertScaleAbs(previous_grey, alpha=255.0)
        # for each current pixel, where it was before (None: cv2 allocates the flow; its stubs want an array)
        flow = self._flow.calc(current8, previous8, None)  # type: ignore[call-overload]  # stubs: see above
        height, width = grey.shape
        if self._grid is None or self._grid[0].shape != grey.shape:
            self._grid = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
        map_x = flow[..., 0] + self._grid[0]
        map_y = flow[..., 1] + self._grid[1]
        moved = [cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                 for image in (previous, previous_grey)]
        return moved[0], moved[1]
