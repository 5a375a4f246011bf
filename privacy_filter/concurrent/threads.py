"""What the workers share: how long a stop waits for a model run, how a worker's crash is told in one line,
and OpenCV's process-wide thread count while a worker runs."""

from __future__ import annotations

import threading

import cv2

JOIN_TIMEOUT_S = 5.0  # a stop waits this long for a worker inside a model run (Mask R-CNN: ~2 s a frame)


def describe_error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1]}" if text else type(exc).__name__


class OpenCVThreads:
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


OPENCV_THREADS = OpenCVThreads()
