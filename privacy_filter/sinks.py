"""Sinks: where filtered frames go — a video or image file, a mask file, or the preview window.

File sinks are atomic: frames go to a hidden temporary file beside the target, which is renamed over the
target only when the sink is closed successfully. A crash or an error never leaves a half-written file
under the user's chosen name, and an existing file is never replaced unless the user said --overwrite.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from .errors import SinkError

VIDEO_CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}
SYSTEM_FONTS = "/usr/share/fonts"
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}


def check_output_path(path: Path, overwrite: bool, video: bool, flag: str = "--output") -> Path:
    """Refuse, before any work is done, an output that cannot be written. Returns the path.

    video: True if a video file is expected here (else an image).
    """
    suffix = path.suffix.lower()
    allowed = VIDEO_CODECS if video else IMAGE_EXTENSIONS
    if suffix not in allowed:
        kind = "video" if video else "image"
        raise SinkError(
            f"{flag} {path}: cannot write a {kind} with extension {suffix or '(none)'}; "
            f"use one of {', '.join(sorted(allowed))}"
        )
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise SinkError(f"{flag} {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise SinkError(f"{flag} {path}: folder {folder} is not writable")
    if path.is_dir():
        raise SinkError(f"{flag} {path} is a folder, not a file name")
    if path.exists() and not overwrite:
        raise SinkError(f"{flag} {path} already exists; pass --overwrite to replace it")
    return path


def _temporary_beside(path: Path) -> Path:
    """A fresh hidden file name in the target's folder, with the target's extension (OpenCV picks the
    format from it); same folder so that the final rename is atomic."""
    handle, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".partial{path.suffix}", dir=path.parent or ".")
    os.close(handle)
    # mkstemp makes the file private (0600); the published file should get the user's usual permissions.
    os.chmod(name, 0o666 & ~_UMASK)
    return Path(name)


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


class VideoFileSink:
    """write(frame: HxWx3 uint8 BGR, or HxW uint8 when color=False) to a video file; close() publishes it."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int], color: bool = True) -> None:
        self.path = Path(path)
        self.size = size
        self.color = color
        self.frames = 0
        self._temp = _temporary_beside(self.path)
        codec = VIDEO_CODECS[self.path.suffix.lower()]
        self._writer = cv2.VideoWriter(str(self._temp), cv2.VideoWriter_fourcc(*codec), fps, size, color)
        if not self._writer.isOpened():
            self._temp.unlink(missing_ok=True)
            raise SinkError(f"cannot write video {self.path} (no {codec} encoder for this container?)")

    def write(self, frame: np.ndarray) -> None:
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        self._writer.write(frame)
        self.frames += 1

    def close(self, publish: bool = True) -> None:
        """Finish the file and move it to its name (publish=False, or no frames: throw it away)."""
        self._writer.release()
        if publish and self.frames > 0:
            os.replace(self._temp, self.path)
        else:
            self._temp.unlink(missing_ok=True)


class ImageFileSink:
    """write(frame: HxWx3 uint8 BGR or HxW uint8) keeps the last frame; close() writes it atomically."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.frames = 0
        self._last: np.ndarray | None = None

    def write(self, frame: np.ndarray) -> None:
        self._last = frame
        self.frames += 1

    def close(self, publish: bool = True) -> None:
        if not publish or self._last is None:
            return
        temp = _temporary_beside(self.path)
        try:
            if not cv2.imwrite(str(temp), self._last):
                raise SinkError(f"cannot write image {self.path}")
            os.replace(temp, self.path)
        finally:
            temp.unlink(missing_ok=True)


def alpha_to_gray(alpha: np.ndarray) -> np.ndarray:
    """alpha: HxW float32 [0,1] -> HxW uint8 (0 = hidden, 255 = kept sharp)."""
    return cv2.convertScaleAbs(alpha, alpha=255.0)


class PreviewWindow:
    """The on-screen preview. show(frame) draws; key(wait_ms) returns the key pressed (or -1); ``closed`` tells
    whether the user closed the window (its close button, or the window manager's close)."""

    def __init__(self, title: str = "Privacy filter") -> None:
        self.name = "privacy-filter"
        check_display()
        _use_system_fonts()
        try:
            # GUI_NORMAL: no Qt toolbar (its pan/zoom/save buttons are not ours; s saves a snapshot).
            cv2.namedWindow(self.name, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)
        except cv2.error:
            raise SinkError("cannot open a preview window (no display?); use --no-display") from None
        self._shown = False
        self.set_title(title)

    def set_title(self, title: str) -> None:
        if title == getattr(self, "_title", None):
            return  # a title change repaints the decoration: only when the text changes
        self._title = title
        with contextlib.suppress(cv2.error):
            cv2.setWindowTitle(self.name, title)

    def show(self, frame: np.ndarray) -> None:
        cv2.imshow(self.name, frame)
        self._shown = True

    def key(self, wait_ms: int = 1) -> int:
        """Pump window events for ``wait_ms``; the key pressed (0-255), or -1 for none."""
        if not self._shown:
            return -1
        pressed = cv2.waitKey(max(1, wait_ms))
        return -1 if pressed < 0 else pressed & 0xFF

    @property
    def closed(self) -> bool:
        if not self._shown:
            return False
        try:
            return cv2.getWindowProperty(self.name, cv2.WND_PROP_VISIBLE) < 1
        except cv2.error:
            return True

    def close(self) -> None:
        try:
            cv2.destroyWindow(self.name)
            cv2.waitKey(1)
        except cv2.error:
            pass


def check_display() -> None:
    """On Linux, refuse early when there is no X display: OpenCV's Qt would abort the whole process (exit
    134, several lines about 'xcb' plugins) instead of raising an error we could explain."""
    if not sys.platform.startswith("linux"):
        return
    if not os.environ.get("DISPLAY"):
        raise SinkError("no display to show the preview window on (DISPLAY is not set); use --no-display")
    name = ctypes.util.find_library("X11")
    if name is None:
        return  # cannot check; let OpenCV try
    try:
        xlib = ctypes.CDLL(name)
        xlib.XOpenDisplay.restype = ctypes.c_void_p
        xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
        xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    except (OSError, AttributeError):
        return
    connection = xlib.XOpenDisplay(None)
    if not connection:
        raise SinkError(
            f"cannot open the display {os.environ['DISPLAY']} for the preview window; use --no-display"
        )
    xlib.XCloseDisplay(connection)


def _use_system_fonts() -> None:
    """opencv-python points Qt at a font folder that its wheels do not ship, and Qt then prints four lines of
    warnings; point it at the system's fonts instead when they exist."""
    current = os.environ.get("QT_QPA_FONTDIR")
    if current and not Path(current).is_dir() and Path(SYSTEM_FONTS).is_dir():
        os.environ["QT_QPA_FONTDIR"] = SYSTEM_FONTS
