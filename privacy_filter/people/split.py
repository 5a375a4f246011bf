"""Split a selfie region that holds several people into one region per face.

The selfie model draws one map for everybody: people who touch come out as one connected region, and no
selection by area can keep one of them. Given the faces in the frame, each pixel of such a region is given to
the face whose body it most plausibly belongs to:

* a **body prior** per face (``body_cost``): near the face, distance in face sizes; below the chin the body
  widens to shoulders and runs down, so distance across counts more than distance down. Sizes are the face's
  own, so a small face (a person farther back) claims a small body; and a clearly bigger face is nearer the
  camera, so where its body plausibly is, a smaller face keeps only its own head (``occlude``);
* the clear cases of that prior seed a **watershed on the frame's colours**, which draws the uncertain part of
  the border along the edge between the two people (shirt against hair, one jacket against another) rather
  than along the geometric midline.

A region with one face or none is never cut: a lone user, turned away or with both hands up, stays whole.
Arrays: the regions are ``Person`` masks on the selfie grid (hxw float32 in [0, 1]); faces are normalised
(x1, y1, x2, y2) boxes; the guide is the frame resized to the grid (hxwx3 uint8 BGR).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

from ..person import Person

FaceBox = tuple[float, float, float, float]

_HALO = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))  # as selection.split_people: the soft edge kept
DEPTH_RATIO = 1.25  # a face this much wider than another is taken to be nearer the camera (1.1 took a neighbour
# of much the same size for someone in front, and gave them the user's body on the three-person clip)
NEAR_BODY = 0.8  # body_cost below this: plausibly that person's body
HEAD = 1.0  # head_distance below this: the person's head
FACE_CORE = 0.45  # head_distance below this: the eyes, nose and mouth the detector saw
INNER_HEAD = 0.8  # head_distance below this: well inside the head
SEED_HEAD = 0.7  # head_distance below this: where a face behind another seeds its watershed
SURE_RATIO = 0.6  # a pixel seeds a face's watershed where its cost is below this share of every other face's


def body_cost(face: FaceBox, grid: tuple[int, int]) -> np.ndarray:
    """hxw float32: how far each grid pixel is from the body under ``face``, in face sizes (0 = the face centre).

    Above the chin: the plain distance in face widths/heights (the head is round). Below: the body widens
    from the neck to shoulders about 2.5 face widths across and runs down to the frame's edge, so the
    sideways distance is divided by that width and the downward distance counts little.
    """
    height, width = grid
    x1, y1, x2, y2 = face
    cx, cy = (x1 + x2) / 2 * width, (y1 + y2) / 2 * height
    fw, fh = max((x2 - x1) * width, 1.0), max((y2 - y1) * height, 1.0)
    u = (np.arange(width, dtype=np.float32) - cx) / fw
    v = (np.arange(height, dtype=np.float32) - cy) / fh
    below = np.clip(v - 0.5, 0.0, 2.5)
    widen = (1.0 + 0.6 * below)[:, None]
    down = np.where(v < 0, v, 0.15 * v)[:, None]
    return np.sqrt((u[None, :] / widen) ** 2 + down**2).astype(np.float32)


def head_distance(face: FaceBox, grid: tuple[int, int]) -> np.ndarray:
    """hxw float32: where each pixel is relative to the head around ``face`` (< 1 inside it, 1 on its outline).

    The head is an egg around the face box: 1.3 face widths across, reaching 0.95 face heights above the box
    centre (the hair) and 0.65 below (the chin).
    """
    height, width = grid
    x1, y1, x2, y2 = face
    u = (np.arange(width, dtype=np.float32) - (x1 + x2) / 2 * width) / max((x2 - x1) * width * 0.65, 1.0)
    v = (np.arange(height, dtype=np.float32) - (y1 + y2) / 2 * height) / max((y2 - y1) * height, 1.0)
    v = np.where(v < 0, v / 0.95, v / 0.65)
    return np.sqrt(u[None, :] ** 2 + v[:, None] ** 2)


def occlude(costs: np.ndarray, faces: Sequence[FaceBox], grid: tuple[int, int]) -> np.ndarray:
    """Depth order, in place on costs (n x h x w): a clearly bigger face is nearer the camera, so over its head,
    and where its body plausibly is (cost < NEAR_BODY) outside the smaller face's own head, the smaller face's
    body is behind it (cost inf). Without this, the user's shoulder below a head peeking in behind it went to
    the newcomer. Returns n x h x w bools: where each face is behind another face's *head* (never theirs)."""
    widths = [face[2] - face[0] for face in faces]
    heads = [head_distance(face, grid) for face in faces]
    under_head = np.zeros(costs.shape, bool)
    for i, wide in enumerate(widths):
        for j, narrow in enumerate(widths):
            if i == j or wide < DEPTH_RATIO * narrow:
                continue
            # ...except where the detector saw the smaller face itself (a face it found is not hidden), unless
            # that is well inside the nearer head (two overlapping face boxes: the nearer face wins).
            head = (heads[i] < HEAD) & ((heads[j] > FACE_CORE) | (heads[i] < INNER_HEAD))
            costs[j][head | ((costs[i] < NEAR_BODY) & (heads[j] > HEAD))] = np.inf
            under_head[j] |= head
    return under_head


def faces_in(core: np.ndarray, faces: Sequence[FaceBox]) -> list[int]:
    """Indices of the faces whose centre lies in ``core`` (hxw bool, one region), or within a pixel of it."""
    height, width = core.shape
    grown = cv2.dilate(core.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    inside = []
    for i, (x1, y1, x2, y2) in enumerate(faces):
        col = min(width - 1, max(0, int((x1 + x2) / 2 * width)))
        row = min(height - 1, max(0, int((y1 + y2) / 2 * height)))
        if grown[row, col]:
            inside.append(i)
    return inside


def assign(core: np.ndarray, faces: Sequence[FaceBox], guide: np.ndarray | None) -> np.ndarray:
    """core: hxw bool (one region), faces: >= 2 boxes -> hxw int32 label (index into faces) for each pixel.

    Labels are meaningful inside ``core`` only. Without a guide, the label is the nearest body (``body_cost``).
    """
    grid = core.shape
    costs = np.stack([body_cost(face, grid) for face in faces])
    plain = costs.copy()
    under_head = occlude(costs, faces, grid)
    nearest, _, _ = _two_smallest(costs)
    if guide is None:
        return nearest
    # Seeds where one body clearly wins by the plain prior (no depth order); a face behind another seeds only
    # its own head. The rest of the region is flooded along colour edges, so where a head peeks in behind the
    # user, the border between the newcomer's shirt and the user's is drawn by the picture, not by geometry.
    winner, smallest, second = _two_smallest(plain)
    sure = core & (smallest < SURE_RATIO * second)
    for j in map(int, np.nonzero(under_head.any(axis=(1, 2)))[0]):
        sure &= (winner != j) | ((head_distance(faces[j], grid) < SEED_HEAD) & ~under_head[j])
    markers = np.zeros(grid, np.int32)
    markers[sure] = winner[sure] + 1
    background = len(faces) + 1
    markers[~cv2.dilate(core.astype(np.uint8), _HALO).astype(bool)] = background
    cv2.watershed(np.ascontiguousarray(guide), markers)
    # Watershed lines (-1), pixels the background flooded into the region, and a nearer person's head flooded
    # by the face behind it go to the nearest body with the depth order. (The body of the nearer person is
    # left to the flood: a newcomer's shirt beside the user's is told apart by its colours.)
    flooded = (markers >= 1) & (markers <= len(faces))
    label = np.where(flooded, markers - 1, nearest)
    for j in range(len(faces)):
        refused = under_head[j] & (label == j)
        label[refused] = nearest[refused]
    return label.astype(np.int32, copy=False)


def _two_smallest(costs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """costs: n x h x w -> (index of the smallest, the smallest, the second smallest), each h x w.

    A loop over the few faces: numpy's sort and argmin along the first axis of such an array are strided and
    took 5 of the 7 ms a three-face split cost."""
    index = np.zeros(costs.shape[1:], np.int32)
    smallest = costs[0].copy()
    second = np.full(costs.shape[1:], np.inf, np.float32)
    for k in range(1, len(costs)):
        better = costs[k] < smallest
        second = np.where(better, smallest, np.minimum(second, costs[k]))
        smallest = np.where(better, costs[k], smallest)
        index[better] = k
    return index, smallest, second


def split_by_faces(
    people: Sequence[Person], faces: Sequence[FaceBox], guide: np.ndarray | Callable[[], np.ndarray] | None = None
) -> list[Person]:
    """Each region with two or more faces in it, cut into one Person per face; other regions as they were.

    people: regions of one map (``selection.split_people``), masks hxw on the same grid; faces: normalised
    boxes; guide: the frame at grid size, hxwx3 uint8 BGR, or a function that makes it (called once, only when
    a region must be cut: resizing the frame costs ~1 ms, mostly for nothing); None: geometry only. Every
    Person that holds exactly one face gets it as ``face``. The parts of a cut region share its soft edge;
    where two parts meet, the border is hard (the matte stage softens it along the frame's edges).
    """
    out: list[Person] = []
    for person in people:
        core = person.mask > 0.5
        inside = faces_in(core, faces)
        if len(inside) <= 1:
            face = faces[inside[0]] if inside else None
            out.append(Person(person.score, person.box, person.mask, face or person.face))
            continue
        if callable(guide):
            guide = guide()
        label = assign(core, [faces[i] for i in inside], guide)
        out += parts_of(person, core, label, [faces[i] for i in inside])
    return out


def parts_of(person: Person, core: np.ndarray, label: np.ndarray, faces: Sequence[FaceBox | None]) -> list[Person]:
    """One Person per label of a cut region: core hxw bool (the region), label hxw int (k: the k-th part),
    faces[k] the k-th part's face (or None). Each part keeps the region's soft edge next to it (the halo);
    where two parts meet the border is hard. A label with no pixel gives no Person."""
    height, width = core.shape
    parts = []
    for k, face in enumerate(faces):
        part = core & (label == k)
        if not part.any():
            continue
        part8 = part.astype(np.uint8)
        halo = cv2.dilate(part8, _HALO).astype(bool) & (part | ~core)
        mask = np.where(halo, person.mask, np.float32(0.0)).astype(np.float32, copy=False)
        x, y, w, h = cv2.boundingRect(part8)  # (the pixels' bounding box, as np.nonzero's extremes give it)
        box = (x / width, y / height, (x + w) / width, (y + h) / height)
        parts.append(Person(person.score, box, mask, face))
    return parts
