"""One frame through the stages: find people -> select the user -> refine the matte -> effect (+ the hidden faces
veiled, render/veil.py) -> blend.

``FrameProcessor.process(frame)`` is the whole per-frame filter; the loop in ``app`` feeds it frames and hands
the result to the sinks. Privacy fails closed: if any stage fails or returns garbage while privacy is on, the
whole frame is hidden (blurred, or black if even the effect fails) — the raw frame never goes out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .errors import UserError
from .people.selection import UserSelector, split_people
from .person import Person
from .render.compositor import Compositor
from .render.effects import is_fresh
from .render.matte import MatteRefiner
from .render.veil import veil_faces
from .segment.selfie import SelfieSegmenter

if TYPE_CHECKING:
    from .render.effects import Effect

log = logging.getLogger(__name__)

STAGES = ("segment", "select", "refine", "effect", "blend")


class PeopleFinder(Protocol):
    """find(frame: HxWx3 uint8 BGR) -> (people, grid (h, w) of their masks)."""

    def find(self, frame: np.ndarray) -> tuple[list[Person], tuple[int, int]]: ...


class SelfiePeople:
    """The selfie model's one map, cut into connected person regions."""

    def __init__(self, segmenter: SelfieSegmenter) -> None:
        self.segmenter = segmenter

    def find(self, frame: np.ndarray) -> tuple[list[Person], tuple[int, int]]:
        probability = checked_probability(self.segmenter.process(frame), getattr(self.segmenter, "output_size", None))
        return split_people(probability), probability.shape[:2]


def checked_probability(probability: object, size: tuple[int, int] | None = None) -> np.ndarray:
    """The segmenter's map if it is one: hxw float in [0, 1], (w, h) = size if given; else ValueError, which
    hides the whole frame. Garbage must never reach the later stages: an empty map crashes OpenCV's
    connected components (a segfault, not an exception), and NaN, inf or out-of-range values would mark the
    room as "person"."""
    if not isinstance(probability, np.ndarray) or probability.ndim != 2 or probability.size == 0:
        raise ValueError(f"segmenter returned {type(probability).__name__} {getattr(probability, 'shape', '')}")
    if size is not None and probability.shape != (size[1], size[0]):
        raise ValueError(f"segmenter returned a {probability.shape} map for a {size[1]}x{size[0]} grid")
    low, high = float(probability.min()), float(probability.max())  # NaN makes both NaN
    if not (low >= -0.01 and high <= 1.01):
        raise ValueError(f"segmenter returned values in [{low}, {high}], not probabilities")
    return probability


class InstancePeople:
    """A segmenter that returns person instances with soft masks on the frame grid (Mask R-CNN).

    As in the seed, each instance's mask is cut at ``threshold``; unlike the seed the cut is made on the
    smoothly interpolated mask, and the matte stage then feathers it.
    """

    def __init__(self, segmenter: object, threshold: float = 0.3) -> None:
        self.segmenter = segmenter
        self.threshold = threshold

    def find(self, frame: np.ndarray) -> tuple[list[Person], tuple[int, int]]:
        people = self.segmenter.process(frame)  # type: ignore[attr-defined]
        hard = [
            Person(p.score, p.box, (p.mask > self.threshold).astype(np.float32)) for p in people
        ]
        return hard, frame.shape[:2]


def dropped_people(people: list[Person], kept: np.ndarray, overlap: float = 0.1) -> np.ndarray | None:
    """hxw float32 [0,1]: the people the selection removed whole (less than ``overlap`` of their region
    kept), on the masks' grid (``kept``: hxw float32 [0,1], the selection); None when there are none.

    The matte hides them at once instead of fading them out. A region the selection only trimmed (a merge
    cut back to the user's size) is not in it: there the smoothing stays symmetric, since the trimmed part
    may hold some of the user, whom a wrong cut must not flash away.
    """
    kept_core = kept > 0.5
    dropped = None
    for person in people:
        if person.mask.shape != kept.shape:
            continue
        core = person.mask > 0.5
        area = np.count_nonzero(core)
        if area == 0 or np.count_nonzero(core & kept_core) >= overlap * area:
            continue
        dropped = person.mask if dropped is None else np.maximum(dropped, person.mask)
    if dropped is None:
        return None
    return dropped.astype(np.float32, copy=False)


def hide_at_once(people: list[Person], kept: np.ndarray, selector: object) -> np.ndarray | None:
    """hxw float32 [0,1]: where the matte lets alpha fall at once: the people dropped whole
    (``dropped_people``) and the other people's faces the selection cut out (``UserSelector.floor``)."""
    dropped = dropped_people(people, kept)
    floor = getattr(selector, "floor", None)
    if floor is None or floor.shape != kept.shape:
        return dropped
    return floor if dropped is None else np.maximum(dropped, floor)


@dataclass
class Result:
    """What one frame became.

    output: HxWx3 uint8 BGR, what the user's audience sees.
    alpha: HxW float32 [0,1], who stayed sharp (all zeros when the frame failed closed; None when privacy is
        off and no matte was asked for).
    failed: True if a stage failed and the frame was hidden whole.
    """

    output: np.ndarray
    alpha: np.ndarray | None
    failed: bool = False


@dataclass
class FrameProcessor:
    """process(frame: HxWx3 uint8 BGR) -> Result. Stateful (matte smoothing and user tracking span frames).

    ``stage_ms`` holds the milliseconds each stage took on the last frame (for the FPS overlay and benchmarks).
    """

    finder: PeopleFinder
    effect: Effect  # (frame, alpha=None) -> background
    selector: UserSelector = field(default_factory=UserSelector)
    refiner: MatteRefiner = field(default_factory=MatteRefiner)
    privacy: bool = True
    want_alpha: bool = False
    veil: bool = True  # veil the faces not kept (render/veil.py); False only to measure what it adds
    # True: the matte shows at once what only the face floor hid last frame (matte.refine's ``shown``). Off: it
    # cut the user less (check half: walk-behind 39 -> 30 frames, touching 133 -> 121) but showed more of the
    # others (hidden -0.002 to -0.005 on every scene kind; benchmarks/RESULTS.md, issue 24).
    show_released: bool = False
    compositor: Compositor = field(default_factory=Compositor)
    stage_ms: dict[str, float] = field(default_factory=dict)
    failures: int = 0

    def process(self, frame: np.ndarray) -> Result:
        if not self.privacy and not self.want_alpha:
            return Result(frame, None)
        try:
            alpha = self._alpha(frame)
        except UserError:
            raise  # a model that does not run at all is the user's to fix, not a bad frame: stop and say so
        except Exception as exc:
            return self._fail_closed(frame, exc)
        if not self.privacy:
            return Result(frame, alpha)
        try:
            start = time.perf_counter()
            background = self.effect(frame, alpha)  # the matte: a halo-free background (effects.py)
            if self.veil and is_fresh(background):
                # Faces the people stage knows and does not keep: beyond recognition whatever their size (the
                # effect's strength is set for the room). A constant background (colour, picture) keeps none.
                veil_faces(background, getattr(self.selector, "hidden_faces", ()),
                           getattr(self.selector, "spared_faces", ()))
            middle = time.perf_counter()
            output = self.compositor.blend(frame, background, alpha)
            self.stage_ms["effect"] = (middle - start) * 1000
            self.stage_ms["blend"] = (time.perf_counter() - middle) * 1000
        except Exception as exc:
            return self._fail_closed(frame, exc)
        return Result(output, alpha)

    def _alpha(self, frame: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        people, grid = self.finder.find(frame)
        t1 = time.perf_counter()
        coarse = self.selector.select(people, grid)
        t2 = time.perf_counter()
        cuts = self.refiner.cuts
        shown = getattr(self.selector, "released", None) if self.show_released else None
        alpha = self.refiner.refine(coarse, frame, hide_at_once(people, coarse, self.selector), shown)
        if self.refiner.cuts != cuts:
            people, grid = self._scene_cut(frame, people, grid)
            alpha = self.refiner.refine(self.selector.select(people, grid), frame)
        t3 = time.perf_counter()
        self.stage_ms.update(segment=(t1 - t0) * 1000, select=(t2 - t1) * 1000, refine=(t3 - t2) * 1000)
        # A finder that runs its model on a worker thread (``concurrent``) knows what the model itself took.
        self.stage_ms.update(getattr(self.finder, "stage_ms", {}))
        if alpha.shape != frame.shape[:2] or not np.isfinite(alpha.sum()):
            raise ValueError(f"bad matte: shape {alpha.shape}, finite={np.isfinite(alpha).all()}")
        return alpha

    def _scene_cut(self, frame: np.ndarray, people: list[Person], grid: tuple[int, int]
                   ) -> tuple[list[Person], tuple[int, int]]:
        """The matte saw a scene cut: start every stage afresh, so that no one carries over to the new scene.

        The user is picked again among this frame's people (the old user's place means nothing on another
        scene); a finder with state (the people stage's faces) forgets it and finds this frame's people
        again, as for a first frame (one more model run, at cuts only). A finder that answers from an
        earlier frame's model run (``LatestMask``) drops that answer: its ``find`` then raises until the
        model has seen the new scene, and the frame fails closed (hidden whole). -> this frame's (people, grid).
        """
        self.selector.reset()
        self.refiner.reset()
        reset = getattr(self.finder, "reset", None)
        if reset is None:
            return people, grid
        reset()
        return self.finder.find(frame)

    def close(self) -> None:
        """End the finder's worker threads, if it has any (``concurrent.Lookahead``, ``LatestMask``)."""
        close = getattr(self.finder, "close", None)
        if close is not None:
            close()

    def _fail_closed(self, frame: np.ndarray, exc: Exception) -> Result:
        self.failures += 1
        log.warning("frame hidden: %s", exc)
        self.refiner.reset()
        alpha = np.zeros(frame.shape[:2], np.float32)
        if not self.privacy:
            return Result(frame, alpha, failed=True)
        return Result(hide_whole_frame(frame, self.effect), alpha, failed=True)


def hide_whole_frame(frame: np.ndarray, effect: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """The frame with nobody kept sharp: the effect over all of it, or black if the effect fails too."""
    try:
        hidden = effect(frame)
        if hidden.shape == frame.shape and hidden.dtype == np.uint8:
            return hidden
    except Exception:
        pass
    return np.zeros(frame.shape if frame.ndim == 3 else (*frame.shape[:2], 3), np.uint8)

