"""Whose pixels, by body: split the selfie map's fused regions between the people MoveNet (and the faces) found.

Each person MoveNet found becomes a **stamp** on a small canvas of the frame's aspect ratio (longer side 256):
their skeleton's limbs as thick segments, the torso (shoulders and hips) filled, the head as a disc, and their
face box where the face detector saw one. Each pixel of a region that holds two or more bodies goes to the
nearest stamp, its distance measured in that person's own size (a bigger person, nearer the camera, claims
more around them). Distance maps are computed on that canvas, never at full resolution. A face with no body
gets a face stamp (head plus a torso prior below the chin) but is left to the face split (``split``).

A region with one stamp or none is never cut (a lone user stays whole). Arrays: regions are ``Person`` masks on
the grid (hxw float32 in [0, 1]); faces are normalised (x1, y1, x2, y2) boxes; bodies are
``multipose.Body`` in frame pixels, with the frame's (H, W) to map them onto the grid.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from ..person import Person
from .multipose import HEAD, LEFT_EAR, LEFT_HIP, LEFT_SHOULDER, RIGHT_EAR, RIGHT_HIP, RIGHT_SHOULDER, Body
from .split import FaceBox, parts_of

# COCO limbs: arms, legs, shoulders and hips across, neck. (The torso is filled separately.)
LIMBS = ((5, 7), (7, 9), (6, 8), (8, 10), (11, 13), (13, 15), (12, 14), (14, 16), (5, 6), (11, 12), (5, 11), (6, 12))
MIN_KEYPOINTS = 4  # a body with fewer sure keypoints is not drawn (a stray limb is no person)
SAME_BODY = 0.5  # two bodies whose boxes overlap this much (IoU) are one person found twice: the weaker goes
LIMB_WIDTH = 0.12  # a limb's thickness, in the person's size (shoulder width)
TORSO_DOWN = 1.6  # no hips seen: the torso prior reaches this many shoulder widths below the shoulders
FACE_TORSO = (2.6, 3.5)  # a face with no body: its torso prior is this many face widths across, heights down
FACE_MATCH = 1.0  # a face whose centre is this close (face widths) to a body's head is that body's face
DEPTH_RATIO = float("inf")  # off: a body this much bigger than another would be taken as nearer the camera; at 1.25
# (as split.DEPTH_RATIO for faces) the tune half of COCO lost 0.02 hidden and 0.013 user IoU; kept for a later look
# Off: a faceless body first seen on a later MoveNet run than another is behind it (``nearest``). Tune half (25 pairs,
# 15 walks, beside main's default with body identity on): walk-behind frames with the user cut 12 -> 5, but others
# hidden 0.634 -> 0.629 there and 0.002 less in side-by-side and lean-in (the walker's parts near the user's
# skeleton go to the user), so not the default.
NEWER_BEHIND = False
NEAR_BODY = 0.5  # within this many of a person's own sizes of their skeleton: plausibly their body
FAR_FACE = 0.12  # see _far (added after the first check-half run: close-ups cut there, 148 vs 110 frames)
REACH = 0.6  # a faceless body claims pixels within this many of its sizes from its skeleton, no farther
MIN_IN_REGION = 0.1  # a stamp with this share of its pixels inside a region (or its face there) is in it


@dataclass(frozen=True)
class Stamp:
    """One person drawn on the canvas: mask (canvas-sized bool), on_grid (the same on the selfie grid, hxw
    bool), size (canvas pixels: their scale), face (their face box, if any)."""

    mask: np.ndarray
    on_grid: np.ndarray
    size: float
    face: FaceBox | None
    body: bool = True  # False: a face stamp (a face with no body found)
    head: np.ndarray | None = None  # canvas-sized bool: their head (disc and face box), None if not seen
    torso: bool = False  # both shoulders seen (a skeleton to go by, not just a head)
    since: int = 0  # the MoveNet run this body was first seen on (lower: there earlier; see ``split_by_bodies``)


def canvas_for(frame_hw: tuple[int, int], grid: tuple[int, int]) -> tuple[int, int]:
    """(h, w) of the canvas stamps are drawn on: the frame's own aspect ratio (a disc stays round, a distance
    is the same across and down), its longer side the grid's longer side, so it costs what the grid does."""
    height, width = frame_hw
    scale = max(grid) / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def _to_grid(mask: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    return cv2.resize(mask.astype(np.uint8), (grid[1], grid[0]), interpolation=cv2.INTER_NEAREST).astype(bool)


def distinct(bodies: Sequence[Body], min_keypoints: int = MIN_KEYPOINTS) -> list[Body]:
    """The bodies worth drawing: enough sure keypoints, and one per person (a weaker body whose box mostly
    overlaps a stronger one's is the same person found twice: drawn apart, it would cut them in two)."""
    kept: list[Body] = []
    for body in sorted(bodies, key=lambda b: -b.score):
        if np.count_nonzero(body.seen()) < min_keypoints:
            continue
        if all(box_iou(body.box, other.box) < SAME_BODY for other in kept):
            kept.append(body)
    return kept


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes (0 when they do not overlap or are empty)."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def body_size(points: np.ndarray, seen: np.ndarray, box: Sequence[float]) -> float:
    """A person's scale in the points' units: shoulder width, else hip width x 1.3, else ear distance x 2.5,
    else a fifth of the box's height; never under 2."""
    for (a, b), factor in (((LEFT_SHOULDER, RIGHT_SHOULDER), 1.0), ((LEFT_HIP, RIGHT_HIP), 1.3),
                           ((LEFT_EAR, RIGHT_EAR), 2.5)):
        if seen[a] and seen[b]:
            return max(2.0, float(np.hypot(*(points[a] - points[b]))) * factor)
    return max(2.0, (box[3] - box[1]) / 5)


def body_stamp(body: Body, grid: tuple[int, int], frame_hw: tuple[int, int], face: FaceBox | None = None) -> Stamp:
    """A MoveNet body drawn on the canvas: limbs, filled torso, head disc (and the face box when it has one).

    The same body is drawn again on every frame until MoveNet runs again (every 3rd frame while others are
    near), by several callers a frame (the split, the user's own skeleton for the prior): each drawing is kept
    (``_STAMPS``) and handed out again while the body (immutable), grid, frame size and face are the same. Its
    arrays are read-only: a caller that wrote into them would change the next frames' stamps.
    """
    key = (id(body), tuple(grid), tuple(frame_hw), None if face is None else tuple(float(v) for v in face))
    kept = _STAMPS.get(key)
    if kept is not None and kept[0]() is body:
        return kept[1]
    stamp = _draw_body(body, grid, frame_hw, face)
    for array in (stamp.mask, stamp.on_grid, stamp.head):
        if array is not None:
            array.flags.writeable = False
    if len(_STAMPS) >= STAMPS_KEPT:
        _STAMPS.clear()  # (bodies of past runs: a busy scene draws a few bodies x a few faces per run)
    _STAMPS[key] = (weakref.ref(body), stamp)
    return stamp


# body_stamp's drawings: (id(body), grid, frame size, face) -> (the body, its stamp). On the three-person clip the
# drawing took ~1.8 of the stage's ~13 CPU-ms a frame outside the models (2-core AVX2), 8 drawings a frame.
_STAMPS: dict[tuple, tuple[weakref.ref, Stamp]] = {}
STAMPS_KEPT = 64


def _draw_body(body: Body, grid: tuple[int, int], frame_hw: tuple[int, int], face: FaceBox | None) -> Stamp:
    canvas = canvas_for(frame_hw, grid)
    height, width = canvas
    scale = np.array([width / frame_hw[1], height / frame_hw[0]], np.float32)
    points = body.keypoints * scale
    seen = body.seen()
    box = (body.box[0] * scale[0], body.box[1] * scale[1], body.box[2] * scale[0], body.box[3] * scale[1])
    size = body_size(points, seen, box)
    mask = np.zeros(canvas, np.uint8)
    thick = max(1, round(LIMB_WIDTH * size))
    for a, b in LIMBS:
        if seen[a] and seen[b]:
            cv2.line(mask, _pt(points[a]), _pt(points[b]), 1, thick)
    # The torso: shoulders and hips filled; hips not seen (sitting at a desk, cut by the frame's bottom): the
    # shoulders' quad carried TORSO_DOWN shoulder widths down, which is where the body is below a webcam.
    shoulders = [points[k] for k in (LEFT_SHOULDER, RIGHT_SHOULDER) if seen[k]]
    hips = [points[k] for k in (RIGHT_HIP, LEFT_HIP) if seen[k]]
    if len(shoulders) == 2:
        if not hips:
            down = np.array([0.0, TORSO_DOWN * size], np.float32)
            hips = [shoulders[1] + down, shoulders[0] + down]
        cv2.fillPoly(mask, [np.round(np.array(shoulders + hips)).astype(np.int32)], 1)
    head_points = [points[k] for k in HEAD if seen[k]]
    head = np.zeros(canvas, np.uint8)
    if head_points:
        centre = np.mean(head_points, axis=0)
        cv2.circle(head, _pt(centre), max(1, round(0.35 * size)), 1, -1)
    if face is not None:
        _draw_face(head, face, canvas)
    mask |= head
    if not mask.any():
        cv2.rectangle(mask, _pt(box[:2]), _pt(box[2:]), 1, -1)  # nothing sure enough: its box, at least
    return Stamp(mask.astype(bool), _to_grid(mask, grid), size, face, head=head.astype(bool) if head.any() else None,
                 torso=len(shoulders) == 2)


def face_stamp(face: FaceBox, grid: tuple[int, int], frame_hw: tuple[int, int]) -> Stamp:
    """A face with no body found: the head, and a torso prior below the chin (FACE_TORSO face sizes)."""
    canvas = canvas_for(frame_hw, grid)
    height, width = canvas
    mask = np.zeros(canvas, np.uint8)
    _draw_face(mask, face, canvas)
    fw, fh = (face[2] - face[0]) * width, (face[3] - face[1]) * height
    cx = (face[0] + face[2]) / 2 * width
    half = FACE_TORSO[0] * fw / 2
    top = face[3] * height + 0.2 * fh
    cv2.rectangle(mask, _pt((cx - half, top)), _pt((cx + half, top + FACE_TORSO[1] * fh)), 1, -1)
    return Stamp(mask.astype(bool), _to_grid(mask, grid), max(2.0, 2.5 * fw), face, body=False)


def _draw_face(mask: np.ndarray, face: FaceBox, grid: tuple[int, int]) -> None:
    height, width = grid
    centre = ((face[0] + face[2]) / 2 * width, (face[1] + face[3]) / 2 * height)
    axes = (max(1, round(0.65 * (face[2] - face[0]) * width)), max(1, round(0.75 * (face[3] - face[1]) * height)))
    cv2.ellipse(mask, _pt(centre), axes, 0, 0, 360, 1, -1)


def _pt(point: Sequence[float]) -> tuple[int, int]:
    return round(float(point[0])), round(float(point[1]))


def stamps_for(bodies: Sequence[Body], faces: Sequence[FaceBox], grid: tuple[int, int],
               frame_hw: tuple[int, int], since: Sequence[int] | None = None, pairs: bool = True) -> list[Stamp]:
    """One stamp per person: each body (with its face: the one nearest its head, within FACE_MATCH face widths),
    then each face no body took (a face stamp).

    since: per body of ``bodies``, the MoveNet run it was first seen on (``bodysplit.BodyTracks``; lower = there
    earlier), carried on its stamp; None: all 0. pairs: False gives each body in score order the nearest face
    still free (the rule before issue 24's identity work; kept to measure against).
    """
    height, width = frame_hw
    kept = distinct(bodies)
    first = [0] * len(kept) if since is None else [
        int(since[next(i for i, b in enumerate(bodies) if b is body)]) for body in kept]
    # Faces go to bodies nearest pair first (in face widths from the head's centre), not body by body in score
    # order: a close-up face is wide, so a neighbour's head a face width away was within reach of the user's face
    # and a stronger neighbour's body took it (tune half, peek-in: the user's own body then went faceless and the
    # neighbour's claimed 86 % of the user, 7 frames with the user cut).
    centres = np.array([np.mean([b.keypoints[k] for k in HEAD if b.seen()[k]], axis=0) if b.seen()[list(HEAD)].any()
                        else ((b.box[0] + b.box[2]) / 2, b.box[1]) for b in kept], np.float32).reshape(-1, 2)
    boxes = np.array(faces, np.float32).reshape(-1, 4)
    face_xy = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2 * width, (boxes[:, 1] + boxes[:, 3]) / 2 * height], axis=1)
    face_w = np.maximum((boxes[:, 2] - boxes[:, 0]) * width, 1.0)
    distance = np.hypot(*(centres[:, None, :] - face_xy[None, :, :]).transpose(2, 0, 1)) / face_w[None, :]
    face_of: dict[int, int] = {}
    for flat in np.argsort(distance, axis=None):
        b, f = divmod(int(flat), len(faces))
        if distance[b, f] >= FACE_MATCH:
            break
        if b not in face_of and f not in face_of.values():
            face_of[b] = f
    if not pairs:
        face_of = {}
        for b in range(len(kept)):
            free = [f for f in np.argsort(distance[b]) if int(f) not in face_of.values()]
            if free and (distance[b, free[0]] < FACE_MATCH or _face_on_top(faces[int(free[0])], kept[b], frame_hw)):
                face_of[b] = int(free[0])
    # ...else a face inside the top of its box (a body whose head MoveNet placed badly).
    for b, body in enumerate(kept):
        if pairs and b not in face_of:
            top = next((int(f) for f in np.argsort(distance[b]) if int(f) not in face_of.values()
                        and _face_on_top(faces[int(f)], body, frame_hw)), None)
            if top is not None:
                face_of[b] = top
    stamps = [replace(body_stamp(body, grid, frame_hw, faces[face_of[b]] if b in face_of else None), since=first[b])
              for b, body in enumerate(kept)]
    taken = set(face_of.values())
    return stamps + [face_stamp(face, grid, frame_hw) for f, face in enumerate(faces) if f not in taken]


def _face_on_top(face: FaceBox, body: Body, frame_hw: tuple[int, int]) -> bool:
    """The face's centre lies in the upper third of the body's box (a body whose head MoveNet placed badly)."""
    height, width = frame_hw
    cx, cy = (face[0] + face[2]) / 2 * width, (face[1] + face[3]) / 2 * height
    x0, y0, x1, y1 = body.box
    return x0 <= cx <= x1 and y0 <= cy <= y0 + (y1 - y0) / 3


def nearest(stamps: Sequence[Stamp], grid: tuple[int, int]) -> np.ndarray:
    """hxw int32 on ``grid``: the index of the stamp each pixel is nearest to, in each person's own size
    (measured on the canvas, where distances are the same across and down). Where stamps overlap, the bigger
    person (nearer the camera) wins."""
    costs = []
    for stamp in stamps:
        distance = cv2.distanceTransform((~stamp.mask).astype(np.uint8), cv2.DIST_L2, 3)
        # Each distance in the person's own size; inside a stamp, minus its size, so the biggest wins there.
        costs.append(distance / np.float32(stamp.size) - np.float32(stamp.size) * stamp.mask)
    # Depth order: a body clearly smaller than another is behind it (farther from the camera): near the bigger
    # one's skeleton it keeps only its own head. Without this a head peeking in over the user's shoulder took
    # the shoulder (its skeleton's shoulders are drawn there, behind the user's).
    # Followed bodies (``since``): one that came later is behind the one there before (people come in behind a
    # webcam's user, not between them and the camera), whatever their sizes.
    for i, front in enumerate(stamps):
        for j, back in enumerate(stamps):
            newer = NEWER_BEHIND and front.since < back.since and back.face is None
            if i != j and (front.size >= DEPTH_RATIO * back.size or newer):
                behind = costs[i] < NEAR_BODY
                if back.head is not None:
                    behind &= ~back.head
                costs[j][behind] = np.inf
    # A body with no face reaches only REACH of its own sizes beyond its skeleton: farther pixels are not theirs
    # to take (they stay with the first stamp, the region's owner). A passer-by's skeleton at the frame's edge
    # otherwise took 37 % of the user on a far walk.
    for stamp, cost in zip(stamps, costs, strict=True):
        if stamp.face is None:
            cost[cost > REACH] = np.inf
    label = np.zeros(costs[0].shape, np.int32)
    best = costs[0]
    for k in range(1, len(costs)):
        better = costs[k] < best
        best = np.where(better, costs[k], best)
        label[better] = k
    return cv2.resize(label, (grid[1], grid[0]), interpolation=cv2.INTER_NEAREST)


def split_by_bodies(people: Sequence[Person], stamps: Sequence[Stamp]) -> list[Person]:
    """Each region that holds two or more bodies, cut into one Person per body (nearest skeleton), carrying
    the body's face if it has one; other regions as they were.

    people: the selfie regions, masks hxw float32 on the stamps' grid; stamps: bodies only (``stamps_for``'s
    face stamps are not used here: a face with no body is left to the face split, whose depth order keeps a
    small head peeking in behind the user from claiming the user's shoulders).
    """
    out: list[Person] = []
    bodies = [s for s in stamps if s.body]
    cores = [person.mask > 0.5 for person in people]
    # Each body belongs to the one region it overlaps most: a passer-by apart from the user, in a region of
    # their own, whose drawn limbs reach into the user's region must not cut it (a far walk lost 37 % of the
    # user that way).
    home = [max(range(len(cores)), key=lambda i: np.count_nonzero(s.on_grid & cores[i]), default=-1)
            for s in bodies]
    for index, person in enumerate(people):
        core = cores[index]
        inside = [s for s, h in zip(bodies, home, strict=True) if h == index and _in_region(s, core)]
        # The owner first (the body with a face; among faceless ones the one there first, then the biggest):
        # pixels no body can reach stay theirs. A head-only body's size comes from MoveNet's box, which is as
        # tall for a head peeking in as for the user, so by size alone a newcomer's head took the user's body
        # (tune half, peek-in: 4 frames, then the matte's slow return).
        inside.sort(key=lambda s: (s.face is None, s.since if s.face is None else 0, -s.size))
        # Only where faces cannot tell everyone apart (a body in it has no face) or a body's torso is seen and
        # its face is small (a person farther back): a close-up where each body has its face is better split
        # by the face split's watershed on colours and depth order (peek-in scenes: a nearest-skeleton cut
        # took the user's shoulder in 8 of 120 frames there).
        if len(inside) <= 1 or all(s.face is not None and not (s.torso and _far(s.face)) for s in inside):
            out.append(person)
            continue
        out += parts_of(person, core, nearest(inside, core.shape), [stamp.face for stamp in inside])
    return out


def _far(face: FaceBox) -> bool:
    """A face this small (under FAR_FACE of the frame's width) is a person farther back, whole body in view:
    there a skeleton tells people apart better than the face split; a webcam close-up's is left to faces."""
    return face[2] - face[0] < FAR_FACE


def _in_region(stamp: Stamp, core: np.ndarray) -> bool:
    overlap = int(np.count_nonzero(stamp.on_grid & core))
    return overlap >= max(4, MIN_IN_REGION * int(np.count_nonzero(stamp.on_grid)))
