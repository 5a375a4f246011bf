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
import errno
import os
import shutil
import sys
import tempfile
import time
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
DISPLAY_ATTEMPTS = 3  # X connection attempts before the display is called unreachable


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
    format from it); same folder so that publishing is a link or rename, never a copy.

    The name is ``.STEM.XXXXXXXX.partial.EXT``, with STEM shortened if need be so that the name fits the
    folder's limit (255 bytes on most file systems): any name the target may have, its temporary may have.
    """
    folder = str(path.parent) or "."
    suffix = f".partial{path.suffix}"
    stem = _fit_stem(path.stem, folder, budget=len(os.fsencode(f"..{'X' * 8}{suffix}")))
    handle, name = tempfile.mkstemp(prefix=f".{stem}.", suffix=suffix, dir=folder)
    os.close(handle)
    # mkstemp makes the file private (0600); the published file should get the user's usual permissions.
    os.chmod(name, 0o666 & ~_UMASK)
    return Path(name)


def _fit_stem(stem: str, folder: str, budget: int) -> str:
    """``stem`` cut (at a character boundary) so that it plus ``budget`` bytes fit a file name in ``folder``."""
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    room = max(1, limit - budget)
    while len(os.fsencode(stem)) > room:
        stem = stem[:-1]
    return stem


def publish(temporary: Path, target: Path, overwrite: bool, what: str = "file") -> Path:
    """Put the finished ``temporary`` file under the user's name ``target``; the path it ended up at.

    Without ``overwrite`` an existing file is never replaced, not even one that appeared during the run
    (another run with the same --output): the name is taken with ``os.link``, which fails if it exists
    (where hard links are not supported, e.g. some FUSE or SMB mounts, the name is reserved with O_EXCL and
    the file renamed onto that reservation). If the name was taken meanwhile, the result is saved under the
    first free name ``STEM-2.EXT``, ``STEM-3.EXT``... and SinkError says so: both files are kept.
    With ``overwrite``, an atomic rename over the target.
    Raises SinkError, keeping ``temporary``, if it cannot be put anywhere. ``what``: "video" or "image".
    """
    try:
        if overwrite:
            os.replace(temporary, target)
            return target
        if _publish_new(temporary, target):
            return target
        for number in range(2, 1000):
            other = target.with_name(f"{target.stem}-{number}{target.suffix}")
            if _publish_new(temporary, other):
                raise SinkError(
                    f"{target} appeared while this run was writing (another run or program made it); "
                    f"it is left as it was, and this {what} is saved as {other}"
                )
        raise FileExistsError(errno.EEXIST, "every name tried exists")
    except OSError as exc:
        raise SinkError(
            f"cannot save {target} ({exc.strerror or exc}); the finished {what} is kept as {temporary}"
        ) from None


_publish = publish  # for the sinks' close(publish=...), whose argument hides the name


def _publish_new(temporary: Path, target: Path) -> bool:
    """Move ``temporary`` to ``target`` if nothing has that name; False (temporary untouched) if something has."""
    try:
        os.link(temporary, target)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK, errno.EXDEV):
            raise
        # No hard links here: reserve the name (O_EXCL fails if it exists), then rename onto the reservation.
        try:
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 & ~_UMASK))
        except FileExistsError:
            return False
        try:
            os.replace(temporary, target)
        except OSError:
            target.unlink(missing_ok=True)  # our empty reservation, not a file of the user's
            raise
        return True
    temporary.unlink(missing_ok=True)
    return True


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def _removed_during_run(temporary: Path) -> str | None:
    """Why the temporary file being written is no longer there (its folder or itself was removed), or None.
    Such a file was written to the end without an error (an open file outlives its name): it is not the disk."""
    if not temporary.parent.is_dir():
        return f"the folder {temporary.parent} was removed during the run"
    if not temporary.exists():
        return f"its temporary file {temporary.name} was removed during the run"
    return None


class ImageFileSink:
    """write(frame: HxWx3 uint8 BGR or HxW uint8) keeps the last frame; close() writes it atomically."""

    def __init__(self, path: Path, overwrite: bool = False) -> None:
        self.path = Path(path)
        self.overwrite = overwrite
        self.frames = 0
        self._last: np.ndarray | None = None

    def write(self, frame: np.ndarray) -> None:
        self._last = frame
        self.frames += 1

    def close(self, publish: bool = True) -> None:
        last, self._last = self._last, None  # closing twice does nothing
        if not publish or last is None:
            return
        if not self.path.parent.is_dir():
            raise SinkError(f"cannot write image {self.path}: the folder {self.path.parent} was removed during "
                            "the run; nothing was saved")
        try:
            temp = _temporary_beside(self.path)
        except OSError as exc:
            raise SinkError(f"cannot write image {self.path}: {exc.strerror or exc}") from None
        try:
            with native_stderr_silenced():  # libpng's own "Write Error" on a full disk
                written = cv2.imwrite(str(temp), last)
        except cv2.error:
            written = False
        if not written:
            temp.unlink(missing_ok=True)
            raise SinkError(f"cannot write image {self.path} (is the disk full?)")
        _publish(temp, self.path, self.overwrite, what="image")


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
