"""Frame sources: a camera, a video file or a still image, all behind three verbs.

Like imutils' ``VideoStream``: ``source = open_source("0", width=600).start()``, then ``source.read()``, then
``source.stop()``. Cameras and video files share one threaded ``cv2.VideoCapture`` reader, so tests that run
on files exercise the camera code too. The reader differs from imutils' in what a privacy filter needs:
``read`` tells a *new* frame from the one already seen (a frozen camera must not look alive), it waits with a
timeout (a stalled source must not hang the program), and a failing camera is retried without spinning.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import cv2
import imutils
import numpy as np

from .errors import SourceError

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
FILE_QUEUE_FRAMES = 8  # read-ahead for files: enough to hide decode jitter, small enough to stay light


def resize_to_width(frame: np.ndarray, width: int) -> np.ndarray:
    """frame: HxWx3 uint8 -> the same scaled to ``width`` keeping aspect ratio (0 keeps the native size)."""
    if width <= 0 or frame.shape[1] == width:
        return frame
    return imutils.resize(frame, width=width, inter=cv2.INTER_AREA if width < frame.shape[1] else cv2.INTER_LINEAR)


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
    """

    def __init__(
        self,
        open_capture: Callable[[], cv2.VideoCapture],
        name: str,
        live: bool,
        width: int = 600,
        retry_interval: float = 0.05,
    ) -> None:
        self.name = name
        self.live = live
        self.width = width
        self.retry_interval = retry_interval
        self._open_capture = open_capture
        self._capture = open_capture()
        if not self._capture.isOpened():
            raise SourceError(_cannot_open(name, live))
        ok, first = self._capture.read()
        if not ok or first is None:
            self._capture.release()
            raise SourceError(_cannot_open(name, live))
        self.fps = float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0)
        if not (0.0 < self.fps < 1000.0):
            self.fps = 30.0
        count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count = count if (not live and count > 0) else 0
        self._frames: deque[np.ndarray] = deque()
        self._cond = threading.Condition()
        self._stopped = False
        self._finished = False
        self.last_frame_time = time.monotonic()
        self._push(first)
        self._thread = threading.Thread(target=self._run, name=f"reader:{name}", daemon=True)

    @property
    def finished(self) -> bool:
        """True once a file has no more frames and all were read (never for a live camera)."""
        with self._cond:
            return self._finished and not self._frames

    def start(self) -> CaptureReader:
        self._thread.start()
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
        """Stop reading. Returns within ``timeout`` s even if the device is stuck in a read."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread.ident is None:  # never started: nothing else will release the device
            self._capture.release()
            return
        # A device stuck inside read() cannot be interrupted; the thread is a daemon and is left behind.
        self._thread.join(timeout)

    def _push(self, frame: np.ndarray) -> None:
        frame = resize_to_width(frame, self.width)
        with self._cond:
            if self.live:
                self._frames.clear()
            else:
                while len(self._frames) >= FILE_QUEUE_FRAMES and not self._stopped:
                    self._cond.wait(0.5)
            self._frames.append(frame)
            self.last_frame_time = time.monotonic()
            self._cond.notify_all()

    def _run(self) -> None:
        failures_since_open = 0
        try:
            while not self._stopped:
                ok, frame = self._capture.read()
                if ok and frame is not None:
                    failures_since_open = 0
                    self._push(frame)
                    continue
                if not self.live:
                    break
                # A camera that fails: wait, then try again; reopen it after a while of failures.
                failures_since_open += 1
                time.sleep(self.retry_interval)
                if failures_since_open % 40 == 0:
                    self._capture.release()
                    self._capture = self._open_capture()
        finally:
            self._capture.release()
            with self._cond:
                self._finished = True
                self._cond.notify_all()


class ImageSource:
    """A still image as a one-frame source (same verbs as CaptureReader)."""

    live = False
    fps = 0.0
    frame_count = 1

    def __init__(self, path: Path, width: int) -> None:
        self.name = str(path)
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise SourceError(f"cannot decode image {path} (not an image OpenCV can read, or corrupt)")
        self._frame: np.ndarray | None = resize_to_width(image, width)
        self.last_frame_time = time.monotonic()

    @property
    def finished(self) -> bool:
        return self._frame is None

    def start(self) -> ImageSource:
        return self

    def read(self, timeout: float = 1.0) -> np.ndarray | None:
        frame, self._frame = self._frame, None
        return frame

    def stop(self, timeout: float = 1.0) -> None:
        self._frame = None


Source = CaptureReader | ImageSource


def is_camera(spec: str) -> bool:
    """A source given as a small integer is a camera index."""
    return spec.strip().isdigit()


def open_source(spec: str, width: int = 600) -> Source:
    """Open a camera index ("0"), a video file or an image file; raise SourceError with one line if not."""
    spec = spec.strip()
    if is_camera(spec):
        index = int(spec)
        return CaptureReader(lambda: cv2.VideoCapture(index), f"camera {index}", live=True, width=width)
    path = Path(spec)
    if not path.exists():
        raise SourceError(f"input not found: {spec}")
    if path.is_dir():
        raise SourceError(f"input {spec} is a folder; give a video or image file (or a camera index)")
    if not os.access(path, os.R_OK):
        raise SourceError(f"input {spec} is not readable (permission denied)")
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return ImageSource(path, width)
    return CaptureReader(lambda: cv2.VideoCapture(str(path)), str(path), live=False, width=width)


def _cannot_open(name: str, live: bool) -> str:
    if live:
        return f"cannot open {name}: no camera there, or another program is using it"
    return f"cannot read video {name}: not a video OpenCV can decode, or the file is corrupt"
