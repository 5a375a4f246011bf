"""The cameras on this machine, by what they are: ``--list-cameras``, and ``--input`` given as a device path
(/dev/video2, /dev/v4l/by-id/...) or as part of a camera's name ("Logitech").

Linux: each capture node in /sys/class/video4linux, with its name (the ``name`` file) and, where the driver
says, the frame sizes it offers (the V4L2 ioctls VIDIOC_ENUM_FMT and VIDIOC_ENUM_FRAMESIZES, which do not
start the camera: its light stays off). A loopback device (the virtual camera: it lives under
/sys/devices/virtual) is listed but not opened: opening it would look like a call to a running filter.
Elsewhere: OpenCV's indices 0-9 that open, without names or sizes (the platform says nothing more to OpenCV).

OpenCV's V4L2 backend opens /dev/videoN for index N, so a camera found here is handed on as its index.
"""

from __future__ import annotations

import contextlib
import os
import re
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path

import cv2

try:
    import fcntl
except ImportError:  # Windows: no ioctls there (its cameras are probed through OpenCV)
    fcntl = None  # type: ignore[assignment]

SYSFS = Path("/sys/class/video4linux")
DEVICE = re.compile(r"^/dev/video(\d+)$")
# ioctl numbers: _IOR/_IOWR('V', nr, size) as <linux/videodev2.h> defines them.
VIDIOC_QUERYCAP = 0x80685600  # struct v4l2_capability, 104 bytes
VIDIOC_ENUM_FMT = 0xC0405602  # struct v4l2_fmtdesc, 64 bytes
VIDIOC_ENUM_FRAMESIZES = 0xC02C564A  # struct v4l2_frmsizeenum, 44 bytes
V4L2_CAP_VIDEO_CAPTURE = 0x00000001
V4L2_CAP_DEVICE_CAPS = 0x80000000
V4L2_BUF_TYPE_VIDEO_CAPTURE = 1
V4L2_FRMSIZE_TYPE_DISCRETE = 1
PROBE_INDICES = range(10)  # where the platform cannot list its cameras: the OpenCV indices tried


class AmbiguousCamera(ValueError):
    """--input names several cameras; the message names them."""


@dataclass
class Camera:
    """One camera: OpenCV ``index``, ``device`` node, ``name``; ``sizes`` (W, H) largest first (empty where
    not known); ``virtual`` for a loopback device such as the virtual camera."""

    index: int
    device: str
    name: str
    sizes: list[tuple[int, int]] = field(default_factory=list)
    virtual: bool = False

    def line(self) -> str:
        sizes = ", ".join(f"{w}x{h}" for w, h in self.sizes) if self.sizes else "sizes not reported"
        what = "virtual camera" if self.virtual else sizes
        return f"{self.index:>3}  {self.device:<14} {self.name} ({what})"


def _ioctl(fd: int, request: int, buffer: bytearray) -> bool:
    if fcntl is None:
        return False
    try:
        fcntl.ioctl(fd, request, buffer)
    except OSError:
        return False
    return True


def capture_sizes(device: str) -> tuple[bool | None, list[tuple[int, int]]]:
    """(is it a capture device (None: cannot tell), its discrete frame sizes largest first) from V4L2 ioctls."""
    try:
        fd = os.open(device, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None, []
    try:
        cap = bytearray(104)
        if not _ioctl(fd, VIDIOC_QUERYCAP, cap):
            return None, []
        capabilities, device_caps = struct.unpack_from("II", cap, 84)
        caps = device_caps if capabilities & V4L2_CAP_DEVICE_CAPS else capabilities
        if not caps & V4L2_CAP_VIDEO_CAPTURE:
            return False, []
        sizes: set[tuple[int, int]] = set()
        for format_index in range(64):
            desc = bytearray(64)
            struct.pack_into("II", desc, 0, format_index, V4L2_BUF_TYPE_VIDEO_CAPTURE)
            if not _ioctl(fd, VIDIOC_ENUM_FMT, desc):
                break
            (pixel_format,) = struct.unpack_from("I", desc, 44)
            for size_index in range(256):
                frame_size = bytearray(44)
                struct.pack_into("II", frame_size, 0, size_index, pixel_format)
                if not _ioctl(fd, VIDIOC_ENUM_FRAMESIZES, frame_size):
                    break
                kind, width, height = struct.unpack_from("III", frame_size, 8)
                if kind != V4L2_FRMSIZE_TYPE_DISCRETE:
                    break  # a range of sizes (stepwise): not a list worth printing
                sizes.add((width, height))
        return True, sorted(sizes, key=lambda s: (s[0] * s[1], s[0]), reverse=True)
    finally:
        os.close(fd)


def linux_cameras(sysfs: Path = SYSFS, dev: Path = Path("/dev")) -> list[Camera]:
    """The capture nodes under ``sysfs`` (metadata nodes left out), by index."""
    if not sysfs.is_dir():
        return []
    found = []
    for entry in sysfs.iterdir():
        match = re.fullmatch(r"video(\d+)", entry.name)
        if match is None:
            continue
        index = int(match.group(1))
        device = str(dev / entry.name)
        name = ""
        with contextlib.suppress(OSError):
            name = (entry / "name").read_text(errors="replace").strip()
        virtual = "/devices/virtual/" in str(entry.resolve())
        capture, sizes = (None, []) if virtual else capture_sizes(device)
        if capture is False:
            continue
        if capture is None and not virtual:
            # Cannot ask the driver: a camera's second node (index 1) is its metadata stream, not a picture.
            with contextlib.suppress(OSError, ValueError):
                if int((entry / "index").read_text().strip() or 0) != 0:
                    continue
        found.append(Camera(index, device, name or entry.name, sizes, virtual))
    return sorted(found, key=lambda camera: camera.index)


def probed_cameras(indices: range = PROBE_INDICES) -> list[Camera]:
    """Where cameras cannot be listed: the OpenCV indices that open (each camera's light blinks once)."""
    found = []
    for index in indices:
        capture = cv2.VideoCapture(index)
        try:
            if capture.isOpened():
                found.append(Camera(index, str(index), f"camera {index}"))
        finally:
            capture.release()
    return found


def list_cameras() -> list[Camera]:
    return linux_cameras() if sys.platform.startswith("linux") else probed_cameras()


def camera_input(spec: str, cameras: list[Camera] | None = None) -> str | None:
    """The camera index (as text) that ``--input spec`` names by device path or by part of its name; None if
    it names none (then it is a file, a folder or a glob, or a mistake the file checks will report).

    Raises AmbiguousCamera (one line) if a name matches several cameras."""
    # /dev/v4l/by-id/usb-...-video-index0 and other links to the node count as the node.
    try:
        real = os.path.realpath(spec) if spec.startswith("/dev/") or os.path.islink(spec) else spec
    except (OSError, ValueError):  # a NUL byte...: not a camera; the file checks say what is wrong with it
        return None
    match = DEVICE.match(real)
    if match:
        return match.group(1)
    if spec.startswith("/dev/") or os.path.exists(spec) or any(c in spec for c in "*?[/\\"):
        return None
    wanted = spec.strip().lower()
    if not wanted or wanted.isdigit() or not sys.platform.startswith("linux"):  # an index is an index
        return None
    named = [camera for camera in (linux_cameras() if cameras is None else cameras)
             if wanted in camera.name.lower() and not camera.virtual]
    if len(named) > 1:
        listed = ", ".join(f"{camera.device} ({camera.name})" for camera in named)
        raise AmbiguousCamera(f"--input {spec!r} matches {len(named)} cameras: {listed}; give the device")
    return str(named[0].index) if named else None
