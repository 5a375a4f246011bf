"""Virtual webcam output: the filtered frames as a camera that Zoom, Meet, Teams or OBS can pick.

Through ``pyvirtualcam`` (an optional extra: ``pip install -r requirements-virtualcam.txt``), which puts one
backend per platform behind its ``Camera`` context manager: v4l2loopback on Linux, the OBS Virtual Camera on
Windows and macOS (or Unity Capture on Windows). pyvirtualcam is imported only when ``--virtual-cam`` is asked
for, so the core keeps needing just opencv-python, numpy and imutils.

``VirtualCamera(size, fps)`` opens the device (or raises SinkError with one line that says what to install);
``write(frame)`` sends HxWx3 uint8 BGR frames; ``close()`` releases the device.
"""

from __future__ import annotations

import platform
from types import ModuleType

import cv2
import numpy as np

from ..errors import SinkError

INSTALL_HINT = "pip install -r requirements-virtualcam.txt (or: pip install pyvirtualcam)"
LINUX_SETUP = (
    "install v4l2loopback (Debian/Ubuntu: sudo apt install v4l2loopback-dkms) and load it: "
    "sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=PrivacyFilter"
)
WINDOWS_SETUP = "install OBS Studio (26 or newer): it brings the OBS Virtual Camera (see docs/virtual-camera.md)"
MACOS_SETUP = (
    "install OBS Studio (30 or newer on macOS 13+), start it, click Start Virtual Camera, then Stop Virtual "
    "Camera, and quit OBS (once; see docs/virtual-camera.md)"
)


def import_pyvirtualcam() -> ModuleType:
    """The pyvirtualcam module, or SinkError saying how to install it."""
    try:
        import pyvirtualcam
    except ImportError:
        raise SinkError(f"--virtual-cam needs the pyvirtualcam package: {INSTALL_HINT}") from None
    return pyvirtualcam


def to_camera_frame(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """What pyvirtualcam's RGB format wants from one of our frames.

    frame: HxWx3 uint8 BGR (any size) -> size[1] x size[0] x 3 uint8 RGB, C-contiguous. The camera's size is
    fixed when it is opened, so a frame of another size (should one ever come) is scaled, never refused.
    """
    if (frame.shape[1], frame.shape[0]) != size:
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)  # a new contiguous array


def no_device_message(reason: str, system: str, device: str | None = None) -> str:
    """One line for a virtual camera that cannot be opened: what to install or fix, per platform.

    reason: pyvirtualcam's own message (one line per backend it tried).
    """
    first = reason.strip().splitlines()[0] if reason.strip() else "unknown error"
    if device:
        return f"--virtual-cam-device {device}: cannot open it ({first})"
    if system == "Linux":
        if "no v4l2 loopback device found" in reason.lower():
            return f"--virtual-cam: no virtual camera device found; {LINUX_SETUP}"
        return f"--virtual-cam: cannot open the v4l2loopback device ({first}); {LINUX_SETUP}"
    if system == "Windows":
        return f"--virtual-cam: no virtual camera found ({first}); {WINDOWS_SETUP}"
    if system == "Darwin":
        return f"--virtual-cam: no virtual camera found ({first}); {MACOS_SETUP}"
    return f"--virtual-cam: no virtual camera backend for {system or 'this system'} ({first})"


class VirtualCamera:
    """A virtual webcam of (W, H) = size at ``fps``: write(frame: HxWx3 uint8 BGR), close().

    Usable as a context manager, like pyvirtualcam's ``Camera`` it wraps.
    """

    def __init__(self, size: tuple[int, int], fps: float, device: str | None = None) -> None:
        pyvirtualcam = import_pyvirtualcam()
        self.size = size
        self.fps = fps
        self.frames = 0
        try:
            self._camera = pyvirtualcam.Camera(
                width=size[0], height=size[1], fps=fps, fmt=pyvirtualcam.PixelFormat.RGB, device=device
            )
        except (RuntimeError, OSError, ValueError) as exc:
            raise SinkError(no_device_message(str(exc), platform.system(), device)) from None

    @property
    def device(self) -> str:
        """The device apps see (e.g. /dev/video10, or 'OBS Virtual Camera')."""
        return str(self._camera.device)

    def write(self, frame: np.ndarray) -> None:
        try:
            self._camera.send(to_camera_frame(frame, self.size))
        except (RuntimeError, OSError, ValueError) as exc:
            raise SinkError(f"virtual camera {self.device} stopped taking frames: {exc}") from None
        self.frames += 1

    def close(self) -> None:
        self._camera.close()

    def __enter__(self) -> VirtualCamera:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
