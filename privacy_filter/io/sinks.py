"""Sinks: where filtered frames go — a video or image file, a mask file, or the preview window.

File sinks are atomic: frames go to a hidden temporary file beside the target, which ``publish`` puts under
the target's name only when the sink is closed successfully. A crash or an error never leaves a half-written
file under the user's chosen name, and an existing file is never replaced unless the user said --overwrite
(not even one that appeared during the run: another run with the same --output, say).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from ..errors import SinkError, native_stderr_silenced
from ..imagefiles import write_image
from . import files

SYSTEM_FONTS = "/usr/share/fonts"
PREVIEW_MAX = (1600, 900)  # (W, H): the largest picture the preview window shows unscaled
DISPLAY_ATTEMPTS = 3  # X connection attempts before the display is called unreachable



class ImageFileSink:
    """write(frame: HxWx3 uint8 BGR or HxW uint8) keeps the last frame; finish() writes it to a temporary
    file, publish() puts it under its name (close() does both): an image and its matte are published
    both or neither (``Outputs.close``)."""

    def __init__(self, path: Path, overwrite: bool = False) -> None:
        self.path = Path(path)
        self.overwrite = overwrite
        self.frames = 0
        self._last: np.ndarray | None = None
        self._temp: Path | None = None  # written by finish(), not yet published

    def write(self, frame: np.ndarray) -> None:
        self._last = frame
        self.frames += 1

    def close(self, publish: bool = True) -> Path | None:
        """``finish`` then ``publish`` (publish=False: ``discard``); where the image went, or None."""
        if not publish:
            self.discard()
            return None
        return self.publish() if self.finish() else None

    def finish(self) -> bool:
        """Write the last frame to a temporary file beside the target; True if there was one to write.
        Raises SinkError (nothing left behind) if it cannot be written. Finishing twice does nothing more."""
        last, self._last = self._last, None
        if last is None:
            return self._temp is not None
        if not self.path.parent.is_dir():
            raise SinkError(f"cannot write image {self.path}: the folder {self.path.parent} was removed during "
                            "the run; nothing was saved")
        try:
            temp = files.temporary_beside(self.path)
        except OSError as exc:
            raise SinkError(f"cannot write image {self.path}: {exc.strerror or exc}") from None
        try:
            with native_stderr_silenced():  # libpng's own complaints
                written = write_image(temp, last)  # by its bytes: cv2.imwrite crashes on a non-UTF-8 name
        except cv2.error:
            written = False
        if not written:
            temp.unlink(missing_ok=True)
            raise SinkError(f"cannot write image {self.path} (is the disk full?)")
        self._temp = temp
        return True

    def publish(self, partial: bool = False) -> Path:
        """Put the written image under its name (an image is complete once written: ``partial`` is not used)."""
        temp, self._temp = self._temp, None
        if temp is None:
            raise ValueError("publish() before a successful finish()")
        files.publish(temp, self.path, self.overwrite, what="image")
        return self.path

    def discard(self) -> None:
        self._last = None
        temp, self._temp = self._temp, None
        if temp is not None:
            temp.unlink(missing_ok=True)


def alpha_to_gray(alpha: np.ndarray) -> np.ndarray:
    """alpha: HxW float32 [0,1] -> HxW uint8 (0 = hidden, 255 = kept sharp)."""
    return cv2.convertScaleAbs(alpha, alpha=255.0)


class PreviewWindow:
    """The on-screen preview. show(frame) draws; key(wait_ms) returns the key pressed (or -1); ``closed`` tells
    whether the user closed the window (its close button, or the window manager's close)."""

    def __init__(self, title: str = "Privacy filter") -> None:
        self.name = "privacy-filter"
        _use_system_fonts()
        check_display()  # right before Qt connects: Qt aborts the process if it cannot
        try:
            # GUI_NORMAL: no Qt toolbar (its pan/zoom/save buttons are not ours; s saves a snapshot).
            cv2.namedWindow(self.name, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)
        except cv2.error:
            raise SinkError("cannot open a preview window (no display?); use --no-display") from None
        self._shown = False
        self._size = (1, 1)  # (width, height) of the picture last shown, to normalise clicks
        self.clicks: list[tuple[float, float]] = []  # left clicks (x, y in [0, 1] of the picture), not yet taken
        with contextlib.suppress(cv2.error):
            cv2.setMouseCallback(self.name, self._on_mouse)
        self.set_title(title)

    def _on_mouse(self, event: int, x: int, y: int, flags: int, param: object) -> None:
        if event == cv2.EVENT_LBUTTONDOWN and self._shown:
            self.clicks.append((x / self._size[0], y / self._size[1]))

    def take_clicks(self) -> list[tuple[float, float]]:
        """The left clicks since the last call, normalised to the picture (x, y in [0, 1])."""
        clicks, self.clicks = self.clicks, []
        return clicks

    def set_title(self, title: str) -> None:
        if title == getattr(self, "_title", None):
            return  # a title change repaints the decoration: only when the text changes
        self._title = title
        with contextlib.suppress(cv2.error):
            cv2.setWindowTitle(self.name, title)

    def show(self, frame: np.ndarray) -> None:
        """Draw frame (HxWx3 uint8 BGR); a frame larger than PREVIEW_MAX (a 4K video, a photo) is shown
        scaled down to fit a screen. Only the preview: files and the virtual camera keep the full size."""
        height, width = frame.shape[:2]
        scale = min(PREVIEW_MAX[0] / width, PREVIEW_MAX[1] / height)
        if scale < 1:
            frame = cv2.resize(frame, (max(1, round(width * scale)), max(1, round(height * scale))),
                               interpolation=cv2.INTER_AREA)
        cv2.imshow(self.name, frame)
        self._size = (frame.shape[1], frame.shape[0])
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


def check_display(attempts: int = DISPLAY_ATTEMPTS) -> None:
    """On Linux, refuse early when the X display cannot be reached: OpenCV's Qt would abort the whole process
    (exit 134, several lines about 'xcb' plugins) instead of raising an error we could explain.

    An X server under load refuses a connection now and then, and Qt makes a single attempt; so the display
    is tried here, with libX11, up to ``attempts`` times a short while apart, right before Qt connects.
    """
    if not sys.platform.startswith("linux"):
        return
    if not os.environ.get("DISPLAY"):
        raise SinkError("no display to show the preview window on (DISPLAY is not set); use --no-display")
    xlib = _xlib()
    if xlib is None:
        return  # cannot check; let OpenCV try
    for attempt in range(max(1, attempts)):
        connection = xlib.XOpenDisplay(None)
        if connection:
            xlib.XCloseDisplay(connection)
            return
        time.sleep(0.1 * (attempt + 1))
    raise SinkError(f"cannot open the display {os.environ['DISPLAY']} for the preview window; use --no-display")


def _xlib() -> ctypes.CDLL | None:
    """libX11 through ctypes (XOpenDisplay/XCloseDisplay), or None where it is not installed."""
    name = ctypes.util.find_library("X11")
    if name is None:
        return None
    try:
        xlib = ctypes.CDLL(name)
        xlib.XOpenDisplay.restype = ctypes.c_void_p
        xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
        xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    except (OSError, AttributeError):
        return None
    return xlib


def _use_system_fonts() -> None:
    """opencv-python points Qt at a font folder that its wheels do not ship, and Qt then prints four lines of
    warnings; point it at the system's fonts instead when they exist."""
    current = os.environ.get("QT_QPA_FONTDIR")
    if current and not Path(current).is_dir() and Path(SYSTEM_FONTS).is_dir():
        os.environ["QT_QPA_FONTDIR"] = SYSTEM_FONTS
