"""Company: someone besides the user is about. When to look for their face sooner, and how a split that follows
it is kept off the user's own pixels.

A walker who merges into the user's region leaves a sign before their face is seen (a second region for a frame
or two, the region spilling out at the frame's side: the signs that arm the silhouette prior). The stage's idle
face cadence (every 12 frames) then often has not looked by the time the walker's face is plain to see
(benchmarks/RESULTS.md, "Faces Haar still finds"). Looking sooner finds that face while the walker is half
behind the user, and the splits that follow a face (``split.split_by_faces``'s body prior and watershed,
MoveNet's nearest skeleton, the pose mask) then drew the border through the user's shoulder and hair.

``guard_user``: the user's silhouette from just before someone arrived (``prior.SilhouettePrior``'s average,
above one half: where the user has been for most of the last second) is the user's. Someone who passes
*behind* the user never covers it; so after the splits, what of that silhouette the split gave to someone else
(or trimmed away) goes back to the user: except the other faces in front of the user (their boxes, a little
grown): a face whose eyes are mostly over the silhouette is in front of the user (someone leaning in): hidden.

Arrays: regions are ``Person`` masks on the selfie grid (hxw float32 in [0, 1]); faces normalised (x1, y1, x2, y2).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ..person import Person
from .floor import PROTECT, grown
from .split import HEAD, NEAR_BODY, FaceBox, body_cost, head_distance

FRONT = 0.5  # another face's upper half this much over the user's silhouette: in front of the user, never theirs
BODY_TOO = True  # a face behind the user takes their plausible body (``split.body_cost``) beyond the silhouette too
STALE = 0.5  # the user's silhouette less than this much covered by the regions now: it no longer says where they are
_HALO = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))  # as split._HALO: a part's soft edge


def _box_mask(box: FaceBox, grid: tuple[int, int]) -> np.ndarray:
    height, width = grid
    x0, y0 = max(0, int(np.floor(box[0] * width))), max(0, int(np.floor(box[1] * height)))
    x1, y1 = min(width, int(np.ceil(box[2] * width))), min(height, int(np.ceil(box[3] * height)))
    mask = np.zeros(grid, bool)
    mask[y0:y1, x0:x1] = True
    return mask


def guard_user(regions: Sequence[Person], people: Sequence[Person], silhouette: np.ndarray | None,
               faces: Sequence[FaceBox], band: np.ndarray | None = None) -> list[Person]:
    """people (the regions after every split) with the user's silhouette given back to the user's part, and the
    heads of the people behind the user taken from it.

    regions: the segmenter's regions before the splits (what was the user's fused region); silhouette: hxw bool,
    the user's pre-arrival silhouette, where they have mostly been (None: nothing known, the people as they are);
    faces: every face in use; band: hxw bool, where the user has been at all of late (None: the silhouette): only
    beyond it does a head behind the user take pixels from them. (The band is not given back: a walker the prior
    took for the user's own motion for a frame or two is in the band before they are in the silhouette.)
    The user's part is the part with the most of the silhouette; it gets, from the region it was cut out of, the
    silhouette's pixels (but the boxes, grown by PROTECT, of other faces in front of the user), and every other
    part loses them. Those pixels are the user's part's ``own``: the selection's face floor does not cut them
    either. Each other face behind the user takes from the user's part its head (``split.head_distance`` below
    HEAD) beyond the silhouette: a head that came in behind the user's, which the user's big face box and head
    shape had kept for the user."""
    people = list(people)
    if silhouette is None or not people or not regions:
        return people
    known = int(np.count_nonzero(silhouette))
    if not known:
        return people
    region = max(regions, key=lambda r: np.count_nonzero((r.mask > 0.5) & silhouette))
    whole = region.mask > 0.5
    home = whole & silhouette
    if np.count_nonzero(home) < STALE * known:
        return people  # the user has moved off their silhouette (or left): it says nothing now
    grid = silhouette.shape
    cores = [p.mask > 0.5 for p in people]
    user = max(range(len(people)), key=lambda i: np.count_nonzero(cores[i] & silhouette))
    own_face = people[user].face
    behind: list[tuple[FaceBox, np.ndarray]] = []  # (face, its head beyond the silhouette, in the user's part)
    for face in faces:
        if own_face is not None and face == own_face:
            continue
        # Another face whose upper half (eyes, brows) lies mostly over the user's silhouette is in front of the
        # user (leaning in): its box stays theirs. Else it is behind the user, and its box's part over the
        # silhouette (the detector's box reaches down over the user's shoulder, which hides that person's chin and
        # cheek) is the user's, and its head beyond the silhouette is theirs.
        upper = _box_mask((face[0], face[1], face[2], (face[1] + face[3]) / 2), grid)
        if np.count_nonzero(upper & silhouette) > FRONT * np.count_nonzero(upper):
            home &= ~_box_mask(grown(face, PROTECT, PROTECT, PROTECT), grid)
        else:
            near = head_distance(face, grid) < HEAD
            if BODY_TOO:
                near |= body_cost(face, grid) < NEAR_BODY
            behind.append((face, cores[user] & ~(silhouette if band is None else band) & near))
    taken = home & ~cores[user]
    claimed = np.logical_or.reduce([head for _, head in behind]) if behind else np.zeros(grid, bool)
    if not taken.any() and not claimed.any():
        person = people[user]
        people[user] = Person(person.score, person.box, person.mask, person.face, home)
        return people
    out = []
    holders = {id(face): next((i for i, p in enumerate(people) if p.face == face), None) for face, _ in behind}
    for i, person in enumerate(people):
        core = cores[i]
        if i == user:
            core = (core | home) & ~claimed
        else:
            core = core & ~taken
            for face, head in behind:
                if holders[id(face)] == i:
                    core = core | head
        if np.array_equal(core, cores[i]):
            out.append(person if i != user else Person(person.score, person.box, person.mask, person.face, home))
            continue
        part = _part(region, whole, core, person.mask, person.score, person.face, home if i == user else None)
        if part is not None:
            out.append(part)
    for face, head in behind:  # a head with no part of its own yet: a Person with that face (the floor hides it)
        if holders[id(face)] is None and head.any():
            part = _part(region, whole, head, region.mask, 1.0, face, None)
            if part is not None:
                out.append(part)
    return out


def _part(region: Person, whole: np.ndarray, core: np.ndarray, mask: np.ndarray, score: float,
          face: FaceBox | None, own: np.ndarray | None) -> Person | None:
    """A Person of ``core`` (hxw bool) with the region's soft edge next to it (``split.parts_of``'s halo); ``mask``
    (its mask before) kept where it was not taken from it. None: no pixel left."""
    if not core.any():
        return None
    halo = cv2.dilate(core.astype(np.uint8), _HALO).astype(bool) & (core | ~whole)
    lost = (mask > 0.5) & ~core  # taken from this part: none of its soft edge stays there
    values = np.where(core, np.maximum(mask, region.mask), np.where(halo, np.maximum(mask, region.mask), mask))
    values = np.where(lost, 0.0, values).astype(np.float32)
    x, y, w, h = cv2.boundingRect(core.astype(np.uint8))  # (as split.parts_of boxes a part)
    height, width = core.shape
    box = (x / width, y / height, (x + w) / width, (y + h) / height)
    return Person(score, box, values, face, own)
