"""On demand: the real camera is on only while a call watches the virtual camera.

``OnDemand(readers).step()`` decides, from the count of the virtual camera's viewers
(``io.watchers.Readers``), when the loop releases the real camera and when it opens it again:

* the camera is on and nobody has watched for ``grace_s`` (~2 s: a call app that closes and reopens the
  device while switching cameras must not flicker it), and a /proc scan agrees -> ``RELEASE``;
* the camera is off and a viewer has held the device for ``settle_s`` (0.25 s: a browser listing cameras
  opens each device for a few milliseconds, which must not turn the camera on) -> ``RESUME``.

The decisions only: the loop (``loop.Loop``) acts on them (stops the reader and the models, streams the paused
picture, reopens the camera), and the reader count is the state at the edge, given to ``OnDemand``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from ..io.watchers import Readers
from .overlay import draw_lines

GRACE_S = 2.0  # nobody watching this long: release the camera
SETTLE_S = 0.25  # a viewer holding the device this long is a call, not a browser listing cameras
PAUSED_INTERVAL_S = 1.0  # the paused picture's rate: keeps the device's format and a new viewer fed
RETRY_S = 5.0  # a camera that would not open (another app has it, unplugged) is tried again this often
RELEASED = "no call is watching: camera released"
OPENED = "a call opened the virtual camera"
PAUSED_LINES = ("Camera off: no call is watching.", "It turns on when a call opens this camera.")
STARTING_LINES = ("Starting the camera...",)
UNAVAILABLE_LINES = ("The camera cannot be opened (another app may be using it).", "Trying again...")


class Change(Enum):
    RELEASE = "release"
    RESUME = "resume"


@dataclass
class OnDemand:
    """When to release and reopen the real camera; ``camera_on`` is what the loop should have.

    step() -> Change or None, called once per loop turn (cheap: a non-blocking read of pending events).
    wait(timeout) sleeps until a viewer opens or closes the device, or until a pending decision is due.
    """

    readers: Readers
    grace_s: float = field(default_factory=lambda: GRACE_S)  # read at construction: tests may shorten it
    settle_s: float = field(default_factory=lambda: SETTLE_S)
    clock: Callable[[], float] = time.monotonic
    camera_on: bool = True
    since: float | None = None  # since when the count has said the camera should change state
    retry_at: float | None = None  # the camera would not open for this call: when to try again

    @property
    def retrying(self) -> bool:
        return self.retry_at is not None

    def retry_later(self, delay: float | None = None) -> None:
        """The camera would not open after a RESUME: it stays off, and is tried again in ``delay`` s while the
        call watches (a new call, after this one left, starts afresh)."""
        self.camera_on = False
        self.retry_at = self.clock() + (RETRY_S if delay is None else delay)

    def step(self) -> Change | None:
        now, count = self.clock(), self.readers.count()
        if self.retry_at is not None:
            if count == 0:
                self.retry_at = None
            elif now < self.retry_at:
                return None
            else:
                self.camera_on = True
                return Change.RESUME
        wants_on = count > 0
        if wants_on == self.camera_on:
            self.since = None
            return None
        if self.since is None:
            self.since = now
        if now - self.since < (self.settle_s if wants_on else self.grace_s):
            return None
        self.since = None
        # inotify does not say who opened: before a call is left with a paused picture, ask /proc who holds it.
        if not wants_on and self.readers.confirm() > 0:
            return None
        self.camera_on = wants_on
        return Change.RESUME if wants_on else Change.RELEASE

    def wait(self, timeout: float) -> None:
        if self.retry_at is not None:
            timeout = min(timeout, max(0.0, self.retry_at - self.clock()))
        if self.since is not None:
            due = self.since + (self.grace_s if self.camera_on else self.settle_s)
            timeout = min(timeout, max(0.0, due - self.clock()))
        self.readers.wait(timeout)

    def close(self) -> None:
        self.readers.close()


def paused_screen(size: tuple[int, int], lines: tuple[str, ...] = PAUSED_LINES) -> np.ndarray:
    """What the call (and the window) get while the camera is off: a black (W, H) = size frame with a note,
    drawn from nothing (never from a camera frame)."""
    frame = np.zeros((size[1], size[0], 3), np.uint8)
    return draw_lines(frame, lines, origin=(10, max(24, size[1] // 2 - 11 * len(lines))))
