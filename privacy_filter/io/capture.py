"""The threaded frame reader behind cameras and video files: ``CaptureReader(open_capture, ...).start()``, then
``read(timeout)``, then ``stop()`` (imutils' ``VideoStream`` verbs), and what every frame passes through on the
way in: ``resize_to_width`` (--width) and ``conform`` (any picture -> HxWx3 uint8 BGR of the first frame's size).

Below ``sources`` (which picks the reader for an input) and ``avfile`` (which gives it PyAV's frames): it
imports neither.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

import cv2
import numpy as np

from ..errors import SourceError
from ..render.downscale import shrink

FILE_QUEUE_FRAMES = 8  # read-ahead for files: enough to hide decode jitter, small enough to stay light
OPEN_TIMEOUT_S = 10.0  # a source that gives no first frame in this time (a pipe nobody writes) is an error
MAX_FRAME_SIDE = 8192  # a frame larger than this after resizing is refused (it would need gigabytes per frame)
# --width never makes a side smaller than this (unless the frame's own side already is): below it the
# segmenter has nothing to see and some encoders refuse the size (mp4v: 1 pixel).
MIN_FRAME_SIDE = 16
# A file that stops this many frames short of the count in its header is truncated or corrupt.
SHORT_BY_FRAMES, SHORT_BY_FRACTION = 2, 0.02


class Capture(Protocol):
    """What ``CaptureReader`` reads from: ``cv2.VideoCapture``'s verbs (a camera, or ``avfile.AVCapture`` for files)."""

    def isOpened(self) -> bool: ...

    def read(self) -> tuple[bool, np.ndarray | None]: ...

    def get(self, prop: int, /) -> float: ...

    def release(self) -> None: ...


def quiet_ffmpeg() -> None:
    """FFmpeg logs to stderr by itself ("moov atom not found", "error while decoding MB ..."): noise around
    our one-line messages. OpenCV reads this variable when it first loads FFmpeg, so it is set at import.
    PRIVACY_FILTER_DEBUG=1, or a value the user set, keeps FFmpeg's log."""
    if not os.environ.get("PRIVACY_FILTER_DEBUG"):
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET


quiet_ffmpeg()


def resize_to_width(frame: np.ndarray, width: int) -> np.ndarray:
    """frame: HxWx3 uint8 -> the same scaled to ``width`` keeping aspect ratio (0 keeps the native size).

    Raises SourceError if the result would be absurdly large (a 1-pixel-wide strip scaled to 600 wide) or
    would have a side smaller than MIN_FRAME_SIDE that the frame itself does not have (a 4000x2 strip at
    --width 1000): the message is about --width, never about the file.
    """
    native_w, native_h = frame.shape[1], frame.shape[0]
    # Rounded down, as imutils.resize does (the sizes users have seen), but never to 0 rows.
    height = native_h if width <= 0 else max(1, int(native_h * (width / native_w)))
    if max(height, width, native_w if width <= 0 else 0) > MAX_FRAME_SIDE:
        raise SourceError(
            f"frames of {native_w}x{native_h} would be {max(width, 0) or native_w}x{height} "
            f"at --width {width}: larger than {MAX_FRAME_SIDE} pixels a side; give a smaller --width"
        )
    if width > 0 and (width < min(MIN_FRAME_SIDE, native_w) or height < min(MIN_FRAME_SIDE, native_h)):
        raise SourceError(
            f"frames of {native_w}x{native_h} would be {width}x{height} at --width {width}: smaller than "
            f"{MIN_FRAME_SIDE} pixels a side; give a larger --width (or 0 for the native size)"
        )
    if width <= 0 or native_w == width:
        return frame
    # The height computed above (imutils.resize would round a 4000x2 strip to 0 rows). Smaller: ``shrink``, close to
    # imutils' INTER_AREA at a fraction of its cost (~5-20 ms a camera frame on one core: see downscale.py).
    if width < native_w:
        return shrink(frame, (width, height))
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_LINEAR)


def conform(frame: np.ndarray, size: tuple[int, int] | None) -> np.ndarray | None:
    """Make any decoded frame HxWx3 uint8 BGR of (W, H) = size (if given); None if it cannot be a frame.

    Cameras sometimes hand over grey, BGRA, 16-bit or resized frames mid-stream; one odd frame must not
    stop the filter.
    """
    if not isinstance(frame, np.ndarray) or frame.ndim not in (2, 3) or frame.size == 0:
        return None
    if frame.dtype != np.uint8:
        if frame.dtype == np.uint16:
            frame = (frame >> 8).astype(np.uint8)
        elif np.issubdtype(frame.dtype, np.floating):
            finite = np.nan_to_num(frame, nan=0.0, posinf=1.0, neginf=0.0)
            frame = (np.clip(finite, 0.0, 1.0) * 255).astype(np.uint8)
        else:
            frame = np.clip(frame, 0, 255).astype(np.uint8)
    if frame.ndim == 2 or frame.shape[2] == 1:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    elif frame.shape[2] == 4:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    elif frame.shape[2] != 3:
        return None
    if size is not None and (frame.shape[1], frame.shape[0]) != size:
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(frame)


class CaptureReader:
    """Reads a ``cv2.VideoCapture`` on its own thread: start() / read(timeout) / stop().

    live=True (camera): only the newest frame is kept (a slow filter drops frames rather than lag);
      a failing camera is re-read every ``retry_interval`` s and reopened now and then, never in a busy loop.
    live=False (file): every frame, in order, through a short queue; ``finished`` once the file ends.
    read(timeout) -> HxWx3 uint8 BGR (resized to ``width``) or None if no new frame came within ``timeout``.

    The device is opened, and its first frame read, on the reader thread too: opening can block forever (a
    named pipe nobody writes to, a hung driver), and the constructor must not. It waits ``open_timeout`` s
    for the first frame and raises SourceError (one line) if none comes.

    exact_count=False: the container's frame count is an estimate from its duration (see
    EXACT_COUNT_CONTAINERS); whether the file ended early is then judged by the frames' timestamps.
    """

    def __init__(
        self,
        open_capture: Callable[[], Capture],
        name: str,
        live: bool,
        width: int = 600,
        retry_interval: float = 0.05,
        open_timeout: float | None = None,
        exact_count: bool = True,
    ) -> None:
        self.name = name
        self.live = live
        self.exact_count = exact_count
        self.duration_ms = 0.0  # the container's duration (files), 0 if unknown
        self.last_ms = 0.0  # timestamp of the last frame read (files)
        self.timeline_resets = 0  # times the file's timestamps started over (files; see avfile.AVCapture)
        self.width = width
        self.retry_interval = retry_interval
        self.fps = 30.0
        self.frame_count = 0
        self.frames_read = 0  # frames taken from the device so far (dropped ones included)
        self.error: str | None = None  # why the reader stopped early, if it did
        self._open_capture = open_capture
        self._capture: Capture | None = None
        self._frames: deque[np.ndarray] = deque()
        self._cond = threading.Condition()
        self._opened = threading.Event()
        self._go = threading.Event()
        self._stopped = False
        self._finished = False
        self.last_frame_time = time.monotonic()
        self._reading_since: float | None = None  # when the read the reader thread is inside began
        self._thread = threading.Thread(target=self._run, name=f"reader:{name}", daemon=True)
        self._thread.start()
        timeout = OPEN_TIMEOUT_S if open_timeout is None else open_timeout
        if not self._opened.wait(timeout):
            self._abandon()
            raise SourceError(
                f"{name} gave no frame within {timeout:.0f} s (a pipe nobody writes to, or a device that hangs?)"
            )
        if self.error is not None:
            self._abandon()
            # Let the thread end first: a thread still inside OpenCV while Python exits aborts the process.
            self._thread.join(1.0)
            raise SourceError(self.error)

    @property
    def finished(self) -> bool:
        """True once a file has no more frames and all were read (never for a live camera)."""
        with self._cond:
            return self._finished and not self._frames

    @property
    def ended_early(self) -> bool:
        """True if a finished file clearly ended before its header said (truncated): fewer frames than its
        count, or (where the count is only an estimate) a last frame well before its duration."""
        if self.live or not self.finished or self.frame_count <= 0:
            return False
        if self.error is not None:
            return True
        if self.exact_count:
            slack = max(SHORT_BY_FRAMES, int(self.frame_count * SHORT_BY_FRACTION))
            return self.frames_read + slack < self.frame_count
        if self.duration_ms <= 0 or self.last_ms <= 0 or self.timeline_resets:
            # No timestamps to judge by (the estimate alone proves nothing), or timestamps that start over
            # (concatenated recordings): the container's duration is then not the timeline's.
            return False
        slack_ms = max(SHORT_BY_FRAMES * 1000.0 / self.fps, self.duration_ms * SHORT_BY_FRACTION)
        return self.last_ms + slack_ms < self.duration_ms

    @property
    def shortfall(self) -> str:
        """How far a file that ended early got, for the message ("ended after 81 of its 177 frames")."""
        if self.exact_count or self.duration_ms <= 0 or self.last_ms <= 0:
            return f"ended after {self.frames_read} of its {self.frame_count} frames"
        return f"ended at {self.last_ms / 1000:.1f} s of its {self.duration_ms / 1000:.1f} s"

    def start(self) -> CaptureReader:
        self._go.set()
        return self

    def read(self, timeout: float = 1.0) -> np.ndarray | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._frames:
                remaining = deadline - time.monotonic()
                if self._finished or self._stopped or remaining <= 0:
                    return None
                self._cond.wait(remaining)
            frame = self._frames.popleft()
            self._cond.notify_all()
            return frame

    def stop(self, timeout: float = 1.0) -> None:
        """Stop reading. Returns within ``timeout`` s even if the device is stuck in a read.

        A device stuck inside read() cannot be interrupted; the thread is a daemon and is left behind (it
        releases the device and ends by itself if the read ever returns).
        """
        self._abandon()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        """True while the reader thread runs (tests check that it ends)."""
        return self._thread.is_alive()

    def _abandon(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._go.set()

    def _push(self, frame: np.ndarray) -> None:
        self.frames_read += 1
        try:
            frame = resize_to_width(frame, self.width)
        except SourceError:
            return  # one absurd frame mid-stream is dropped; conform() handles the merely odd ones
        with self._cond:
            if self.live:
                self._frames.clear()
            else:
                while len(self._frames) >= FILE_QUEUE_FRAMES and not self._stopped:
                    self._cond.wait(0.5)
            self._frames.append(frame)
            self.last_frame_time = time.monotonic()
            self._cond.notify_all()

    def _open(self) -> bool:
        """Open the device and read its first frame (on the reader thread). False, with ``error`` set, if not."""
        try:
            self._capture = self._open_capture()
            ok, first = self._capture.read() if self._capture.isOpened() else (False, None)
            if ok and first is not None:
                resize_to_width(first, self.width)  # refuse absurd sizes before any work
                fps = float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0)
                self.fps = fps if 0.0 < fps < 1000.0 else 30.0
                count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
                self.frame_count = count if (not self.live and count > 0) else 0
                if self.frame_count and 0.0 < fps < 1000.0:
                    # OpenCV's estimated count is duration x nominal rate: this gives the duration back.
                    self.duration_ms = 1000.0 * self.frame_count / fps
                self._note_time()
                self._push(first)
                return True
            self.error = _cannot_open(self.name, self.live)
        except SourceError as exc:
            self.error = str(exc)
        except Exception:  # cv2.error and friends: the device cannot be used
            self.error = _cannot_open(self.name, self.live)
        return False

    @property
    def stalled_s(self) -> float:
        """How long the reader has been inside one read of the device (a pipe or stream that stopped sending
        blocks there); 0 when it is not reading (a frame just came, or the queue is full: the filter is slow)."""
        since = self._reading_since
        return time.monotonic() - since if since is not None else 0.0

    def _read_one(self) -> np.ndarray | None:
        """One frame from the device, or None if it failed (an exception counts as a failure)."""
        self._reading_since = time.monotonic()
        try:
            if self._capture is None:  # a reopen that failed: no frame, like a failed read
                return None
            ok, frame = self._capture.read()
        except Exception:
            return None
        finally:
            self._reading_since = None
        if not (ok and isinstance(frame, np.ndarray)):
            return None
        self._note_time()
        return frame

    def _note_time(self) -> None:
        """Remember the timestamp of the frame just read (files whose frame count is only an estimate)."""
        if not self.live and not self.exact_count:
            with contextlib.suppress(Exception):
                assert self._capture is not None  # called just after a read; were it not, suppressed like any failure
                self.last_ms = float(self._capture.get(cv2.CAP_PROP_POS_MSEC) or 0.0)
                self.timeline_resets = int(getattr(self._capture, "resets", 0))

    def _release(self) -> None:
        capture, self._capture = self._capture, None
        if capture is not None:
            with contextlib.suppress(Exception):
                capture.release()

    def _reopen(self) -> None:
        try:
            self._release()
            self._capture = self._open_capture()
        except Exception:
            pass  # still gone: the next failures will try again

    def _run(self) -> None:
        try:
            opened = self._open()
            if not opened:
                self._release()  # before the constructor raises (see there)
            self._opened.set()
            if not opened:
                return
            self._go.wait()
            failures_since_open = 0
            while not self._stopped:
                frame = self._read_one()
                if frame is not None:
                    failures_since_open = 0
                    self._push(frame)
                    continue
                if not self.live:
                    break
                # A camera that fails: wait, then try again; reopen it after a while of failures.
                failures_since_open += 1
                time.sleep(self.retry_interval)
                if failures_since_open % 40 == 0 and not self._stopped:
                    self._reopen()
        except Exception as exc:  # never die silently: say why the frames stopped
            self.error = f"reading {self.name} failed: {type(exc).__name__}: {exc}"
        finally:
            self._release()
            with self._cond:
                self._finished = True
                self._cond.notify_all()
            self._opened.set()




def _cannot_open(name: str, live: bool) -> str:
    if live:
        return f"cannot open {name}: no camera there, or another program is using it"
    return f"cannot read video {name}: not a video FFmpeg can decode, or the file is corrupt"
