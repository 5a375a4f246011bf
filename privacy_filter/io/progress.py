"""A tidy one-line progress counter on stderr for file processing: frames, FPS, ETA."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """update() once per frame; finish() ends the line. Redraws at most ``interval`` s apart."""

    def __init__(self, total: int, stream: TextIO | None = None, interval: float = 0.5) -> None:
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self._start = time.monotonic()
        self._last_draw = 0.0
        self._drawn = -1  # frames counted in the last line drawn
        self._interactive = getattr(self.stream, "isatty", lambda: False)()
        # A terminal redraws one line in place; a log file gets a line only every few seconds.
        self.interval = interval if self._interactive else max(interval, 5.0)

    def update(self, frames: int = 1) -> None:
        self.done += frames
        now = time.monotonic()
        if now - self._last_draw >= self.interval:
            self._last_draw = now
            self._draw(now, end="\r" if self._interactive else "\n")

    def line(self, now: float | None = None) -> str:
        elapsed = max((now or time.monotonic()) - self._start, 1e-6)
        fps = self.done / elapsed
        # Past the total, the total was an estimate (a duration x a rate; timestamps that start over): no
        # "180/61 frames (100%)", just the count.
        if self.total > 0 and self.done <= self.total:
            percent = min(100.0, 100.0 * self.done / self.total)
            eta = max(0.0, (self.total - self.done) / fps) if fps > 0 else 0.0
            return f"{self.done}/{self.total} frames ({percent:3.0f}%)  {fps:5.1f} FPS  ETA {eta:4.0f} s"
        return f"{self.done} frames  {fps:5.1f} FPS"

    def finish(self) -> None:
        # A terminal's line ends with "\r" and must be ended; a log already has this count's line: no repeat.
        if self.done and (self._interactive or self._drawn != self.done):
            self._draw(time.monotonic(), end="\n")

    def _draw(self, now: float, end: str) -> None:
        self._drawn = self.done
        self.stream.write(self.line(now) + end)
        self.stream.flush()
