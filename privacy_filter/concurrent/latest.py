"""``LatestMask``: a slow model (Mask R-CNN) on its own worker; every frame gets the newest finished mask,
followed to the current frame by the fast selfie map (see the package's docstring)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..errors import UserError
from ..person import Person
from ..pipeline import PeopleFinder
from .threads import JOIN_TIMEOUT_S, describe_error

log = logging.getLogger(__name__)


class MaskUnavailable(RuntimeError):
    """No mask can be trusted for this frame (none yet, the model failed, or its worker died)."""


@dataclass
class _Mask:
    """One model result: people on ``grid``, for a frame of size ``shape`` (h, w), finished at ``time``."""

    people: list[Person]
    grid: tuple[int, int]
    shape: tuple[int, int]
    time: float
    ms: float
    period: float = float("nan")  # ms since the previous result: 1000 / the mask update rate
    followed: dict[tuple[int, int], list[np.ndarray]] = field(default_factory=dict)


class LatestMask:
    """find(frame) -> the people of the newest finished model run; never waits for the model.

    finder: the slow finder (Mask R-CNN), run on a worker thread on the newest frame given to ``find``.
    follow: optional fast per-frame map, frame: HxWx3 uint8 -> hxw float32 [0,1] (the selfie model's
        ``process``); each person's stale mask then only says *where* to look, and the fast map, limited
        to that person's mask grown by ``reach`` (fraction of the map's width), gives the current edge.
    Raises MaskUnavailable (the processor then hides the frame whole) until the first result, while the
    newest model run failed, and for good once the worker thread has died; if the model failed with a
    ``UserError`` (it does not run at all), raises a new one of its class and message, so the app stops and
    says why.
    stage_ms: {"segment": model ms of the mask in use, "mask_age": ms since it was finished, "mask_period": ms
        between the last two results (1000 / the mask update rate), "follow": ms of the fast map this frame}.
        ``updates`` counts finished model runs.
    """

    def __init__(
        self,
        finder: PeopleFinder,
        follow: Callable[[np.ndarray], np.ndarray] | None = None,
        reach: float = 0.06,
    ) -> None:
        self.finder = finder
        self.follow = follow
        self.reach = float(reach)
        self.updates = 0
        self.stage_ms: dict[str, float] = {}
        self._cond = threading.Condition()
        self._pending: np.ndarray | None = None
        self._latest: _Mask | None = None
        self._masked_frame: np.ndarray | None = None  # the frame of the newest mask (identity, not contents)
        self._error: str | None = None
        self._user_error: type[UserError] | None = None
        self._dead: str | None = None
        self._closed = False
        self._generation = 0  # bumped by reset(): a run started before it is not used
        self._reset_finder = False
        self._thread = threading.Thread(target=self._run, name="mask-worker", daemon=True)
        self._thread.start()

    def find(self, frame: np.ndarray) -> tuple[list[Person], tuple[int, int]]:
        with self._cond:
            if self._closed:
                raise MaskUnavailable("the mask worker was closed")
            if frame is not self._masked_frame:  # a paused picture, given again and again, is run once
                self._pending = frame  # the worker takes the newest; older pending frames are skipped
            self._cond.notify_all()
            latest, error, dead, user_error = self._latest, self._error, self._dead, self._user_error
        if user_error is not None:
            raise user_error(error or "the model does not run")  # a fresh one: re-raising grows tracebacks
        if dead is not None or not self._thread.is_alive():
            raise MaskUnavailable(f"the mask worker died: {dead or 'thread ended'}")
        if error is not None:
            raise MaskUnavailable(f"the newest mask failed: {error}")
        if latest is None:
            raise MaskUnavailable("no mask yet: waiting for the model's first result")
        if latest.shape != frame.shape[:2]:
            raise MaskUnavailable(f"the newest mask is for {latest.shape} frames, not {frame.shape[:2]}")
        self.stage_ms["segment"] = latest.ms
        self.stage_ms["mask_age"] = (time.monotonic() - latest.time) * 1000
        self.stage_ms["mask_period"] = latest.period
        if self.follow is None:
            return latest.people, latest.grid
        start = time.perf_counter()
        probability = self.follow(frame)
        people = follow_people(latest, probability, self.reach)
        self.stage_ms["follow"] = (time.perf_counter() - start) * 1000
        return people, probability.shape[:2]

    def reset(self) -> None:
        """Drop the newest mask (a scene cut: it shows the previous scene): until the model has run on a frame
        given after this, ``find`` raises MaskUnavailable (the frame is hidden whole). The real finder is
        reset on the worker thread before its next run."""
        with self._cond:
            self._latest, self._error, self._user_error = None, None, None
            self._masked_frame = None
            self._generation += 1
            self._reset_finder = True
            self._cond.notify_all()

    def wait_first(self, timeout: float) -> bool:
        """Block until the first mask (or a failure) arrives; True if a mask is there (for tests/benchmarks)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._latest is None and self._error is None and self._dead is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._thread.is_alive():
                    break
                self._cond.wait(remaining)
            return self._latest is not None

    def close(self) -> None:
        """Stop the worker (waits up to JOIN_TIMEOUT_S for a model run in progress)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join(JOIN_TIMEOUT_S)

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while self._pending is None and not self._closed:
                        self._cond.wait()
                    if self._closed:
                        return
                    frame, self._pending = self._pending, None
                    assert frame is not None  # the wait ends on a pending frame (or returned above, closed)
                    generation, reset_finder, self._reset_finder = self._generation, self._reset_finder, False
                reset = getattr(self.finder, "reset", None) if reset_finder else None
                if reset is not None:
                    reset()
                start = time.perf_counter()
                try:
                    people, grid = self.finder.find(frame)
                except Exception as exc:  # this run failed; the next frame is tried afresh
                    with self._cond:
                        if generation != self._generation:
                            continue
                        self._error = str(exc) if isinstance(exc, UserError) else describe_error(exc)
                        self._user_error = type(exc) if isinstance(exc, UserError) else None
                        self._cond.notify_all()
                    continue
                ms = (time.perf_counter() - start) * 1000
                now = time.monotonic()
                period = (now - self._latest.time) * 1000 if self._latest is not None else float("nan")
                mask = _Mask(list(people), (int(grid[0]), int(grid[1])), frame.shape[:2], now, ms, period)
                with self._cond:
                    if generation != self._generation:
                        continue  # run on a frame from before a reset (the previous scene): not used
                    self._latest, self._error, self._user_error = mask, None, None
                    self._masked_frame = frame
                    self.updates += 1
                    self._cond.notify_all()
        except BaseException as exc:
            log.error("mask worker died: %s", describe_error(exc))
            with self._cond:
                self._dead = describe_error(exc)
                self._cond.notify_all()


def follow_people(mask: _Mask, probability: np.ndarray, reach: float) -> list[Person]:
    """The people of a stale model result, moved to the current frame by a fresh probability map.

    mask: a model result (people with masks on ``mask.grid`` spanning the frame); probability: hxw float32
    [0,1] of the current frame. Each person becomes min(probability, their mask shrunk to h x w and grown by
    ``reach`` * w pixels): the fresh map's edge, only near where the model last saw that person (so a
    neighbour does not join them). The grown masks are cached per result and map size.
    """
    height, width = probability.shape[:2]
    grown = mask.followed.get((height, width))
    if grown is None:
        radius = max(1, round(reach * width))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        grown = []
        for person in mask.people:
            small: np.ndarray = person.mask.astype(np.float32, copy=False)
            if small.shape != (height, width):
                small = cv2.resize(small, (width, height), interpolation=cv2.INTER_AREA)
            grown.append(cv2.dilate(small, kernel))
        mask.followed[(height, width)] = grown
    probability = probability.astype(np.float32, copy=False)
    return [Person(p.score, p.box, np.minimum(probability, g), p.face) for p, g in zip(mask.people, grown, strict=True)]
