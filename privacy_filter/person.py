"""The value passed between segmenters and person selection."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Person:
    """One person found in a frame.

    score: detector confidence in [0, 1] (1.0 for a selfie-map region).
    box: (x1, y1, x2, y2) normalised to [0, 1] of the frame, x right, y down.
    mask: hxw float32 in [0, 1], soft person probability on the segmenter's output grid, which spans
        the whole frame but may have another size and aspect ratio (resize it to HxW to use it).
        Zero outside this person.
    face: the person's face box (x1, y1, x2, y2) normalised like ``box``, when a face detector saw one; the
        people stage uses it to split fused regions and to know the user again (identity, not area).
    own: hxw bool on the mask's grid, pixels surely this person's own (the user's silhouette from before someone
        arrived, other faces left out: ``people.company.guard_user``): no other person's face floor cuts them.
    """

    score: float
    box: tuple[float, float, float, float]
    mask: np.ndarray
    face: tuple[float, float, float, float] | None = None
    own: np.ndarray | None = None

    @property
    def area(self) -> float:
        """Share of the grid covered by this person (mask > 0.5), in [0, 1]."""
        return float(np.count_nonzero(self.mask > 0.5)) / self.mask.size
