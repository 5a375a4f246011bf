"""``Lookahead``: the finder runs on a worker thread one frame ahead of the compositor (see the package's
docstring)."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from ..io.sources import Source
from ..person import Person
from ..pipeline import PeopleFinder
from .threads import JOIN_TIMEOUT_S, OPENCV_THREADS, describe_error

log = logging.getLogger(__name__)

FILE_DEPTH = 2  # frames segmented ahead of the compositor: enough to absorb jitter, little memory


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
                OPENCV_THREADS.hold(self.opencv_threads)
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
            OPENCV_THREADS.release()

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
            log.error("segmentation worker crashed: %s", describe_error(exc))
            with self._cond:
                self._error = describe_error(exc)
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
            log.warning("people stage work between frames failed: %s", describe_error(exc))
            self._after_error = exc
