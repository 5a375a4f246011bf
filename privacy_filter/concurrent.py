"""Overlap: run segmentation on a worker thread so that both cores of a small laptop work at once.

Both ways keep the ``PeopleFinder`` verb, ``find(frame) -> (people, grid)``, so ``FrameProcessor`` does not
change; OpenCV and numpy release the GIL in their loops, so Python threads do run in parallel here.

``Lookahead`` (the selfie backend; any backend writing a file headless)
    A worker thread reads the source and finds the people in frame N+1 while the caller refines, blends and
    encodes frame N (the source's own reader thread decodes N+2). Every frame gets its own segmentation: for
    a file, frames come out in order and none is dropped, the same outputs as the synchronous loop. For a
    live camera only the newest frame is kept at each step (a slow step drops frames, it never adds lag).

``LatestMask`` (Mask R-CNN in a window or on a camera)
    The model runs on its own worker at whatever rate it manages (seconds per frame on 2 cores); ``find``
    never waits for it: every frame is composited with the people of the most recent frame the model
    finished, optionally *followed* to the current frame by the fast selfie map (``follow_people``) so that
    edges move with the person between model updates. Privacy fails closed: before the first mask, after a
    failed model run and if the worker has died, ``find`` raises and the processor hides the whole frame.

``overlap(source, processor, realtime)`` picks one of them for the app and wires it in.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import cv2
import numpy as np

from .errors import UserError
from .io.sources import ImageSource, Source
from .person import Person
from .pipeline import FrameProcessor, InstancePeople, PeopleFinder, checked_probability
from .segment import runtime
from .segment.selfie import SelfieSegmenter

log = logging.getLogger(__name__)

FILE_DEPTH = 2  # frames segmented ahead of the compositor: enough to absorb jitter, little memory
JOIN_TIMEOUT_S = 5.0  # a stop waits this long for a worker inside a model run (Mask R-CNN: ~2 s a frame)


class MaskUnavailable(RuntimeError):
    """No mask can be trusted for this frame (none yet, the model failed, or its worker died)."""


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1]}" if text else type(exc).__name__


class Lookahead:
    """A source whose frames arrive with their people already found, and the finder that hands them out.

    As a source (what the app's loop reads): start() / read(timeout) / stop() and ``finished``; any other
    attribute (live, fps, frame_count, name, last_frame_time...) is the wrapped source's.
    As a finder (what ``FrameProcessor`` calls): find(frame) -> (people, grid). For the frame ``read`` just
    returned, that is the worker's result (its exception, if the model failed on it, is raised here, so the
    frame fails closed exactly as it would synchronously); for any other frame (resized by the caller, or
    from another source), the model runs now, on the calling thread. A ``UserError`` (a model that does not
    run at all) is raised as it is, so the app stops and says why, as it would synchronously.

    finder: the real finder (its model is only ever run by one thread at a time). A finder with an
        ``after_handoff()`` method gets it called on the worker once each frame's result is queued: work whose
        result only serves later frames (the people stage's spread pose checks) then overlaps the compositing
        of this one instead of delaying it. The finder must run such work itself, before its next ``find``,
        when nobody calls the hook (the synchronous path), so both paths give the same results; if the hook
        raises, the next frame fails closed with that error.
    depth: frames segmented ahead for a file (a camera keeps only the newest).
    wanted: asked before each frame; False (privacy off, no matte wanted) skips the model for that frame.
    opencv_threads: OpenCV's threads while the worker runs (``cv2.setNumThreads``, restored when the last
        such worker closes); None leaves them alone.
    stage_ms: {"segment": model ms of the last frame handed out, "wait": ms ``read`` waited for it}.
    """

    def __init__(
        self,
        source: Source,
        finder: PeopleFinder,
        depth: int = FILE_DEPTH,
        wanted: Callable[[], bool] = lambda: True,
        opencv_threads: int | None = None,
    ) -> None:
        self.source = source
        self.finder = finder
        self.depth = max(1, int(depth))
        self.wanted = wanted
        self.opencv_threads = opencv_threads
        self._holds_threads = False
        self.stage_ms: dict[str, float] = {}
        self._model_lock = threading.Lock()
        self._cond = threading.Condition()
        self._ready: deque[tuple[np.ndarray, object, float]] = deque()
        self._handed: tuple[np.ndarray, object, float] | None = None
        self._stopped = False
        self._done = False
        self._error: str | None = None
        self._after_error: Exception | None = None  # ``after_handoff`` failed: the next frame fails closed
        self._thread = threading.Thread(target=self._run, name="segmentation", daemon=True)

    # ------------------------------------------------------------------ source verbs
    def __getattr__(self, name: str) -> object:
        # live, fps, frame_count, name, last_frame_time, ...: whatever the wrapped source tells.
        if name == "source":  # not set yet (during __init__): no recursion
            raise AttributeError(name)
        return getattr(self.source, name)

    @property
    def finished(self) -> bool:
        """True once the source has ended and every frame was handed out."""
        with self._cond:
            return self._done and not self._ready and self._error is None

    def start(self) -> Lookahead:
        if self._thread.ident is None:
            if self.opencv_threads is not None:
                _OPENCV_THREADS.hold(self.opencv_threads)
                self._holds_threads = True
            self._thread.start()
        return self

    def read(self, timeout: float = 1.0) -> np.ndarray | None:
        """The next frame (HxWx3 uint8 BGR), or None if none came within ``timeout`` s.

        Raises RuntimeError if the worker thread itself crashed (a bug, not a model failure): the loop must
        not mistake that for the end of the file.
        """
        start = time.perf_counter()
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._ready:
                if self._error is not None:
                    raise RuntimeError(f"segmentation worker stopped: {self._error}")
                remaining = deadline - time.monotonic()
                if self._done or self._stopped or remaining <= 0:
                    return None
                self._cond.wait(remaining)
            self._handed = self._ready.popleft()
            self._cond.notify_all()
        self.stage_ms["wait"] = (time.perf_counter() - start) * 1000
        return self._handed[0]

    def stop(self, timeout: float = 1.0) -> None:
        """Stop the worker and the source (idempotent)."""
        self.close()
        self.source.stop(timeout)

    # ------------------------------------------------------------------ finder verb
    def find(self, frame: np.ndarray) -> tuple[list[Person], tuple[int, int]]:
        handed = self._handed
        if handed is not None and handed[0] is frame and handed[1] is not None:
            outcome, ms = handed[1], handed[2]
            self.stage_ms["segment"] = ms
            if isinstance(outcome, BaseException):
                self._handed = None  # raise each frame's exception once (a re-raise would grow its traceback)
                raise outcome
            return outcome  # type: ignore[return-value]
        start = time.perf_counter()
        with self._model_lock:
            result = self.finder.find(frame)
        self.stage_ms["segment"] = (time.perf_counter() - start) * 1000
        return result

    def reset(self) -> None:
        """Make the real finder forget what it carries between frames (a scene cut), between two model runs."""
        reset = getattr(self.finder, "reset", None)
        if reset is not None:
            with self._model_lock:
                reset()

    def close(self) -> None:
        """Stop the worker thread (the source stays open; ``stop`` closes both)."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread.ident is not None and self._thread is not threading.current_thread():
            self._thread.join(JOIN_TIMEOUT_S)
        with self._cond:
            holds, self._holds_threads = self._holds_threads, False
        if holds:
            _OPENCV_THREADS.release()

    # ------------------------------------------------------------------ worker
    def _run(self) -> None:
        try:
            while not self._stopped:
                frame = self.source.read(timeout=0.1)
                if frame is None:
                    if self.source.finished:
                        break
                    continue
                outcome: object = None
                start = time.perf_counter()
                if self.wanted():
                    try:
                        with self._model_lock:
                            if self._after_error is not None:
                                error, self._after_error = self._after_error, None
                                raise error
                            outcome = self.finder.find(frame)
                    except Exception as exc:  # a model failure belongs to this frame only
                        outcome = exc
                ms = (time.perf_counter() - start) * 1000
                with self._cond:
                    if self.source.live:
                        self._ready.clear()  # never hand out a stale camera frame
                    while len(self._ready) >= self.depth and not self._stopped:
                        self._cond.wait(0.1)
                    self._ready.append((frame, outcome, ms))
                    self._cond.notify_all()
                self._after_handoff()
        except BaseException as exc:  # a bug in the worker: make read() say so rather than end quietly
            log.error("segmentation worker crashed: %s", _describe(exc))
            with self._cond:
                self._error = _describe(exc)
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def _after_handoff(self) -> None:
        """The finder's work for later frames (``after_handoff``), once this frame's result is queued."""
        after = getattr(self.finder, "after_handoff", None)
        if after is None or self._stopped:
            return
        try:
            with self._model_lock:
                after()
        except Exception as exc:  # the next frame fails closed with it (privacy: never a silent failure)
            log.warning("people stage work between frames failed: %s", _describe(exc))
            self._after_error = exc


class _OpenCVThreads:
    """OpenCV's thread count while at least one holder runs: hold(n) sets it (the first holder's n), the last
    release() puts back what it was. cv2.setNumThreads is process-wide, and one input's worker may still be
    closing while the next one's starts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._saved = 0

    def hold(self, threads: int) -> None:
        with self._lock:
            if self._holders == 0:
                self._saved = cv2.getNumThreads()
                cv2.setNumThreads(max(1, int(threads)))
            self._holders += 1

    def release(self) -> None:
        with self._lock:
            self._holders -= 1
            if self._holders == 0:
                cv2.setNumThreads(self._saved)


_OPENCV_THREADS = _OpenCVThreads()


def runs_on_litert(finder: object) -> bool:
    """True if the finder's segmenter runs on LiteRT (not on cv2.dnn, which spreads its own work over
    OpenCV's threads)."""
    return getattr(getattr(finder, "segmenter", None), "runtime", None) == runtime.LITERT


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
                        self._error = str(exc) if isinstance(exc, UserError) else _describe(exc)
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
            log.error("mask worker died: %s", _describe(exc))
            with self._cond:
                self._dead = _describe(exc)
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


def overlap(
    source: Source,
    processor: FrameProcessor,
    realtime: bool,
    follow: bool = True,
    replay: bool = False,
    idle: Callable[[], bool] = lambda: False,
) -> Source:
    """Put the processor's segmentation on a worker thread; returns the source the loop should read.

    realtime: frames are consumed as they come (a window, a virtual camera); a live source always is.
    Mask R-CNN in real time: ``LatestMask`` (followed by the selfie model if ``follow``), the window never
    waits for the model. Otherwise (selfie, or Mask R-CNN writing a file headless, where every frame should
    get its own mask): ``Lookahead``. A still image is left alone (nothing to overlap).
    Stop the returned source, then ``processor.close()``, to end the threads. Called again for the next
    input it replaces (and closes) the previous input's workers; ``replay`` (the same input again, --loop)
    keeps a running ``LatestMask`` and its newest mask. ``idle()`` True (paused) stops the ``Lookahead``
    worker from segmenting frames ahead; a frame handed out meanwhile is segmented when it is filtered.
    While a ``Lookahead`` over LiteRT models runs, OpenCV works single-threaded (runtime.PIPELINE_OPENCV_THREADS).
    """
    finder = processor.finder
    if replay and isinstance(finder, LatestMask):
        return source
    if isinstance(finder, Lookahead | LatestMask):  # a previous input's worker: start afresh from its model
        finder.close()
        finder = finder.finder
        processor.finder = finder
    reset = getattr(finder, "reset", None)  # the people stage: a new input's first frame looks for faces afresh
    if reset is not None:
        reset()
    # Mask R-CNN, alone or inside the people stage (which then runs on the mask worker, at the model's rate).
    if isinstance(getattr(finder, "base", finder), InstancePeople) and (realtime or source.live):
        fast = None
        if follow:
            selfie = SelfieSegmenter()

            def fast(frame: np.ndarray) -> np.ndarray:
                return checked_probability(selfie.process(frame), selfie.output_size)

        processor.finder = LatestMask(finder, follow=fast)
        return source
    if isinstance(source, ImageSource):
        return source
    # idle (the window paused): a camera keeps delivering frames nobody shows; do not run the model on them.
    # Our own threads (reader, worker, this loop) fill the cores: OpenCV's pool would only spin (runtime.py).
    threads = runtime.PIPELINE_OPENCV_THREADS if runs_on_litert(finder) else None
    ahead = Lookahead(source, finder, wanted=lambda: not idle() and (processor.privacy or processor.want_alpha),
                      opencv_threads=threads)
    processor.finder = ahead
    return cast(Source, ahead.start())  # a stand-in for the source: its own verbs, the rest by __getattr__
