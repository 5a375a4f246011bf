"""Person selection: decide who stays sharp.

The selfie model returns one map for everybody; ``split_people`` cuts it into connected person regions
(Mask R-CNN gives instances directly). ``UserSelector`` then keeps either everyone (``keep="all"``) or only
*the user* (``keep="user"``, the default):

* **Acquire**: with no user yet, the user is the person with the best ``user_score`` (largest, most central).
* **Track**: afterwards the user is the person whose face is where the user's face was (when the people
  stage saw faces), else whoever overlaps the previous frame's user best, whatever their size, so a
  bigger passer-by never takes over. A one-frame miss of the model hides everyone for that frame (nobody
  else is shown in the user's place); after ``lost_frames`` misses in a row the user has left and the best
  person is acquired anew.
* **First split**: a user picked while their region may have held several people (one face seen in a
  region wider than one person) is picked again, as at the start, among the parts when that region first
  comes apart into people with faces; from then on their face is their identity.
* **Switch**: someone else becomes the user only after out-scoring the user ``switch_ratio``-fold for
  ``switch_frames`` frames in a row (a wrong first pick is corrected; a passer-by is not picked up); a "user"
  never seen with a face gives way after ``faceless_switch_frames`` to a bigger person with a face.
* **Merge guard**: when someone touches the user, the selfie map fuses them into one region whose area jumps;
  while it lasts (at most ``merge_frames``), only as many of the region's pixels as the user had, those
  nearest the user's last shape, are kept, so the newcomer stays hidden while the user may move. It ends as
  soon as the region holds one face and is one person wide (the user came back or came closer).
* **Coming in** (``enter_frames``): a person picked afresh as a piece cut by the frame's left or right side, not
  yet seen with a face, who grows through that side within ``enter_frames`` of the pick is someone stepping
  into the picture (the user coming back), not a merge: they are not held to the piece's size. A user known by
  a face, or picked longer ago, is guarded as before. Such a fresh faceless pick, lost, gives way at once to a
  person with a face in view (not after ``lost_frames``): it was likely something at the edge the model took for
  a person, and the user is coming in behind it.
* **Faces are the floor** (``floor.face_floor``): every other person's face, its box grown over the hair, is
  cut out of what is kept, whatever the split said; ``floor`` holds it (hxw, or None) so that the matte hides
  it at once (``pipeline.dropped_people``'s fast path). Below and beside the other person's chin the box stops
  (``floor_head``): that is the user's shoulder when someone passes behind. ``hidden_faces`` (grown boxes of every
  face not kept, also on a frame that keeps nobody) and ``spared_faces`` go to the render stage's face veil.
* **Clicked in** (a click in the preview, ``toggle_at``): a person clicked on who is not the user is kept
  sharp too (a colleague beside you on the call), followed by their face from frame to frame; clicked again,
  hidden again. A kept person's face is not under the floor. A person with no face seen cannot be followed
  and a click on them does nothing; a click on the user does nothing (``u`` re-picks the user).
* **Re-pick** (the ``u`` key): ``repick()`` makes the person nearest the centre the user on the next frame.

Frame counts assume about 30 frames per second.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ..person import Person
from .floor import GROW_BOTTOM, GROW_SIDE, GROW_TOP, PROTECT, face_floor, grown

KEEP_CHOICES = ("user", "all")
ALONE_WIDTH = 4.0  # a region at most this many face widths wide, holding one face, is one person
ENTER_FRAMES = 15  # ~0.5 s after a fresh pick: a faceless piece at the frame's side may grow through it (coming in)
_HALO = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))  # the soft edge kept around a region


def split_people(probability: np.ndarray, min_area_fraction: float = 0.002) -> list[Person]:
    """Cut a selfie probability map into one Person per connected region.

    probability: hxw float32 in [0, 1]. Regions (probability > 0.5, 8-connected) smaller than
    ``min_area_fraction`` of the map are dropped as noise. Each Person's mask is the probability inside its
    region, grown by a few pixels so that the soft edge (p < 0.5) around the region stays with it (but never
    into another region). Box: the region's bounding box, normalised.
    """
    height, width = probability.shape
    core = (probability > 0.5).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(core, connectivity=8)
    people: list[Person] = []
    min_area = max(1, int(min_area_fraction * probability.size))
    big = [label for label in range(1, count) if stats[label, cv2.CC_STAT_AREA] >= min_area]
    for label in big:
        x, y, w, h, _ = stats[label]
        region = labels == label
        halo = cv2.dilate(region.astype(np.uint8), _HALO).astype(bool)
        if len(big) > 1:
            halo &= region | (core == 0)  # the soft edge, not a neighbour's body
        mask = np.where(halo, probability, 0.0).astype(np.float32)
        box = (x / width, y / height, (x + w) / width, (y + h) / height)
        people.append(Person(score=1.0, box=box, mask=mask))
    return people


def _one_person(person: Person) -> bool:
    """The region holds one face and is no wider than one person: it grew because the user did (came back
    into the picture, came closer), not because someone merged (the people stage splits a merge it sees)."""
    face = person.face
    return face is not None and person.box[2] - person.box[0] <= ALONE_WIDTH * (face[2] - face[0])


def centre_distance(person: Person) -> float:
    """Horizontal distance of the person's box centre from the frame's centre, 0 .. 0.5."""
    x1, _, x2, _ = person.box
    return abs((x1 + x2) / 2 - 0.5)


def user_score(person: Person) -> float:
    """How much a person looks like the webcam's user: detector score x area x closeness to the centre."""
    return person.score * person.area * (1.0 - centre_distance(person))


class UserSelector:
    """Turns the people in a frame into one alpha map of who stays sharp.

    select(people, grid: (h, w)) -> hxw float32 in [0, 1] on the people's mask grid.
    Stateful: tracks the user from frame to frame (see the module docstring); ``reset()`` forgets them.

    keep: "user" (only the user) or "all" (everyone the segmenter found).
    lost_frames: frames without the user before another person may be picked.
    switch_ratio, switch_frames: how much better, for how long, someone else must score to take over.
    match_fraction: share of the previous user's region a person must cover to be the same person (or have
        half of their own region inside it).
    growth_limit: a jump of the user's area beyond this factor in one frame counts as a merge.
    merge_growth: during a merge, the user's allowed area grows by this fraction per frame.
    area_memory: per-frame decay of the remembered user size (the recent maximum) that a jump is judged by.
    faceless_switch_frames: instead of switch_frames, when the user was never seen with a face and the
        challenger has one.
    merge_frames: after this many frames a merge is taken for the user's own growth (standing up, coming
        closer) and the whole region is kept again.
    floor: faces are the floor (every other person's face cut out of what is kept); on by default.
    floor_head: the floor's grown boxes without their lower corners (the side margins stop at the chin).
    enter_frames: frames after a fresh pick during which a faceless person cut by the frame's side may grow
        through that side without counting as a merge, and, lost, gives way at once to a person with a face
        (0: off, main's rule before: every jump is a merge, every loss waits lost_frames).
    """

    def __init__(
        self,
        keep: str = "user",
        lost_frames: int = 15,
        switch_ratio: float = 3.0,
        switch_frames: int = 60,
        match_fraction: float = 0.25,
        growth_limit: float = 1.75,
        merge_frames: int = 150,
        merge_growth: float = 0.02,
        area_memory: float = 0.95,
        faceless_switch_frames: int = 5,
        floor: bool = True,
        floor_head: bool = True,
        veil_grow: tuple[float, float, float] = (GROW_SIDE, GROW_TOP, GROW_BOTTOM),
        enter_frames: int = ENTER_FRAMES,
    ) -> None:
        if keep not in KEEP_CHOICES:
            raise ValueError(f"keep must be one of {KEEP_CHOICES}, not {keep!r}")
        self.keep = keep
        self.lost_frames = lost_frames
        self.switch_ratio = switch_ratio
        self.switch_frames = switch_frames
        self.match_fraction = match_fraction
        self.growth_limit = growth_limit
        self.merge_frames = merge_frames
        self.merge_growth = merge_growth
        self.area_memory = area_memory
        self.faceless_switch_frames = faceless_switch_frames
        self.enter_frames = enter_frames
        self.face_floor = floor  # False only to measure what the floor adds (benchmarks.only_you)
        # The floor's boxes without their lower corners (floor._cut_head): below and beside another person's chin
        # is the user's shoulder when they pass behind (check half: walk-behind 42 -> 39 frames with the user
        # cut, nothing else moved; False: main's full boxes, for benchmarks.only_you).
        self.floor_head = floor_head
        # The veil's growth (face widths to each side, heights above and below): the veil never cuts the user (it
        # is under the matte), so it may reach farther than the floor, over a face that moved since it was found.
        self.veil_grow = veil_grow
        self.kept_faces: list[tuple[float, float, float, float]] = []  # clicked in: kept sharp too (by face)
        self._clicks: list[tuple[float, float]] = []  # clicks not yet applied (normalised frame x, y)
        self.reset()

    def reset(self) -> None:
        """Forget the user (the next frame acquires one afresh)."""
        self._user_core: np.ndarray | None = None  # hxw bool: the user's region last frame
        self._user_area = 0.0
        self._missing = 0
        self._challenger_frames = 0
        self._merge_area: float | None = None  # during a merge: the user's own area just before it
        self._merged_frames = 0
        self.user_box: tuple[float, float, float, float] | None = None  # the user's box last frame, if any
        self._user_face: tuple[float, float, float, float] | None = None  # the user's face, when last seen
        self._user_own: np.ndarray | None = None  # hxw bool: pixels surely the user's (``Person.own``), if known
        self._repick = False
        self.floor: np.ndarray | None = None  # hxw float32: other people's faces cut out of the last selection
        # hxw float32 {0, 1}: where the floor cut last frame and no longer does (the matte may show it at once)
        self.released: np.ndarray | None = None
        # The last frame's faces not kept, grown like the floor's (normalised boxes), and the user's face grown
        # by PROTECT: the render stage veils the first in the background, never the second (render/veil.py).
        self.hidden_faces: list[tuple[float, float, float, float]] = []
        self.spared_faces: list[tuple[float, float, float, float]] = []
        self._settled = False  # True once the user's face is known to be theirs (not a neighbour's in one region)
        self._picked = 0  # frames since the user was picked afresh (start, re-acquired after a loss, switched)
        self._faced = False  # ...and whether they have been seen with a face since

    def toggle_at(self, x: float, y: float) -> None:
        """A click at (x, y), normalised to the frame: on the next frame the person there is kept sharp (if
        hidden) or hidden again (if kept in by an earlier click)."""
        self._clicks.append((float(x), float(y)))

    def repick(self) -> None:
        """The wrong person was picked: on the next frame the person nearest the centre becomes the user."""
        self.reset()
        self._repick = True

    def select(self, people: Sequence[Person], grid: tuple[int, int]) -> np.ndarray:
        """people: this frame's Persons (masks hxw on ``grid``) -> hxw float32 alpha of who stays sharp."""
        previous, self.floor = self.floor, None
        self.hidden_faces, self.spared_faces = [], []
        alpha = self._cut(people, grid)
        self.released = _released(previous, self.floor)
        return alpha

    def _cut(self, people: Sequence[Person], grid: tuple[int, int]) -> np.ndarray:
        """select without the bookkeeping of what the floor released."""
        alpha = self._select(people, grid)
        if self.keep != "user":
            return alpha
        self._apply_clicks(people, grid)
        # (Only while the user is seen: a frame that hides everyone hides the people clicked in too.)
        kept = self._follow_kept(people) if alpha.any() else []
        if kept:
            alpha = np.maximum.reduce([alpha] + [p.mask for p in kept]).astype(np.float32, copy=False)
        # Faces are the floor: the faces of everyone but the user (the chosen person's face is ``_user_face``)
        # and the people clicked in. Veiled even on a frame that keeps nobody: the effect alone leaves a big
        # face detectable.
        user_face = self._user_face if alpha.any() else None
        spared = {user_face, *(p.face for p in kept)}
        others = [p.face for p in people if p.face is not None and p.face not in spared]
        self.hidden_faces = [grown(face, *self.veil_grow) for face in others]
        self.spared_faces = [grown(face, PROTECT, PROTECT, PROTECT) for face in spared if face is not None]
        if not self.face_floor or not alpha.any():
            return alpha
        self.floor = face_floor(others, self._user_face, alpha.shape, self.floor_head, self._user_own)
        if self.floor is None:
            return alpha
        return alpha * (1.0 - self.floor)

    def _apply_clicks(self, people: Sequence[Person], grid: tuple[int, int]) -> None:
        for x, y in self._clicks:
            row = min(grid[0] - 1, max(0, int(y * grid[0])))
            col = min(grid[1] - 1, max(0, int(x * grid[1])))
            hit = next((p for p in people if p.mask[row, col] > 0.5 and p.face is not None), None)
            if hit is None or hit.face is None or hit.face == self._user_face:
                continue  # nobody with a face there, or the user (``u`` re-picks the user)
            face = hit.face
            known = next((i for i, kept in enumerate(self.kept_faces) if _same_face(kept, face)), None)
            if known is None:
                self.kept_faces.append(face)
            else:
                del self.kept_faces[known]
        self._clicks.clear()

    def _follow_kept(self, people: Sequence[Person]) -> list[Person]:
        """The people clicked in, found again by face (each kept face moves to where it is found now)."""
        kept = []
        for i, face in enumerate(self.kept_faces):
            match = next((p for p in people if p.face is not None and p.face != self._user_face
                          and _same_face(face, p.face)), None)
            if match is not None and match.face is not None:
                self.kept_faces[i] = match.face
                kept.append(match)
        return kept

    def _select(self, people: Sequence[Person], grid: tuple[int, int]) -> np.ndarray:
        grid = (int(grid[0]), int(grid[1]))
        if self.keep == "all":
            if not people:
                return np.zeros(grid, np.float32)
            return np.maximum.reduce([p.mask for p in people]).astype(np.float32, copy=False)
        if self._user_core is not None and self._user_core.shape != grid:
            self.reset()
        cores = [p.mask > 0.5 for p in people]
        if self._user_core is None:
            return self._acquire(people, cores, grid)
        index = self._first_split(people, cores) if not self._settled else None
        if index is None:
            index = self._match_face(people)
        if index is None:
            index = self._match(cores)
        if index is None:
            self._missing += 1
            faced = [i for i, p in enumerate(people) if p.face is not None]
            if self._missing > self.lost_frames or (faced and self._unknown()):
                # (Lost for good; or the lost "user" was a faceless piece picked moments ago, likely something
                # at the frame's edge the model took for a person, and a person with a face is in view now.)
                among = faced if self._missing <= self.lost_frames else None
                self.reset()
                return self._acquire(people, cores, grid, among)
            return np.zeros(grid, np.float32)
        index = self._maybe_switch(people, index)
        return self._keep(people[index], cores[index])

    def _acquire(self, people: Sequence[Person], cores: list[np.ndarray], grid: tuple[int, int],
                 among: Sequence[int] | None = None) -> np.ndarray:
        """Pick the user afresh (among: only these people's indices; None: anyone)."""
        if not people:
            return np.zeros(grid, np.float32)
        candidates = range(len(people)) if among is None else among
        if self._repick:
            index = min(candidates, key=lambda i: centre_distance(people[i]))
            self._repick = False
        else:
            index = max(candidates, key=lambda i: user_score(people[i]))
        self._user_core, self._merge_area = None, None  # no merge guard on a fresh pick
        return self._keep(people[index], cores[index])

    def _first_split(self, people: Sequence[Person], cores: list[np.ndarray]) -> int | None:
        # The user was picked while their region may have held several people (the face seen in it may have
        # been a neighbour's). When that region first comes apart, pick the user again among its parts, as
        # at the start: the largest, most central. From then on the user's face is their identity.
        previous = self._user_core
        parts = [i for i, core in enumerate(cores) if people[i].face is not None
                 and np.count_nonzero(core & previous) > 0.5 * np.count_nonzero(core)]
        if len(parts) < 2:
            return None
        self._settled = True
        return max(parts, key=lambda i: user_score(people[i]))

    def _match_face(self, people: Sequence[Person]) -> int | None:
        # Identity first: the face nearest where the user's face was, within one face width. Overlap alone
        # would follow the region, and a region can hold two people.
        if self._user_face is None:
            return None
        x1, y1, x2, y2 = self._user_face
        width = max(x2 - x1, 1e-6)
        best, best_distance = None, 1.0
        for i, person in enumerate(people):
            if person.face is None:
                continue
            a1, b1, a2, b2 = person.face
            distance = np.hypot((a1 + a2 - x1 - x2) / 2, (b1 + b2 - y1 - y2) / 2) / width
            if distance < best_distance:
                best, best_distance = i, distance
        return best

    def _match(self, cores: list[np.ndarray]) -> int | None:
        # Overlap with the user's last region, relative to that region (not IoU): a region that swallowed the
        # user in a merge still contains them, and so does a region the user left half of (fast motion).
        previous = self._user_core
        assert previous is not None  # update() matches only when there is a user region
        previous_area = max(1, int(np.count_nonzero(previous)))
        best, best_overlap = None, 0
        for i, core in enumerate(cores):
            overlap = int(np.count_nonzero(core & previous))
            if overlap > best_overlap:
                best, best_overlap = i, overlap
        if best is None:
            return None
        inside = best_overlap / max(1, int(np.count_nonzero(cores[best])))
        if best_overlap / previous_area >= self.match_fraction or inside >= 0.5:
            return best
        return None

    def _maybe_switch(self, people: Sequence[Person], index: int) -> int:
        user = user_score(people[index])
        others = [i for i in range(len(people)) if i != index]
        challenger = max(others, key=lambda i: user_score(people[i]), default=None)
        if challenger is not None and user_score(people[challenger]) > self.switch_ratio * user:
            self._challenger_frames += 1
            # A "user" never seen with a face (a chair or coat the model took for a person in an empty room)
            # gives way quickly to a much bigger person with a face: the real user coming back.
            faceless = self._user_face is None and not self._settled and people[challenger].face is not None
            if self._challenger_frames >= (self.faceless_switch_frames if faceless else self.switch_frames):
                self._challenger_frames = 0
                self._user_core, self._merge_area = None, None  # a new person: not held to the old one's size
                return challenger
        else:
            self._challenger_frames = 0
        return index

    def _keep(self, person: Person, core: np.ndarray) -> np.ndarray:
        mask = person.mask
        area = float(np.count_nonzero(core))
        previous = self._user_core
        if previous is None:  # a fresh pick: nothing known of this person yet
            self._picked, self._faced = 0, False
        else:
            self._picked += 1
        if self._merge_area is None and previous is not None and area > self.growth_limit * max(
            self._user_area, 1.0
        ) and not self._coming_in(previous, core):
            # The user's region jumped in size: someone merged into it. Remember the user's own size.
            self._merge_area, self._merged_frames = max(self._user_area, 1.0), 0
        if self._merge_area is not None and previous is not None:
            self._merged_frames += 1
            budget = self._merge_area * (1.0 + self.merge_growth) ** self._merged_frames
            if area <= budget or self._merged_frames > self.merge_frames or _one_person(person):
                self._merge_area = None  # separated again (or it was the user growing after all)
            else:
                # Keep the user's size, not the merged region's: the pixels of the region nearest the user's
                # last shape, as many as the user had (plus a slow growth allowance). The user moving is
                # followed (their new pixels are the nearest), the newcomer's body beyond is not taken.
                distance = cv2.distanceTransform((~previous).astype(np.uint8), cv2.DIST_L2, 3)
                inside = distance[core]
                cut = np.partition(inside, int(budget) - 1)[int(budget) - 1]
                core = core & (distance <= cut)
                halo = cv2.dilate(core.astype(np.uint8), _HALO).astype(bool)
                mask = np.where(halo, mask, 0.0).astype(np.float32)
                area = float(np.count_nonzero(core))
        self._user_core = core
        # The user's recent size, forgetting slowly: a frame where the model missed the user's arm or legs
        # must not make their return look like a merge.
        self._user_area = area if previous is None else max(area, self.area_memory * self._user_area)
        self._missing = 0
        self.user_box = person.box
        self._user_face = person.face
        self._faced = self._faced or person.face is not None
        self._user_own = person.own
        if person.face is not None and not self._settled:
            # One face in a region no wider than one person: that face is the user's.
            self._settled = _one_person(person)
        return mask.astype(np.float32, copy=False)

    def _unknown(self) -> bool:
        """The user is a fresh pick (within enter_frames) never seen with a face: nothing says who they are."""
        return self.enter_frames > 0 and not self._faced and self._picked <= self.enter_frames

    def _coming_in(self, previous: np.ndarray, core: np.ndarray) -> bool:
        """The user's region grew because they are stepping into the picture: picked afresh within
        enter_frames as a piece cut by the frame's left or right side, never seen with a face since, and still
        cut by that side now. (Coming back into view, the first frames show a shoulder or an arm at the edge,
        with the face still outside: the region more than doubles from one frame to the next at a brisk step,
        and the merge guard held the user to the piece's size, hiding half of them: head-pose's slide back in,
        benchmarks/RESULTS.md "Stepping back into the picture".) A user known by a face is never let off the
        guard: that is who a passer-by merges into."""
        if not self._unknown():
            return False
        return bool((previous[:, 0].any() and core[:, 0].any()) or (previous[:, -1].any() and core[:, -1].any()))


def _released(previous: np.ndarray | None, floor: np.ndarray | None) -> np.ndarray | None:
    """hxw float32 {0, 1}: cut by the previous frame's floor, not by this frame's (None when nothing is)."""
    if previous is None or (floor is not None and floor.shape != previous.shape):
        return None
    released = previous if floor is None else np.maximum(previous - floor, 0.0)
    return released if released.any() else None


def _same_face(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    """Two face boxes whose centres are within one face width of each other: the same face, moved."""
    width = max(a[2] - a[0], b[2] - b[0], 1e-6)
    return bool(np.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2) < width)
