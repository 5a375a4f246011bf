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
import shutil
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from .errors import SinkError, native_stderr_silenced

# The encoder PyAV (avfile.py) writes each video container with: H.264 plays everywhere; browsers play VP9 in .webm;
# .avi (which cannot time B-frames) keeps Motion JPEG, as before.
VIDEO_CODECS = {
    ".mp4": "libx264", ".m4v": "libx264", ".mov": "libx264", ".mkv": "libx264", ".avi": "mjpeg",
    ".webm": "libvpx-vp9",
}
SYSTEM_FONTS = "/usr/share/fonts"
PREVIEW_MAX = (1600, 900)  # (W, H): the largest picture the preview window shows unscaled
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
MIN_FREE_BYTES = 1 << 20  # refuse an output on a disk with less free space than this (1 MB)


def check_output_path(path: Path, overwrite: bool, video: bool, flag: str = "--output") -> Path:
    """Refuse, before any work is done, an output that cannot be written. Returns the path.

    video: True if a video file is expected here (else an image). Checks the extension, that the folder
    exists and really takes a new file (a probe file is created and removed: permissions, read-only or full
    disks, /proc... all show up), that the encoder for the extension opens, and that an existing file is
    only replaced with ``overwrite``.
    """
    try:
        return _check_output_path(Path(path), overwrite, video, flag)
    except (OSError, ValueError) as exc:  # a NUL byte, a name too long...
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SinkError(f"{flag} {path}: cannot write there ({reason})") from None


def _check_output_path(path: Path, overwrite: bool, video: bool, flag: str) -> Path:
    suffix = path.suffix.lower()
    allowed = VIDEO_CODECS if video else IMAGE_EXTENSIONS
    if suffix not in allowed:
        kind = "a video" if video else "an image"
        raise SinkError(
            f"{flag} {path}: cannot write {kind} with extension {suffix or '(none)'}; "
            f"use one of {', '.join(sorted(allowed))}"
        )
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.exists():
        raise SinkError(f"{flag} {path}: folder {folder} does not exist")
    if not folder.is_dir():
        raise SinkError(f"{flag} {path}: {folder} is a file, not a folder")
    if path.is_dir():
        raise SinkError(f"{flag} {path} is a folder, not a file name")
    if path.exists() and not overwrite:
        raise SinkError(f"{flag} {path} already exists; pass --overwrite to replace it")
    try:
        probe = _temporary_beside(path)
    except OSError as exc:
        raise SinkError(f"{flag} {path}: folder {folder} is not writable ({exc.strerror or exc})") from None
    try:
        free = shutil.disk_usage(folder).free
        if free < MIN_FREE_BYTES:
            raise SinkError(f"{flag} {path}: the disk holding {folder} is full ({free // 1024} kB free)")
        if video:
            from .avfile import check_encoder  # (avfile imports this module)

            problem = check_encoder(path)
            if problem:
                raise SinkError(f"{flag} {path}: {problem}; try .mp4")
        elif not cv2.haveImageWriter(str(path)):
            raise SinkError(f"{flag} {path}: this OpenCV cannot write {suffix} images; try .png")
    finally:
        probe.unlink(missing_ok=True)
    return path


def _temporary_beside(path: Path) -> Path:
    """A fresh hidden file name in the target's folder, with the target's extension (OpenCV picks the
    format from it); same folder so that the final rename is atomic."""
    folder = str(path.parent) or "."
    handle, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".partial{path.suffix}", dir=folder)
    os.close(handle)
    # mkstemp makes the file private (0600); the published file should get the user's usual permissions.
    os.chmod(name, 0o666 & ~_UMASK)
    return Path(name)


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


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
        last, self._last = self._last, None  # closing twice does nothing
        if not publish or last is None:
            return
        try:
            temp = _temporary_beside(self.path)
        except OSError as exc:
            raise SinkError(f"cannot write image {self.path}: {exc.strerror or exc}") from None
        try:
            try:
                with native_stderr_silenced():  # libpng's own "Write Error" on a full disk
                    written = cv2.imwrite(str(temp), last)
            except cv2.error:
                written = False
            if not written:
                raise SinkError(f"cannot write image {self.path} (is the disk full?)")
            os.replace(temp, self.path)
        except OSError as exc:
            raise SinkError(f"cannot save {self.path}: {exc.strerror or exc}") from None
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
        """Draw frame (HxWx3 uint8 BGR); a frame larger than PREVIEW_MAX (a 4K video, a photo) is shown
        scaled down to fit a screen. Only the preview: files and the virtual camera keep the full size."""
        height, width = frame.shape[:2]
        scale = min(PREVIEW_MAX[0] / width, PREVIEW_MAX[1] / height)
        if scale < 1:
            frame = cv2.resize(frame, (max(1, round(width * scale)), max(1, round(height * scale))),
                               interpolation=cv2.INTER_AREA)
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
