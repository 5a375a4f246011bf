"""When MoveNet runs, and what its bodies do to the people: ``BodySplit`` inside the people stage.

MoveNet costs ~30 ms a run (one LiteRT thread, 2-core AMD EPYC, AVX-512 or AVX2 alike), about a whole camera
frame, so:

* a lone user: one run every ``idle_every`` frames, just to notice someone whose face is not seen;
* a region appears, or the largest region grows beyond the largest it was since the last run by GROWTH (someone
  merging in, a passer-by coming into the picture): a run at once, on that frame, so a faceless passer-by is
  hidden from the first frame MoveNet sees them;
* while two or more people are about (bodies or faces): a run every ``busy_every`` frames.

Periodic runs are deferred: ``find`` only letterboxes the frame (~0.3 ms) and ``after_handoff`` (called by
``concurrent.Lookahead`` on its worker once the frame's result is queued) runs the model, so it overlaps the
compositing instead of delaying the frame; when nobody calls the hook (the synchronous path) the next ``split``
runs it first, so both paths give the same people. A model failure raises (the frame fails closed).

Identity (``identity=True``; off by default, see benchmarks/RESULTS.md "Body identity"): each body is followed
from run to run by box overlap (``BodyTracks``), so the split knows who was there first: in a region cut between
bodies none of which has a face, that body (the user, whom someone joined) owns the pixels no skeleton reaches,
where MoveNet's box height (as tall for a head peeking in as for the user) decided before; and faces go to bodies
nearest pair first (``skeletons.stamps_for``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from ..person import Person
from .multipose import Body, MultiPoseDetector, letterbox_int
from .skeletons import box_iou, distinct, split_by_bodies, stamps_for
from .split import FaceBox

IDLE_EVERY = 240  # frames between runs for a lone user (8 s at 30 FPS; 29-36 CPU-ms a run on 2-core AVX2: ~0.14 a
# frame; every 120 took 0.3 of the lone user's +0.5 CPU-ms budget there, with the prior's 0.17; arrivals run it at once)
BUSY_EVERY = 3  # frames between runs while others are about
GROWTH = 1.08  # the largest region this much bigger than ever since the last run: someone may be merging in
CALM = 3  # runs in a row with at most one person before the runs slow down again
STILL = 0.02  # while busy, a periodic run is skipped while the people's outline changed less than this share (XOR
# over union of the regions on the grid) since the last run: bodies that did not move are where MoveNet saw them
STILL_MAX = 12  # ...for at most this many frames (0.4 s at 30 FPS) since the last run
TRACK_IOU = 0.3  # a body whose box overlaps a known body's this much (IoU) on the next run is that body, moved
TRACK_RUNS = 5  # a body not found again is remembered this many runs (MoveNet misses a touched user for a run)


class BodySplit:
    """split(frame, people, faces, grid) -> people cut by body, or None (fewer than two bodies).

    frame: HxWx3 uint8 BGR; people: the selfie regions (masks hxw on ``grid``); faces: normalised face boxes.
    ``bodies`` holds the bodies in use (frame pixels); ``runs`` counts MoveNet runs; ``stage_ms["multipose"]``
    the ms the model took on the last frame (0 when it did not run).
    """

    def __init__(self, detector: MultiPoseDetector, idle_every: int = IDLE_EVERY, busy_every: int = BUSY_EVERY,
                 identity: bool = False) -> None:
        self.detector = detector
        # identity: each body followed from run to run (``BodyTracks``): in a region cut between faceless bodies the
        # one there first owns what no skeleton reaches, and faces go to bodies nearest pair first. Off by default:
        # on the tune half it ended every peek-in cut (21 -> 0 frames), on the check half lean-in got worse
        # (others hidden 0.855 -> 0.834, user IoU 0.882 -> 0.858; benchmarks/RESULTS.md "Body identity").
        self.identity = identity
        self.idle_every = max(1, int(idle_every))
        self.busy_every = max(1, int(busy_every))
        self.runs = 0
        self.frames = 0  # frames seen (``split`` calls); ``age``: frames since the one ``bodies`` were found on
        self.stage_ms: dict[str, float] = {}
        self.reset()

    def reset(self) -> None:
        """Forget the bodies (the next frame runs MoveNet on itself)."""
        self.bodies: list[Body] | None = None
        self._distinct: list[Body] = []  # the bodies worth drawing (``skeletons.distinct``)
        self.tracks = BodyTracks()
        self._since_run: list[int] = []  # per body of ``_distinct``: the run it was first seen on
        self._pending: tuple[np.ndarray, tuple[int, int]] | None = None
        self._pending_frame = self._bodies_frame = -10**9
        self._since = 10**9
        self._regions = 0
        self._largest = 0.0  # the largest region's area at the last run...
        self._seen = 0.0  # ...and the largest since
        self._calm = CALM
        self._outline: np.ndarray | None = None  # hxw bool: the people's outline at the last run (``_still``)

    def describe(self) -> str:
        return self.detector.describe()

    def after_handoff(self) -> None:
        """Run a deferred MoveNet, if one is due (on the worker, after the frame's result was handed out)."""
        if self._pending is not None:
            tensor, frame_hw = self._pending
            self._pending = None
            self._use(self._run(tensor, frame_hw))
            self._bodies_frame = self._pending_frame

    @property
    def distinct(self) -> list[Body]:
        """The bodies of the last run worth drawing (``skeletons.distinct``): one per person seen."""
        return self._distinct

    @property
    def age(self) -> int:
        """Frames since the frame ``bodies`` were found on (0: this one)."""
        return self.frames - self._bodies_frame

    def split(self, frame: np.ndarray, people: Sequence[Person], faces: Sequence[FaceBox],
              grid: tuple[int, int], force: bool = False, busy: bool = False) -> list[Person] | None:
        """force: run MoveNet on this frame (the stage saw someone arrive by another cue); busy: someone is
        about by another cue (run every ``busy_every`` frames)."""
        start = time.perf_counter()
        self.after_handoff()  # the synchronous path: nobody called the hook
        self.frames += 1
        self._since += 1
        largest = max((p.area for p in people), default=0.0)
        self._seen = max(self._seen, largest)
        arrived = force or len(people) > self._regions or largest > GROWTH * max(self._largest, 1e-6)
        busy = busy or len(faces) > 1 or self._calm < CALM
        if self.bodies is None or (arrived and (self._since > 1 or force)):
            self._largest, self._seen = self._seen, largest
            self._regions = len(people)
            self._use(self._run(letterbox_int(frame), frame.shape[:2]))
            self._bodies_frame = self.frames
            self._outline = _outline(people)
        elif self._since >= (self.busy_every if busy else self.idle_every):
            outline = _outline(people)
            if busy and self._since < STILL_MAX and _still(outline, self._outline):
                self._bodies_frame = self.frames  # (the bodies are as good as a run on this frame would give: ``age``)
            else:
                self._outline = outline
                self._largest, self._seen = self._seen, largest
                self._regions = len(people)
                self._pending = (letterbox_int(frame), frame.shape[:2])
                self._pending_frame = self.frames
                self._since = 0
        self.stage_ms["multipose"] = (time.perf_counter() - start) * 1000
        if len(self._distinct) < 2:
            return None  # one body or none: nothing to tell apart by body (a lone user costs nothing more here)
        since = self._since_run if self.identity else None
        return split_by_bodies(people, stamps_for(self._distinct, faces, grid, frame.shape[:2], since, self.identity))

    def _run(self, tensor: np.ndarray, frame_hw: tuple[int, int]) -> list[Body]:
        self.runs += 1
        return self.detector.detect_letterboxed(tensor, frame_hw)

    def _use(self, bodies: list[Body]) -> None:
        self.bodies = bodies
        self._distinct = distinct(bodies)
        self._since_run = self.tracks.follow(self._distinct, self.runs)
        self._since = 0
        self._calm = 0 if len(self._distinct) > 1 else min(CALM, self._calm + 1)


def _outline(people: Sequence[Person]) -> np.ndarray | None:
    """hxw bool: where any of the people is (mask > 0.5), or None for nobody."""
    return np.logical_or.reduce([p.mask > 0.5 for p in people]) if people else None


def _still(outline: np.ndarray | None, last: np.ndarray | None) -> bool:
    """The people's outline on the grid changed by less than STILL since ``last``, the outline at the last run
    (not the last frame's: a slow drift adds up)."""
    if outline is None or last is None or last.shape != outline.shape:
        return False
    return int(np.count_nonzero(outline ^ last)) < STILL * max(1, int(np.count_nonzero(outline | last)))


class BodyTracks:
    """MoveNet's bodies followed from run to run by box overlap: who was there first.

    follow(bodies, run) -> per body, the run it was first seen on. A body whose box overlaps a known one's by
    TRACK_IOU (greedy, best overlap first) is that body; a known body not found is remembered TRACK_RUNS runs
    (the user touched by someone is often missed for a run), then forgotten. Boxes are frame pixels.
    """

    def __init__(self) -> None:
        self._known: list[tuple[tuple[float, float, float, float], int, int]] = []  # (box, first run, last run)

    def follow(self, bodies: Sequence[Body], run: int) -> list[int]:
        known = [k for k in self._known if run - k[2] <= TRACK_RUNS]
        overlap = np.array([[box_iou(b.box, k[0]) for k in known] for b in bodies], np.float32)
        overlap = overlap.reshape(len(bodies), len(known))
        first = [run] * len(bodies)
        matched: set[int] = set()
        taken: set[int] = set()
        for flat in np.argsort(-overlap, axis=None):
            b, k = divmod(int(flat), len(known))
            if overlap[b, k] < TRACK_IOU:
                break
            if b not in matched and k not in taken:
                first[b] = known[k][1]
                matched.add(b)
                taken.add(k)
        left = [k for i, k in enumerate(known) if i not in taken]
        self._known = [(b.box, f, run) for b, f in zip(bodies, first, strict=True)] + left
        return first
