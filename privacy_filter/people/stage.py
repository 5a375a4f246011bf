"""The people stage as the pipeline sees it: a ``PeopleFinder`` that knows each person, not just regions.

``FacePeople(base, detector)`` wraps the segmenter's finder (``SelfiePeople``): the segmenter's regions,
split where several faces share one (``split``), each carrying its face, which ``UserSelector`` uses to know
the user again. The face detector is the expensive part (about 6 ms on a 2-core AVX2 CPU, twice the selfie
model), so its cost scales with need:

* a lone user: one detection every ``idle_every`` frames, just to notice a second person;
* as soon as the selfie map suggests company (a new region, or the largest region grown by AREA_JUMP since
  the last detection: someone merging), that frame is detected at once;
* while two or more faces are in view, or a region is much wider than the one face in it (people whose
  faces were not found yet): every ``busy_every`` frames.

Between detections the last faces are used (at most ``busy_every`` frames old while people are near each
other). A failure of the detector raises, so the frame is hidden whole (privacy fails closed).
"""

from __future__ import annotations

import time
from typing import Protocol

import cv2
import numpy as np

from ..person import Person
from .selection import ALONE_WIDTH
from .split import FaceBox, split_by_faces

MIN_SCORE = 0.6  # MediaPipe's threshold for the full-range face detector
EDGE_SCORE = 0.4  # ...for a face the frame's edge cuts (the detector must be built with min_score <= this)
EDGE = 0.02  # a face box this close (share of the frame) to the side or top edge is cut by it
SAME_FACE = 0.8  # two detections whose centres are closer than this (in the narrower face's widths) are one
HOLD_DISTANCE = 1.5  # a missed face is held only this far (face widths) from every face found now
AREA_JUMP = 1.15  # the largest region this much bigger than at the last detection: someone may have come, look now


class FaceSource(Protocol):
    """detect(frame: HxWx3 uint8 BGR) -> faces with ``box`` (x0, y0, x1, y1 in frame pixels) and ``score``."""

    def detect(self, frame: np.ndarray) -> list: ...


class FacePeople:
    """find(frame: HxWx3 uint8 BGR) -> (people with faces, grid (h, w) of their masks).

    base: the segmenter's finder, find(frame) -> (regions, grid). detector: a ``FaceSource``.
    idle_every / busy_every: detection period (frames) with at most one face / with several in view.
    hold: detector runs a face may be missed and still be used (only while another face is seen).
    stage_ms: {"faces": ms of the last detection (0 when the frame reused older faces), "split": ms}.
    ``faces`` holds the normalised face boxes in use.
    """

    def __init__(
        self, base, detector: FaceSource, idle_every: int = 8, busy_every: int = 3, hold: int = 2
    ) -> None:
        self.base = base
        self.hold = hold
        self.detector = detector
        self.idle_every = max(1, int(idle_every))
        self.busy_every = max(1, int(busy_every))
        self.stage_ms: dict[str, float] = {}
        self.detections = 0
        self.reset()

    def reset(self) -> None:
        """Forget the faces (the next frame is detected afresh)."""
        self.faces: list[FaceBox] = []
        self._missed: list[tuple[FaceBox, int]] = []  # each face in use, with the runs it has been missed
        self._since = 10**9  # frames since the last detection
        self._regions = 0  # regions, and the largest one's area, when faces were last looked for
        self._largest = 0.0

    def find(self, frame: np.ndarray) -> tuple[list[Person], tuple[int, int]]:
        people, grid = self.base.find(frame)
        # Someone may have come in: more regions, or the largest grew since the faces were last looked for
        # (a newcomer merging in slowly, frame by frame, must trigger it too, not only a sudden jump).
        largest = max((p.area for p in people), default=0.0)
        company = len(people) > self._regions or largest > AREA_JUMP * max(self._largest, 1e-6)
        self._since += 1
        every = self.busy_every if len(self.faces) > 1 or self._crowded(people) else self.idle_every
        start = time.perf_counter()
        if self._since >= every or (company and self._since > 1):
            self.faces = self._remember(self._detect(frame))
            self._since, self._regions, self._largest = 0, len(people), largest
            self.stage_ms["faces"] = (time.perf_counter() - start) * 1000
        else:
            self.stage_ms["faces"] = 0.0
        middle = time.perf_counter()
        if len(self.faces) > 1:
            guide = cv2.resize(frame, (grid[1], grid[0]), interpolation=cv2.INTER_AREA)
            people = split_by_faces(people, self.faces, guide)
        elif self.faces:
            people = split_by_faces(people, self.faces)  # attaches the face; one face never cuts
        self.stage_ms["split"] = (time.perf_counter() - middle) * 1000
        return people, grid

    def _crowded(self, people: list[Person]) -> bool:
        # A region much wider than the one face in it may hold people whose faces were not found yet.
        for person in people:
            if person.face is not None and person.box[2] - person.box[0] > ALONE_WIDTH * (
                person.face[2] - person.face[0]
            ):
                return True
        return False

    def _remember(self, found: list[FaceBox]) -> list[FaceBox]:
        # A face the detector misses for one or two runs (turned half away, a hand over it) is kept where it
        # was, so its person does not fall back into the user's region. Only a face that was one of several,
        # while someone is still seen, and far from every face found now: the user's own face, found a bit
        # further along after a quick move, must never leave a ghost behind that would cut them in two.
        kept = []
        if found and len(self._missed) > 1:
            for box, missed in self._missed:
                if missed < self.hold and all(_centre_distance(box, new) > HOLD_DISTANCE for new in found):
                    kept.append((box, missed + 1))
        self._missed = [(box, 0) for box in found] + kept
        return found + [box for box, _ in kept]

    def _detect(self, frame: np.ndarray) -> list[FaceBox]:
        height, width = frame.shape[:2]
        self.detections += 1
        faces = []
        for face in self.detector.detect(frame):
            x0, y0, x1, y1 = (float(v) for v in face.box)
            box = (x0 / width, y0 / height, x1 / width, y1 / height)
            if not all(np.isfinite(box)) or box[2] <= box[0] or box[3] <= box[1]:
                raise ValueError(f"face detector returned a bad box {face.box}")
            # A face cut by the frame's side or top edge (someone coming in) scores low (0.3-0.65 measured):
            # taken from EDGE_SCORE there, from MIN_SCORE elsewhere (where a print on a T-shirt could pass).
            at_edge = box[0] < EDGE or box[2] > 1 - EDGE or box[1] < EDGE
            if float(getattr(face, "score", 1.0)) < (EDGE_SCORE if at_edge else MIN_SCORE):
                continue
            # The same face twice (two detections the suppression left apart) would cut its person in two.
            if all(_centre_distance(box, other, by=min) > SAME_FACE for other in faces):
                faces.append(box)
        return faces

    def close(self) -> None:
        close = getattr(self.base, "close", None)
        if close is not None:
            close()


def _centre_distance(a: FaceBox, b: FaceBox, by=max) -> float:
    """Distance between two face boxes' centres, in widths of the wider one (``by=min``: the narrower one)."""
    dx = (a[0] + a[2] - b[0] - b[2]) / 2
    dy = (a[1] + a[3] - b[1] - b[3]) / 2
    return float(np.hypot(dx, dy)) / max(by(a[2] - a[0], b[2] - b[0]), 1e-6)
