"""Stand-ins for on demand: a call app (``Viewer``: another process that opens a file, the stand-in virtual
camera device, and holds it open until told to close it) and a webcam (``LoopingCamera``).

There is no v4l2loopback device here; to the kernel's inotify and /proc, a regular file opened by another
process looks the same as a device node opened by a call app.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import cv2

HOLDER = (
    "import os, sys\n"
    "f = open(sys.argv[1], 'rb')\n"  # a call app opens the camera to read it
    "twice = os.dup(f.fileno()) if len(sys.argv) > 2 else None\n"  # the same open, a second descriptor
    "print('open', flush=True)\n"
    "sys.stdin.readline()\n"  # ...and holds it until the call ends
    "f.close()\n"
    "if twice is not None: os.close(twice)\n"
)


class Viewer:
    """A process holding ``path`` open: ``Viewer(path)`` returns once it is open; ``close()`` ends it.
    dup: the process holds the one open through two descriptors."""

    def __init__(self, path: Path, dup: bool = False) -> None:
        argv = [sys.executable, "-c", HOLDER, str(path)] + (["dup"] if dup else [])
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.strip() == "open", f"the viewer did not open {path}"

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write("\n")
            self.process.stdin.flush()
            self.process.wait(10)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()

    def __enter__(self) -> Viewer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class LoopingCamera:
    """Stands in for ``cv2.VideoCapture`` of a webcam: plays ``frames`` (HxWx3 uint8 BGR) over and over at
    ``fps``, as a camera delivers them. ``state`` (shared by every open) counts ``opens``, ``releases`` and
    ``reads``, so a test can tell whether the camera is open (its light on) and whether frames were read.
    The opens numbered in ``state["busy"]`` fail, as when another app has the camera."""

    def __init__(self, frames: list, state: dict, fps: float = 15.0) -> None:
        self.frames, self.state, self.fps = frames, state, fps
        for key in ("opens", "releases", "reads"):
            state.setdefault(key, 0)
        state["opens"] += 1
        self.busy = state["opens"] in state.get("busy", ())

    def isOpened(self) -> bool:  # OpenCV's name
        return not self.busy

    def read(self) -> tuple[bool, object]:
        time.sleep(1.0 / self.fps)
        index = self.state["reads"] % len(self.frames)
        self.state["reads"] += 1
        return True, self.frames[index].copy()

    def get(self, prop: int) -> float:
        return self.fps if prop == cv2.CAP_PROP_FPS else 0.0

    def release(self) -> None:
        self.state["releases"] += 1


def camera_is_open(state: dict) -> bool:
    return state.get("opens", 0) > state.get("releases", 0)
