"""Area halvings of one frame, computed once and shared by the matte and the background effect.

Both ``matte.MatteRefiner.refine`` and the blurring effects shrink the same frame by exact halvings (OpenCV's
INTER_AREA fast path for 2x): at 1280x720 to 640x360 and 320x180 for the matte, and again to 640x360,
320x180 and 160x90 for the effect. Computed twice that was ~0.4 ms a frame at 1280x720 (~0.2 at 640x480) on
an AVX2 CPU, a tenth of the compositing budget (benchmarks/RESULTS.md, "Compositing budget").

``halvings(frame)`` returns the ``Halvings`` last made for this very frame on this thread, or a new one. The
pipeline refines the matte, then runs the effect on the same, unchanged frame: the second call finds the first
one's levels. A frame changed in place in between (a capture that reuses its buffer) is caught by a sample of
its pixels taken when the levels were made, and gets new levels: stale levels would show another frame's room.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

_SAMPLE_STEP = (29, 31)  # rows, columns between the sampled pixels (~370 of a 640x480 frame, a few us)
_last = threading.local()


class Halvings:
    """level(k): ``frame`` (HxW or HxWxC uint8) area-halved k times, (H >> k) x (W >> k) (each step floors).

    Levels are made on first use and kept; level(0) is the frame itself. Read-only: do not write into them.
    """

    def __init__(self, frame: np.ndarray) -> None:
        self.frame = frame
        self._levels = [frame]
        self._sample = frame[:: _SAMPLE_STEP[0], :: _SAMPLE_STEP[1]].copy()

    def level(self, k: int) -> np.ndarray:
        while len(self._levels) <= k:
            image = self._levels[-1]
            if image.shape[0] < 2 or image.shape[1] < 2:
                raise ValueError(f"cannot halve a {image.shape[1]}x{image.shape[0]} image")
            halved = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
            halved.flags.writeable = False  # shared by the matte and the effect: nobody may change it
            self._levels.append(halved)
        return self._levels[k]

    def matches(self, frame: np.ndarray) -> bool:
        """Whether these are the halvings of ``frame`` as it is now (same array, sampled pixels unchanged)."""
        return frame is self.frame and np.array_equal(frame[:: _SAMPLE_STEP[0], :: _SAMPLE_STEP[1]], self._sample)

    def shrink(self, size: tuple[int, int]) -> np.ndarray:
        """The frame area-averaged down to ``size`` (w, h): the smallest level still at least twice ``size``
        in both directions, then one INTER_AREA step (bit-exact with ``guided.shrink``)."""
        k = 0
        while (self.frame.shape[1] >> k) >= 2 * size[0] and (self.frame.shape[0] >> k) >= 2 * size[1]:
            k += 1
        image = self.level(k)
        if image.shape[1] == size[0] and image.shape[0] == size[1]:
            return image
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def halvings(frame: np.ndarray) -> Halvings:
    """The halvings of ``frame``: the ones last made on this thread if they are this frame's, else new ones."""
    last = getattr(_last, "halvings", None)
    if last is not None and last.matches(frame):
        return last
    made = Halvings(frame)
    _last.halvings = made
    return made
