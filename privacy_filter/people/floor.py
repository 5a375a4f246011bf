"""Faces are the floor: every face found that is not the user's is hidden, whatever the split says.

The split of a fused region can be wrong (a head touching the user's, a face at the frame's edge merged with
the user); a face the detector found is the one thing that must never stay recognisable. So after the
selection, each other person's face box, grown to take in the hair, ears and chin, is cut out of the kept
alpha. The user's own head (their face box grown alike) is not cut by a neighbour's growth, and the user's face
(a little grown) never: a neighbour's box that reaches over it stops there.
Arrays: faces are normalised (x1, y1, x2, y2) boxes; the floor is hxw float32 in {0, 1} on the masks' grid.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

FaceBox = tuple[float, float, float, float]

GROW_SIDE = 0.35  # face widths added left and right (ears, hair)
GROW_TOP = 0.7  # face heights added above (hair: BlazeFace's box ends at the eyebrows' height)
GROW_BOTTOM = 0.35  # face heights added below (chin)
PROTECT = 0.1  # the user's face box grown by this (its sizes) is never cut by another's


def grown(face: FaceBox, side: float = GROW_SIDE, top: float = GROW_TOP, bottom: float = GROW_BOTTOM) -> FaceBox:
    """The face box grown by the given shares of its width (sides) and height (top, bottom), not clipped."""
    w, h = face[2] - face[0], face[3] - face[1]
    return face[0] - side * w, face[1] - top * h, face[2] + side * w, face[3] + bottom * h


def _pixels(box: FaceBox, grid: tuple[int, int]) -> tuple[int, int, int, int]:
    height, width = grid
    x0 = min(width, max(0, int(np.floor(box[0] * width))))
    y0 = min(height, max(0, int(np.floor(box[1] * height))))
    x1 = min(width, max(0, int(np.ceil(box[2] * width))))
    y1 = min(height, max(0, int(np.ceil(box[3] * height))))
    return x0, y0, x1, y1


def _cut_head(floor: np.ndarray, face: FaceBox, head: bool) -> None:
    """Set 1 over the face's grown box (``head`` False), or over its head only (``head`` True): the side
    margins (ears, hair) stop at the chin's height and only the face's own width grows down to the chin. Below
    and beside another person's chin is where the user's shoulder is when that person passes behind them."""
    grid = floor.shape[:2]
    box = grown(face)
    if not head:
        x0, y0, x1, y1 = _pixels(box, grid)
        floor[y0:y1, x0:x1] = 1.0
        return
    x0, y0, x1, y1 = _pixels((box[0], box[1], box[2], face[3]), grid)
    floor[y0:y1, x0:x1] = 1.0
    x0, y0, x1, y1 = _pixels((face[0], face[3], face[2], box[3]), grid)
    floor[y0:y1, x0:x1] = 1.0


def face_floor(others: Sequence[FaceBox], user_face: FaceBox | None, grid: tuple[int, int],
               head: bool = False, own: np.ndarray | None = None) -> np.ndarray | None:
    """hxw float32: 1 over every other face's grown box (0 over the user's own face); None when there is none.
    head: the grown box without its lower corners (``_cut_head``). own: hxw bool, pixels surely the user's
    (``Person.own``: their silhouette from before someone passed behind them, the other faces left out): the
    growth of another face's box over them hides the user, not the other person."""
    if not others:
        return None
    floor = np.zeros(grid, np.float32)
    for face in others:
        _cut_head(floor, face, head)
    if own is not None and own.shape == floor.shape:
        # The user's silhouette from before someone came behind them (``Person.own``) is the user's: no other face's
        # growth cuts it. It replaces the grown-box rule below, which also spared a head that came in behind the
        # user's within their big face box; the user's face itself (a little grown) is spared but where another
        # face was found.
        floor[own] = 0.0
        if user_face is not None:
            spared = np.zeros(grid, bool)
            x0, y0, x1, y1 = _pixels(grown(user_face, PROTECT, PROTECT, PROTECT), grid)
            spared[y0:y1, x0:x1] = True
            for face in others:
                x0, y0, x1, y1 = _pixels(face, grid)
                spared[y0:y1, x0:x1] = False
            floor[spared] = 0.0
    elif user_face is not None:
        # The user's own head (grown alike) is not cut by a neighbour's grown box: a head peeking in beside
        # the user's would otherwise take a fifth of the user (their hair and cheek). The neighbour's face
        # itself is hidden all the same, up to the user's own face box.
        x0, y0, x1, y1 = _pixels(grown(user_face), grid)
        floor[y0:y1, x0:x1] = 0.0
        for face in others:
            x0, y0, x1, y1 = _pixels(face, grid)
            floor[y0:y1, x0:x1] = 1.0
        x0, y0, x1, y1 = _pixels(grown(user_face, PROTECT, PROTECT, PROTECT), grid)
        floor[y0:y1, x0:x1] = 0.0
    return floor if floor.any() else None
