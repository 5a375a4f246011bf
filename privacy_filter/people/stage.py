"""The people stage as the pipeline sees it: a ``PeopleFinder`` that knows each person, not just regions.

``FacePeople(base, detector)`` wraps the segmenter's finder (``SelfiePeople``): the segmenter's regions,
split where several faces share one (``split``), each carrying its face, which ``UserSelector`` uses to know
the user again. The face detector is the expensive part (about 6 ms on a 2-core AVX2 CPU, twice the selfie
model), so its cost scales with need:

* a lone user: one detection every ``idle_every`` frames, just to notice a second person;
* as soon as the selfie map suggests company (a new region, or the largest region grown by AREA_JUMP since
  the last detection: someone merging), that frame is detected at once;
* while two or more faces are in view, or (``sooner``) while the silhouette prior is armed by a sign of
  someone else (people whose faces were not found yet): every ``busy_every`` frames.

Between detections the last faces are used (at most ``busy_every`` frames old while people are near each
other). A failure of the detector raises, so the frame is hidden whole (privacy fails closed).

Bodies (``bodies=BodyMasker()``): a pose check finds each face's body and cuts that person's region to
their own pose_landmark mask. A check is spread over frames (the pose detector on one, one pose_landmark a
frame after, never on a frame where the faces were detected), and a body already known is followed by its
face instead of detected again (the detector only every DETECT_EVERY_CHECKS checks): the detector loses the
user exactly while someone leans on them.

After every split (``guard``, with the prior): the user's silhouette of before someone came is the user's, and a
head found behind the user takes its pixels beyond it (``company.guard_user``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Protocol

import cv2
import numpy as np

from ..person import Person
from .company import guard_user
from .multipose import pose_bodies
from .skeletons import body_stamp, distinct
from .split import FaceBox, split_by_faces

MIN_SCORE = 0.6  # MediaPipe's threshold for the full-range face detector
EDGE_SCORE = 0.4  # ...for a face the frame's edge cuts (the detector must be built with min_score <= this)
EDGE = 0.02  # a face box this close (share of the frame) to the side or top edge is cut by it
SAME_FACE = 0.8  # two detections whose centres are closer than this (in the narrower face's widths) are one
HOLD_DISTANCE = 1.5  # a missed face is held only this far (face widths) from every face found now
BODY_MATCH = 1.0  # a pose detection whose face-ish box centre is this close (face widths) is that face's body
BODY_SURE = 0.8  # pose mask probability taken as that person's (0.5 kept 73 % of a touching neighbour)
BODY_MARGIN = 0.1  # the pose mask grown by this (face widths) before it cuts a region: its edge never cuts
BODY_LOOSE = 0.15  # ...and by this to judge whether the region reaches beyond its person (someone is there)
BODY_IDLE_EVERY = 90  # frames between pose checks for a lone user (~52 ms each on 2-core AVX2: ~0.6 ms a frame)
BODY_BUSY_EVERY = 6  # frames between pose checks while someone is near (~52 ms of models each on 2-core AVX2)
BODY_OUTSIDE = 0.005  # a region this much outside its person's pose mask holds someone else: check every few frames
BODY_CALM = 5  # pose checks in a row with nobody outside the pose mask before the checks slow down again
BODY_MAX_CUT = 0.15  # a pose mask that would cut more than this share of a region is not used
CROP_MAX_CUT = 0.2  # ...made on MoveNet's fresh crops, whose masks hold less of a touching neighbour (tune half:
# 0.15 threw away the user's mask in lean-in scenes, others hidden 0.871; 0.2 and 0.25: 0.916; detector 0.892)
DETECT_EVERY_CHECKS = 4  # while every face's body is known, the pose detector looks afresh every this many checks
BODY_GROWTH = 1.08  # the largest region this much bigger than ever since the last pose check: check now
PRIOR_BUSY = True  # MoveNet every busy_every frames while an arrival lasts (the user's skeleton kept fresh)
PRIOR_OWN_BODY = 0.5  # a MoveNet body with more than this share of its stamp inside the prior is the user's
ARM_FRAMES = 60  # the prior may start an arrival only this many frames (~2 s) after a sign of someone else
ARM_AREA = 0.002  # ...a second region at least this share of the grid (split_people's noise floor: someone coming
# in shows as a region of their own for a frame or two, often only as they merge), a second face, a second MoveNet
# body or a second body from the pose detector
CROP_AGE = 3  # MoveNet bodies at most this many frames old give pose_landmark its crops (``movenet_crop``)
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

    guard_lone = True  # the pose mask cuts only with evidence of someone else (False: main's rule, for benchmarks)
    _due: Callable[[], None] | None

    def __init__(
        self, base, detector: FaceSource, idle_every: int = 12, busy_every: int = 3, hold: int = 2,
        bodies=None, spread: bool = True, multipose=None, prior=None, prior_trigger: bool = True,
        movenet_crop: bool = False, prior_gate: bool = True, sooner: bool = False, guard: bool = False,
    ) -> None:
        self.base = base
        # sooner: while the prior is armed (a sign of someone else), faces every busy_every frames (a walker's face
        # is found while it is plain to see, not up to idle_every frames later; ``_stirred``).
        # guard: after the splits the user's pre-arrival silhouette is the user's (``company.guard_user``).
        self.sooner, self.guard = sooner, guard
        # A ``prior.SilhouettePrior`` (time, and motion): pieces of the user's region beyond the user's silhouette
        # of just before someone arrived are someone else's. prior_trigger: an arrival it sees runs the face
        # detector and MoveNet at once. None: off.
        self.prior = prior
        self.prior_trigger = prior_trigger
        # prior_gate: the prior may start an arrival only within ARM_FRAMES of a sign of someone else (a second
        # region, face or body): a lone user is never cut by it, and its checks cost nothing then (False: always).
        self.prior_gate = prior_gate
        # A ``bodysplit.BodySplit`` (MoveNet MultiPose): fused regions cut between the people found by body, so
        # a passer-by with no face seen is told apart too. None: faces alone (the cv2.dnn fallback).
        self.multipose = multipose
        self.bodies = bodies  # a ``bodies.BodyMasker``: trims each face's region to that person's own mask
        # pose_landmark's crops from MoveNet's bodies (``multipose.pose_bodies``) when they are at most CROP_AGE
        # frames old: with one for every face, the pose detector (~18 ms on 2-core AVX2) is not run (off by
        # default: benchmarks/RESULTS.md, "pose_landmark's crop from the user's MoveNet body").
        self.movenet_crop = movenet_crop
        self.crop_age = CROP_AGE
        # A pose check is the pose detector (~18 ms on 2-core AVX2) then pose_landmark (~20 ms a person): run in
        # one frame, with the face detector (~6 ms) on the same frame, that frame took ~45 ms (three people:
        # ~85), over a 30 fps camera's 33 ms: a dropped frame every check. Spread: the detector on one frame,
        # then one pose_landmark a frame, none on a frame where the faces were detected (False: all at once,
        # the old way, the baseline of benchmarks.only_you --speed).
        self.spread = spread
        self.hold = hold
        self.detector = detector
        self.idle_every = max(1, int(idle_every))
        self.busy_every = max(1, int(busy_every))
        self.stage_ms: dict[str, float] = {}
        self.detections = 0
        self.body_checks = 0  # pose checks (pose_landmark on each face's body)
        self.body_detections = 0  # ...of which ran the pose detector (the others followed known bodies)
        self.body_crops = 0  # ...of which took MoveNet's bodies instead of the pose detector's
        self.reset()

    @property
    def segmenter(self):
        """The segmenter under the stage (what the startup line and the ``f`` overlay name)."""
        return getattr(self.base, "segmenter", self.base)

    def after_handoff(self) -> None:
        """Work for later frames, on ``concurrent.Lookahead``'s worker once this frame's result is queued: a
        deferred MoveNet run, and the step of a spread pose check due on this frame (the pose detector, or one
        person's pose_landmark: 10-40 ms that would otherwise delay this frame's result). ``find`` runs what is
        still due itself first when nobody calls this, so both paths give the same people."""
        if self.multipose is not None:
            self.multipose.after_handoff()
        if self._due is not None:
            step, self._due = self._due, None
            step()

    def reset(self) -> None:
        """Forget the faces (the next frame is detected afresh)."""
        if getattr(self, "multipose", None) is not None:
            self.multipose.reset()
        if getattr(self, "prior", None) is not None:
            self.prior.reset()
        self.faces: list[FaceBox] = []
        self._missed: list[tuple[FaceBox, int]] = []  # each face in use, with the runs it has been missed
        self._since = 10**9  # frames since the last detection
        self._regions = 0  # regions, and the largest one's area, when faces were last looked for
        self._largest = 0.0
        self._body_since = 10**9
        self._body_busy = False
        self._body_calm = BODY_CALM
        self._body_area = 0.0  # the largest region's area up to the last pose check
        self._body_seen = 0.0  # ...and since
        self._keeps: list = []
        self._first = True  # no pose check since the start (or a scene cut)
        self._pose_bodies = 0  # bodies the pose detector found on its last run (two or more: someone else is here)
        self._own_outside: float | None = None  # the reach beyond the pose mask on the first check: the user's own
        self._last_outside = 0.0  # ...and on the last check
        self._undetected = 0  # pose checks in a row that followed known bodies without the pose detector
        self._known: list = []  # (face, Body) of the last check: a body the detector loses is followed by its face
        self._found: list | None = None  # a spread pose check: the bodies found, their matching still due
        self._todo: list | None = None  # ...the (face, body) pairs whose masks are still due
        self._building: list = []  # ...and the keeps made so far
        self._cropping = self._cropped = False  # the check under way / the keeps in use: from MoveNet's crops
        self._due = None  # a spread pose check's step for ``after_handoff``
        self._unseen = 10**9  # frames since the last sign of someone besides the user (the prior's gate)
        self.signs: tuple[bool, bool, bool, bool] = (False, False, False, False)  # this frame's: region, face,
        # MoveNet body, pose detector body (what armed the prior: for diagnostics)

    def find(self, frame: np.ndarray) -> tuple[list[Person], tuple[int, int]]:
        if self._due is not None:  # the synchronous path: nobody called ``after_handoff``
            self.after_handoff()
        people, grid = self.base.find(frame)
        # Someone may have come in: more regions, or the largest grew since the faces were last looked for
        # (a newcomer merging in slowly, frame by frame, must trigger it too, not only a sudden jump).
        largest = max((p.area for p in people), default=0.0)
        company = len(people) > self._regions or largest > AREA_JUMP * max(self._largest, 1e-6)
        self._since += 1
        start = time.perf_counter()
        arrived = False
        regions = people
        if self.prior is not None:
            bodies = len(self.multipose.distinct) if self.multipose is not None else 0
            alone = len(people) == 1 and len(self.faces) <= 1 and bodies <= 1
            areas = sorted((p.area for p in people), reverse=True)
            self.signs = (len(areas) > 1 and areas[1] >= ARM_AREA, len(self.faces) > 1, bodies > 1,
                          self._pose_bodies > 1)
            self._unseen = 0 if any(self.signs) else self._unseen + 1
            armed = not self.prior_gate or self._unseen <= ARM_FRAMES
            arrived = self.prior.check(frame, people, self.faces, grid, alone,
                                       lambda: self._own_skeleton(frame, grid), armed) and self.prior_trigger
            self.stage_ms["prior"] = (time.perf_counter() - start) * 1000
        every = self.busy_every if len(self.faces) > 1 or self._stirred() else self.idle_every
        if self._since >= every or (company and self._since > 1) or arrived:
            self.faces = self._remember(self._detect(frame))
            self._since, self._regions, self._largest = 0, len(people), largest
            self.stage_ms["faces"] = (time.perf_counter() - start) * 1000
        else:
            self.stage_ms["faces"] = 0.0
        middle = time.perf_counter()
        if self.multipose is not None:
            # Bodies first: a region holding two or more of MoveNet's bodies is cut by nearest skeleton (with or
            # without faces); the faces then split what is left (a face MoveNet found no body for).
            busy = self.prior is not None and self.prior.active and self.prior_trigger and PRIOR_BUSY
            people = self.multipose.split(frame, people, self.faces, grid, force=arrived, busy=busy) or people
        if len(self.faces) > 1:
            guide = partial(cv2.resize, frame, (grid[1], grid[0]), interpolation=cv2.INTER_AREA)
            people = split_by_faces(people, self.faces, guide)
        elif self.faces:
            people = split_by_faces(people, self.faces)  # attaches the face; one face never cuts
        self.stage_ms["split"] = (time.perf_counter() - middle) * 1000
        if self.multipose is not None:
            self.stage_ms["multipose"] = self.multipose.stage_ms.get("multipose", 0.0)
        start = time.perf_counter()
        self.stage_ms["bodies"] = 0.0
        if self.bodies is not None and self.faces:
            people = self._bodies(frame, people, grid)
            self.stage_ms["bodies"] = (time.perf_counter() - start) * 1000
        if self.prior is not None and self.prior.active:
            people = self.prior.apply(people, self.faces, self._own_skeleton(frame, grid))
        if self.guard and self.prior is not None and self.prior.prior is not None and (
                len(people) > len(regions) or len(self.faces) > 1 or (self._body_busy and self._company())):
            people = guard_user(regions, people, self.prior.prior > 0.5, self.faces, self.prior.band())
        return people, grid

    def _own_skeleton(self, frame: np.ndarray, grid: tuple[int, int]) -> np.ndarray | None:
        """hxw bool: the user's own MoveNet skeleton (the body mostly inside the prior), grown by the prior's
        margin: a raised arm beyond the silhouette is the user's, never given away. None: no body known."""
        if self.multipose is None or not self.multipose.distinct or self.prior is None or self.prior.prior is None:
            return None
        known = self.prior.prior > 0.5
        stamps = [body_stamp(body, grid, frame.shape[:2]).on_grid for body in self.multipose.distinct]
        best, best_share = None, PRIOR_OWN_BODY
        for k, stamp in enumerate(stamps):
            share = np.count_nonzero(stamp & known) / max(1, int(np.count_nonzero(stamp)))
            if share > best_share:
                best, best_share = k, share
        if best is None:
            return None
        # Only the user's own skeleton: where another body's is drawn too (someone behind the user), not spared.
        others = [stamp for k, stamp in enumerate(stamps) if k != best]
        own = stamps[best] & ~np.logical_or.reduce(others) if others else stamps[best]
        radius = max(1, round(self.prior.margin * grid[1]))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        return cv2.dilate(own.astype(np.uint8), kernel).astype(bool)

    def _bodies(self, frame: np.ndarray, people: list[Person], grid: tuple[int, int]) -> list[Person]:
        # Pose models cost ~40 ms (2-core AVX2): for a lone user they run only every BODY_IDLE_EVERY frames, to
        # notice a neighbour whose face is not seen (the selfie region reaching beyond the user's own pose mask);
        # while someone is near, every busy_every frames, and the masks are reused in between.
        self._body_since += 1
        # (A region wider than its one face is not enough: a lone signer's arms make it so half the time.)
        near = len(self.faces) > 1 or self._body_busy
        every = max(self.busy_every, BODY_BUSY_EVERY) if near else BODY_IDLE_EVERY
        # Grown beyond the largest it was up to the last check (not merely back after a shrink: a signer's arms
        # going out and in would trigger a check every few frames).
        largest = max((p.area for p in people), default=0.0)
        grown = largest > BODY_GROWTH * max(self._body_area, 1e-6)
        self._body_seen = max(self._body_seen, largest)
        faces_ran = self.spread and self.stage_ms.get("faces", 0.0) > 0.0  # (never two frames in a row)
        # A spread check's steps run after this frame is handed out (``after_handoff``): their masks serve the
        # next frames, as a step's did when it ran here (reused within the mask's margin of motion).
        if self._found is not None or self._todo is not None:
            if not faces_ran:
                self._due = partial(self._go_on_checking, frame, people, grid)
        elif (self._body_since >= every or (grown and self._body_since > 1)) and (not faces_ran or self._first):
            self._body_since, self._body_area, self._body_seen = 0, self._body_seen, largest
            if self.spread and not self._first:
                self._due = partial(self._start_check, frame, people, grid)
            else:  # the first check runs whole on its frame: a photo has only that frame
                self._start_check(frame, people, grid)
        if not (near or self._body_busy) or not self._keeps or not self._company():
            return people
        return [self._cut(person) for person in people]

    def _company(self) -> bool:
        """Is there evidence of someone besides the user, so the pose mask may cut? A second face, a second body
        (the pose detector's last run, MoveNet's), or the region reaching beyond the pose mask by BODY_OUTSIDE more
        than on the input's first check. The reach alone is not enough: on close-up portraits the mask misses the
        user's own shoulders (the frame's edge cuts the body) and hair, 10 of 132 one-person eg1800 portraits
        were trimmed by up to 0.08 IoU on their first and only frame; a neighbour comes in after the start."""
        if not self.guard_lone or len(self.faces) > 1 or self._pose_bodies > 1:
            return True
        if self._own_outside is not None and self._last_outside > self._own_outside + BODY_OUTSIDE:
            return True
        return len(distinct(getattr(self.multipose, "bodies", None) or [])) > 1

    def _start_check(self, frame: np.ndarray, people: list[Person], grid: tuple[int, int]) -> None:
        """A pose check: find the bodies (or follow the known ones), then each face's own mask: spread, only
        the bodies now (``_go_on_checking`` does the rest on the next frames); else all on this frame."""
        self.body_checks += 1
        faced = [p.face for p in people if p.face is not None]
        followed = faced and all(any(_centre_distance(known, face) < SAME_FACE for known, _ in self._known)
                                 for face in faced)
        self._undetected = self._undetected + 1 if followed else 0
        crops = self._movenet_crops(frame, faced)
        self._cropping = bool(crops) and len(crops) == len(faced)
        if self._cropping:
            self._undetected, found = 0, crops
            self.body_crops += 1
        elif followed and self._undetected < DETECT_EVERY_CHECKS:
            # Every face's body is known: followed by the face, no detector run (MoveNet's crops for the faces
            # it has a body for, the others their last body, moved as their face moved).
            found = crops
        else:
            self._undetected = 0
            self.body_detections += 1
            found = self.bodies.detect(frame)
            self._pose_bodies = len(found)
        if self.spread and not self._first:
            self._found = found  # the landmarks from the next frame on (within the mask's margin of motion)
        else:
            # The first check after a start or a cut runs whole on its frame: a photo has only that frame.
            self._first = False
            self._commit(people, [self._own_mask(frame, grid, *m) for m in self._matches(frame, people, found)])

    def _movenet_crops(self, frame: np.ndarray, faced: list) -> list:
        """The pose crops from MoveNet's recent bodies of the faces that have one ([]: off, or none recent)."""
        split = self.multipose
        if not (self.movenet_crop and faced and split is not None and split.bodies and split.age <= self.crop_age):
            return []
        height, width = frame.shape[:2]
        return pose_bodies(split.bodies, [(f[0] * width, f[1] * height, f[2] * width, f[3] * height) for f in faced])

    def _go_on_checking(self, frame: np.ndarray, people: list[Person], grid: tuple[int, int]) -> None:
        """A spread check under way: the bodies matched to this frame's faces, then one person's pose_landmark
        a frame; the new masks are used once every person's is made."""
        if self._todo is None:
            self._todo, self._building = self._matches(frame, people, self._found or []), []
            self._found = None
        if self._todo:
            self._building.append(self._own_mask(frame, grid, *self._todo.pop(0)))
        if not self._todo:
            self._commit(people, self._building)
            self._todo = None

    def _commit(self, people: list[Person], keeps: list) -> None:
        self._keeps, self._cropped = keeps, self._cropping
        # The next check is due counted from now, not from the check's start: a spread check over three
        # people takes 4-5 frames, and counted from its start the checks would follow each other back to back.
        self._body_since = 0
        outside = max((self._outside(p, keeps) for p in people), default=0.0)
        # The first check's reach beyond the pose mask is the user's own (shoulders at the frame's edge, hair)
        # unless someone else is seen already; a neighbour coming in later adds to it (``_company``).
        self._last_outside = outside
        if self._own_outside is None:
            self._own_outside = outside if not self._company() else 0.0
        # Busy until BODY_CALM checks in a row see nobody outside (a neighbour coming apart for a moment
        # and fusing again must not end it: the growth trigger would not fire again).
        self._body_calm = 0 if outside > BODY_OUTSIDE else self._body_calm + 1
        self._body_busy = self._body_calm < BODY_CALM

    def _matches(self, frame: np.ndarray, people: list[Person], found: list) -> list:
        """[(face, body, face width in frame pixels)]: each face-holding region's body among ``found`` (the pose
        detector's, on this frame or a frame before), the one whose face-ish box is within BODY_MATCH faces.

        A face with no body found near it keeps its last body, moved as the face moved: the pose detector
        often loses the user exactly while someone leans against them (0 bodies in 17 of 30 frames of a
        lean-in scene), and pose_landmark on the last crop still draws the user's own mask (MediaPipe's pose
        graph also tracks the crop from frame to frame instead of detecting)."""
        height, width = frame.shape[:2]
        matches, known = [], []
        for person in people:
            if person.face is None:
                continue
            fx, fy = (person.face[0] + person.face[2]) / 2 * width, (person.face[1] + person.face[3]) / 2 * height
            fw = (person.face[2] - person.face[0]) * width
            distance, body = min(
                ((float(np.hypot((b.box[0] + b.box[2]) / 2 - fx, (b.box[1] + b.box[3]) / 2 - fy)), b) for b in found),
                key=lambda pair: pair[0], default=(np.inf, None),
            )
            if distance > BODY_MATCH * fw:
                body = next((old.shifted(fx - (face[0] + face[2]) / 2 * width, fy - (face[1] + face[3]) / 2 * height)
                             for face, old in self._known if _centre_distance(face, person.face) < SAME_FACE), None)
            if body is not None:
                matches.append((person.face, body, fw))
                known.append((person.face, body))
        self._known = known
        return matches

    def _own_mask(self, frame: np.ndarray, grid: tuple[int, int], face, body, fw: float) -> tuple:
        """(face, hxw bool: where that face's person may be, the same grown by BODY_LOOSE), from pose_landmark
        on the body's crop.

        The pose mask is grown by a margin, so its soft edge (and a few frames of motion while it is reused)
        never cuts the person; a touching neighbour's body mostly falls outside it even where no face of
        theirs was found. Whether someone is there at all is judged on the looser mask: a lone signer's hands
        reach beyond the tight one often enough to keep the checks busy (30 pose checks in 300 frames, not 8)."""
        own = (cv2.resize(self.bodies.mask(frame, body), (grid[1], grid[0]), interpolation=cv2.INTER_AREA)
               > BODY_SURE).astype(np.uint8)
        masks = []
        for grow in (BODY_MARGIN, BODY_LOOSE):
            margin = max(1, round(grow * fw * grid[1] / frame.shape[1]))
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
            masks.append(cv2.dilate(own, kernel).astype(bool))
        return face, masks[0], masks[1]

    @staticmethod
    def _keep_for(person: Person, keeps: list, loose: bool = False):
        if person.face is None:
            return None
        for face, keep, looser in keeps:
            if _centre_distance(face, person.face) < SAME_FACE:
                return looser if loose else keep
        return None

    def _outside(self, person: Person, keeps: list) -> float:
        keep = self._keep_for(person, keeps, loose=True)
        if keep is None:
            return 0.0
        core = person.mask > 0.5
        return float(np.count_nonzero(core & ~keep)) / max(1, int(np.count_nonzero(core)))

    def _cut(self, person: Person) -> Person:
        keep = self._keep_for(person, self._keeps)
        if keep is None:
            return person
        # A pose mask that would take a big share of the region (the pose model lost the person: hips far out
        # of the frame, a wrong body matched) is not trusted: a neighbour is never worth cutting the user.
        core = person.mask > 0.5
        # (MoveNet's fresh crops hold less of a touching neighbour, so their masks may cut a little more.)
        limit = CROP_MAX_CUT if self._cropped else BODY_MAX_CUT
        if np.count_nonzero(core & ~keep) > limit * max(1, int(np.count_nonzero(core))):
            return person
        return Person(person.score, person.box, np.where(keep, person.mask, 0.0).astype(np.float32), person.face)

    def _stirred(self) -> bool:
        """Faces at the busy cadence although at most one face is in use? Main's rule was a region much wider
        than the one face in it; it was given the segmenter's regions, which carry no face, so it never fired,
        and measured against the faces in use it would fire for a lone signer's arms half the time. ``sooner``:
        while the prior is armed (a sign of someone else within ARM_FRAMES, the user's region spilling out at
        the frame's side, an arrival under way): a lone user never arms it (no cost), a walker does early."""
        if not self.sooner or self.prior is None:
            return False
        return self._unseen <= ARM_FRAMES or self.prior.active or self.prior.spilled

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
        faces: list[FaceBox] = []
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
