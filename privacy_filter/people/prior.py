"""Time and motion: the user's silhouette just before someone arrived says which pixels of a fused region are theirs.

A passer-by who shows only a sliver beside the user is fused into the user's selfie region; MoveNet rarely finds
such a sliver and the face detector sees no face. ``SilhouettePrior`` keeps the user's recent silhouette on the
selfie grid while nothing but the user is there (the user's region averaged over the last second or so: where
the user has mostly been), and:

* **time**: when the user's region reaches beyond that silhouette (its soft band, where the user's own recent
  motion took them, grown by a pixel or two; never over the user's head or the user's own MoveNet skeleton: a
  raised arm is theirs) by a sizeable
  piece, someone has arrived: from then on the prior is frozen and the pieces of the region outside it are
  given to "someone else" (a faceless Person, which the selection hides), until the region fits the prior
  again for a few frames, or for at most ``MAX_FRAMES`` (then the growth is taken for the user's own);
* **motion** (``motion=True``): that growth counts as an arrival only if it moves on its own: the piece's
  moving pixels (frame difference at grid size) are not connected, through moving pixels, to motion inside
  the user's silhouette (an arm swung out moves with the forearm inside; the whole picture sliding in moves
  everywhere; a passer-by behind a still user moves apart from them), and an arrival ends as soon as its
  pieces move with the user (a step aside);
* **gate** (the stage's ``prior_gate``, on by default): an arrival may start only while the prior is *armed*: a
  sign of someone else within the last ~2 s (a second region, face or body; the stage judges that), or
  (``edge``) the region reaching the frame's side beyond the silhouette (someone coming in there). Unarmed,
  the prior only learns (never what lies beyond its band once that is piece-sized): a lone user's arm swung
  out is never an arrival, and the pieces and motion are not judged (no cost);
* ``leaving`` is True on the frame an arrival is seen: the stage then runs the face detector and MoveNet at
  once (a walker merging in from the frame's edge grows the region by less than the stage's area triggers).

Arrays: regions are ``Person`` masks on the grid (hxw float32 in [0, 1]); frame HxWx3 uint8 BGR; faces
normalised (x1, y1, x2, y2) boxes; ``protect`` hxw bool on the grid (the user's own skeleton, if known).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import cv2
import numpy as np

from ..person import Person
from .split import FaceBox, head_distance, parts_of

LEARN = 1 / 15  # the prior is the user's region averaged over time at this rate (an EMA): a pixel is in it
# (> 0.5) once the user covered it for ~10 frames in a row, and leaves it ~10 frames after they left it. (A running
# maximum took in the first slivers of a walker coming in at the frame's edge, before they were big enough to
# count: the prior crept over the walker.)
LOW = 0.1  # a pixel counts as inside the prior where its average is above this: where the user was for a couple
# of frames within the last second (a user who moves has a wide soft band there, a still one a sharp edge: the margin
# for the user's own motion comes from their motion)
MARGIN = 0.01  # ...grown by this share of the grid's width (the selfie map's edge wobbles by a pixel or two)
INTERIOR = 0.03  # motion this far (share of the grid's width) inside the prior is the user's own (nearer its edge,
# a passer-by just behind the user's outline changes pixels the selfie map gave the user)
STALE = 0.5  # the user's region covering less than this share of the prior: it no longer says where they are
MIN_PIECE = 0.004  # a piece outside the prior smaller than this share of the grid is the user's edge, not someone
END_FRAMES = 3  # frames in a row with no piece outside before an arrival is over (the prior follows the user again)
MAX_FRAMES = 90  # an "arrival" lasting longer than this (3 s) is taken for the user's own growth
HEAD_GUARD = 1.0  # the user's head (head_distance below this: split.head_distance's egg) is never given away
MOTION_LEVEL = 12  # grey levels of frame difference (at grid size) that count as motion
SELF_MOTION = 0.15  # a piece moves with the user when the motion it connects to inside their silhouette is at least
# this share of the piece's own motion
GONE_FRAMES = 30  # frames with no region at all before the prior is forgotten


class SilhouettePrior:
    """check(frame, people, faces, grid, alone, protect) each frame before the detectors (True: an arrival starts,
    run them now); then apply(people, faces, protect) -> people, the pieces of the user's region outside the
    user's recent silhouette cut off as faceless Persons while an arrival lasts. ``leaving``: an arrival started
    on this frame; ``arrivals`` counts them; ``active`` tells one is on. motion: the motion cue (else time
    alone). Stateful across frames (``reset()`` between inputs); one stage's finder calls it."""

    def __init__(self, motion: bool = True, margin: float = MARGIN, min_piece: float = MIN_PIECE,
                 edge: bool = True, interior: float = INTERIOR) -> None:
        self.motion = motion
        # edge: the user's region reaching the frame's side beyond the prior's band (someone coming in there) arms
        # the prior by itself, as the stage's signs of someone else do (tune half: peek-in heads merge at the
        # frame's edge at once, leaving no second region: others hidden 0.907 without it, 0.935 with it)
        self.edge = edge
        self.margin = margin
        self.min_piece = min_piece
        # interior: motion this far inside the prior is the user's own (a walker seen through gaps in the user's
        # hair moves nearer its edge than this)
        self.interior = interior
        self.arrivals = 0
        self.reset()

    def reset(self) -> None:
        """Forget the silhouette (a scene cut, a new start)."""
        self.prior: np.ndarray | None = None  # hxw float32: the user's region averaged over time (EMA)
        self.active = False  # an arrival is under way: the prior is frozen, the pieces outside it are cut
        self.leaving = False
        self.spilled = False  # this frame's check was armed by the region spilling out at the frame's side
        self._frames = 0  # frames the arrival has lasted
        self._quiet = 0  # frames in a row with no piece outside, during an arrival
        self._gone = 0
        self._last: np.ndarray | None = None  # the last frame (motion), made grey and small only when asked

    def check(self, frame: np.ndarray, people: Sequence[Person], faces: Sequence[FaceBox],
              grid: tuple[int, int], alone: bool, protect=lambda: None, armed: bool = True) -> bool:
        """Before the detectors run: does the user's region reach beyond the prior by a piece that arrived?
        Sets and returns ``leaving`` (an arrival starts on this frame). alone: nobody but one person about (one
        region, at most one face and one body): only then, and with no piece outside, the prior learns.
        protect() -> hxw bool or None: the user's own skeleton as last seen (asked only when a piece is outside).
        armed: False while nothing says anyone else is about (the stage's gate): the prior only learns, no
        arrival can start (a lone user's arm swung out is never one), and the pieces and motion are not judged."""
        self.leaving = self.spilled = False
        # Motion is judged only on frames with a piece outside the prior (rarely, for a lone user): the last frame
        # is kept as it was handed in (a reference: the sources hand out a new array each frame; were one reused,
        # nothing would seem to move, so nothing would count as an arrival) and made small and grey only then.
        last, self._last = self._last, frame if self.motion else None

        def motion() -> tuple[np.ndarray, np.ndarray | None]:
            return self._grey_of(frame, grid), None if last is None else self._grey_of(last, grid)

        if not people:
            self._gone += 1
            if self._gone > GONE_FRAMES:
                self.reset()
            return False
        self._gone = 0
        if self.prior is None or self.prior.shape != grid:
            if alone:
                self.prior = self._user_core(people, faces).astype(np.float32)
            return False
        index = self._user_index(people)
        core = people[index].mask > 0.5
        known = self.prior > 0.5
        if np.count_nonzero(core & known) < STALE * np.count_nonzero(known):
            # The user moved away from their silhouette (or left and came back elsewhere): start afresh from here,
            # never cut by a silhouette that no longer says where they are.
            self.active = False
            self.prior = core.astype(np.float32) if alone else self.prior
            return False
        inside = self._inside()
        outside = core & ~inside
        if not armed and not self.active:
            # Unarmed: no pieces, no motion judged. The prior learns as below, but never what lies beyond its band
            # once that could be a piece (someone merged in before any sign of them: the arrival starts as soon
            # as a sign comes, if the prior has not crept over them by then).
            spill = np.count_nonzero(outside)
            if spill < self.min_piece * outside.size:
                cv2.accumulateWeighted((core & inside if spill else core).astype(np.float32), self.prior, LEARN)
                return False
            if not (self.edge and (outside[:, 0].any() or outside[:, -1].any())):
                return False
            self.spilled = True  # armed by the spill at the frame's side (the stage looks for faces sooner)
        pieces = self._pieces(outside, faces, None)
        if pieces.any():
            pieces = self._pieces(pieces, faces, protect())
        own = False  # the pieces outside moved with the user: theirs
        if self.active:
            self._frames += 1
            self._quiet = 0 if pieces.any() else self._quiet + 1
            # Over when the region fits the prior again for a while, after MAX_FRAMES, or (motion) as soon as
            # the pieces outside move with the user: the user moving as a whole (a step aside) is never cut.
            own = self.motion and bool(pieces.any()) and self._moves_with_user(core, pieces, *motion(), False)
            if self._quiet >= END_FRAMES or self._frames > MAX_FRAMES or own:
                self.active = False
        elif pieces.any():
            # A prior too small to judge by (its inner part, well inside the user, smaller than the pieces beyond
            # it: the user coming back into the picture from its edge, a first frame) says nothing: no arrival.
            own = bool(np.count_nonzero(self._interior(core)) < np.count_nonzero(pieces)) or (
                self.motion and self._moves_with_user(core, pieces, *motion()))
            if not own:
                self.active, self.leaving, self._frames, self._quiet = True, True, 0, 0
                self.arrivals += 1
        if not self.active and (alone or not pieces.any()):
            # Learnt while nobody else is near, or while the user's region fits the prior (a neighbour in a region
            # of their own). Only what is inside the prior's band, unless the pieces outside moved with the user
            # (an arm swung out): the first slivers of someone merging in from the frame's edge, too small to count
            # yet, must not be learnt, or the prior creeps over them as they come.
            learnt = core if own or not outside.any() else core & inside
            cv2.accumulateWeighted(learnt.astype(np.float32), self.prior, LEARN)
        return self.leaving

    def apply(self, people: Sequence[Person], faces: Sequence[FaceBox], protect: np.ndarray | None = None
              ) -> list[Person]:
        """During an arrival, the user's region cut in two: the user (inside the prior, their head, ``protect``)
        and the pieces outside (faceless, hidden by the selection). Else the people as they were."""
        people = list(people)
        if not self.active or self.prior is None or not people:
            return people
        index = self._user_index(people)
        person = people[index]
        core = person.mask > 0.5
        pieces = self._pieces(core & ~self._inside(), faces, protect)
        if not pieces.any():
            return people
        label = pieces.astype(np.int32)  # 0: the user, 1: someone else
        parts = parts_of(person, core, label, [person.face, None])
        return people[:index] + parts + people[index + 1:]

    def band(self) -> np.ndarray:
        """hxw bool: where the user has been within the last second or so (the prior's band, grown by the margin)."""
        return self._inside()

    def _interior(self, core: np.ndarray) -> np.ndarray:
        """hxw bool: the part of ``core`` well inside the prior (INTERIOR from its edge): surely the user."""
        assert self.prior is not None
        return cv2.erode((self.prior > 0.5).astype(np.uint8), _disc(round(self.interior * core.shape[1]))
                         ).astype(bool) & core

    def _inside(self) -> np.ndarray:
        """hxw bool: the prior's band (above LOW), grown by the margin."""
        assert self.prior is not None
        return cv2.dilate((self.prior > LOW).astype(np.uint8), _disc(round(self.margin * self.prior.shape[1]))
                          ).astype(bool)

    def _pieces(self, outside: np.ndarray, faces: Sequence[FaceBox], protect: np.ndarray | None) -> np.ndarray:
        """hxw bool: the sizeable connected pieces of ``outside`` (the user's region beyond the prior's band),
        not over the user's head nor ``protect``."""
        assert self.prior is not None
        if np.count_nonzero(outside) < self.min_piece * outside.size:
            return np.zeros_like(outside)  # (no piece can be big enough: no labelling)
        for face in faces:
            if _in(self.prior > 0.5, face):
                outside = outside & (head_distance(face, outside.shape) > HEAD_GUARD)
        if protect is not None:
            outside = outside & ~protect
        count, labels, stats, _ = cv2.connectedComponentsWithStats(outside.astype(np.uint8), connectivity=8)
        big = [k for k in range(1, count) if stats[k, cv2.CC_STAT_AREA] >= self.min_piece * outside.size]
        keep = np.zeros(count, bool)
        keep[big] = True
        return keep[labels]

    def _moves_with_user(self, core: np.ndarray, pieces: np.ndarray, grey: np.ndarray | None,
                         previous: np.ndarray | None, still: bool = True) -> bool:
        """The pieces' motion is the user's: their moving pixels connect, through moving pixels of the region,
        to motion well inside the user's silhouette. still: what nothing moving in them means (True: no sign of
        anyone arriving, so the user's; False: no sign that they are the user's)."""
        if grey is None or previous is None or grey.shape != previous.shape:
            return still  # no motion to go by
        moving = (cv2.absdiff(grey, previous) > MOTION_LEVEL) & cv2.dilate(core.astype(np.uint8), _NEAR).astype(bool)
        if not (moving & pieces).any():
            return still
        interior = self._interior(core)
        joined = cv2.dilate(moving.astype(np.uint8), _NEAR)
        _, labels = cv2.connectedComponents(joined, connectivity=8)
        theirs = np.zeros(int(labels.max()) + 1, bool)
        theirs[labels[pieces & moving]] = True
        theirs[0] = False
        with_user = np.count_nonzero(theirs[labels] & interior & moving)
        return bool(with_user > SELF_MOTION * np.count_nonzero(pieces & moving))

    def _user_index(self, people: Sequence[Person]) -> int:
        assert self.prior is not None
        if len(people) == 1:
            return 0  # (a lone user's every frame: no counting)
        known = self.prior > 0.5
        return max(range(len(people)), key=lambda i: np.count_nonzero((people[i].mask > 0.5) & known))

    @staticmethod
    def _user_core(people: Sequence[Person], faces: Sequence[FaceBox]) -> np.ndarray:
        return max((p.mask > 0.5 for p in people), key=np.count_nonzero)

    @staticmethod
    def _grey_of(frame: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
        # Grey first, then bilinear (the blur is the anti-alias): INTER_AREA at a non-integer scale cost ~1 ms a
        # 640x480 frame, twice the rest of the prior.
        small = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), (grid[1], grid[0]), interpolation=cv2.INTER_LINEAR)
        return cv2.GaussianBlur(small, (3, 3), 0)


_NEAR = np.ones((3, 3), np.uint8)


@functools.lru_cache(maxsize=8)
def _disc(radius: int) -> np.ndarray:
    """The elliptic structuring element of this radius (at least 1), made once: the prior runs every frame."""
    radius = max(1, radius)
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _in(mask: np.ndarray, face: FaceBox) -> bool:
    """The face's centre lies in ``mask`` (hxw bool)."""
    height, width = mask.shape
    col = min(width - 1, max(0, int((face[0] + face[2]) / 2 * width)))
    row = min(height - 1, max(0, int((face[1] + face[3]) / 2 * height)))
    return bool(mask[row, col])
