"""Frame sources: a camera, a video file or a still image, all behind three verbs.

Like imutils' ``VideoStream``: ``source = open_source("0", width=600).start()``, then ``source.read()``, then
``source.stop()``. Cameras and video files share one threaded ``cv2.VideoCapture`` reader, so tests that run
on files exercise the camera code too. The reader differs from imutils' in what a privacy filter needs:
``read`` tells a *new* frame from the one already seen (a frozen camera must not look alive), it waits with a
timeout (a stalled source must not hang the program), and a failing camera is retried without spinning.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np

from ..errors import SourceError, native_stderr_silenced
from ..imagefiles import read_image
from .avfile import open_video_file  # video files are decoded by PyAV, with their frames' times
from .capture import CaptureReader, resize_to_width

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
# Containers whose header holds the true frame count. The others (webm, mkv, ts, flv, mpg...) only give a
# duration, from which FFmpeg estimates the count at the nominal rate: a variable-frame-rate recording (a
# webcam dropping to 15 fps in low light) has fewer frames than that. For those, the end of the file is
# judged by time: the last frame's timestamp against the duration.
EXACT_COUNT_CONTAINERS = frozenset({".mp4", ".m4v", ".mov", ".3gp", ".avi"})


class ImageSource:
    """A still image as a one-frame source (same verbs as CaptureReader)."""

    live = False
    fps = 0.0
    frame_count = 1

    def __init__(self, path: Path, width: int) -> None:
        self.name = str(path)
        try:
            with native_stderr_silenced():  # libpng/libtiff print their own complaints about a bad file
                image = read_image(path)  # by its bytes: cv2.imread crashes on a name that is not UTF-8
        except (cv2.error, OSError):
            image = None
        if image is None or image.size == 0:
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


def is_image_name(path: str | Path) -> bool:
    """True if the file name says it is a still image (by its extension; a name may end in spaces)."""
    return Path(path).suffix.lower().strip() in IMAGE_EXTENSIONS


def is_camera(spec: str) -> bool:
    """A source given as a small integer is a camera index."""
    spec = spec.strip()
    return spec.isascii() and spec.isdigit()


def open_source(spec: str, width: int = 600) -> Source:
    """Open a camera index ("0"), a video file or an image file; raise SourceError with one line if not.

    A file name is used exactly as given: " me.jpg" is not "me.jpg" (spaces are shown quoted in messages)."""
    if not spec.strip():
        raise SourceError("--input is empty; give a camera index (0), a video file or an image file")
    if is_camera(spec):
        index = int(spec.strip())
        return CaptureReader(lambda: cv2.VideoCapture(index), f"camera {index}", live=True, width=width)
    path = Path(spec)
    try:
        exists, is_dir, readable = path.exists(), path.is_dir(), os.access(path, os.R_OK)
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte...
        raise SourceError(f"cannot use input {spec!r}: {exc}") from None
    shown = repr(spec) if spec != spec.strip() else spec  # make leading/trailing spaces visible
    if not exists:
        raise SourceError(f"input not found: {shown}")
    if is_dir:
        raise SourceError(f"input {shown} is a folder; give a video or image file (or a camera index)")
    if not readable:
        raise SourceError(f"input {shown} is not readable (permission denied)")
    if is_image_name(path):
        return ImageSource(path, width)
    return open_video_file(path, width, exact_count=path.suffix.lower().strip() in EXACT_COUNT_CONTAINERS)


