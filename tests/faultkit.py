"""Helpers for the robustness tests (issue 7): real footage in small files, stand-ins for a camera and a
window, named pipes that stall, and capturing what the program prints on file descriptor 2.

Everything here is built from the real evaluation clip in ../shared (no synthetic pictures), so that the
decoders, the segmenter and the filter see what a user's camera would give them.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np
from conftest import REPO, SPEED_CLIP

SMALL = (320, 240)  # (W, H) of the small clips: fast to decode, filter and encode


def clip_frames(count: int, size: tuple[int, int] | None = SMALL, start: int = 0) -> list[np.ndarray]:
    """``count`` consecutive frames of the real webcam-like clip (HxWx3 uint8 BGR), resized to ``size``."""
    capture = cv2.VideoCapture(str(SPEED_CLIP))
    capture.set(cv2.CAP_PROP_POS_FRAMES, start)
    frames = []
    while len(frames) < count:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame if size is None else cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
    capture.release()
    assert len(frames) == count, f"the clip has fewer than {start + count} frames"
    return frames


def write_video(path: Path, frames: list[np.ndarray], fps: float = 30.0, codec: str = "MJPG") -> Path:
    """Encode frames (HxWx3 uint8 BGR, all one size) into ``path``."""
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, (width, height))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def read_video(path: Path) -> list[np.ndarray]:
    """Every frame of a video file, decoded (HxWx3 uint8 BGR; the benchmarks' reader)."""
    from benchmarks.only_you import clip_frames

    return clip_frames(path)


def truncate(source: Path, target: Path, keep: float) -> Path:
    """Copy the first ``keep`` fraction of a file's bytes, as an interrupted copy or download leaves it."""
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * keep)])
    return target


class FakeCapture:
    """Stands in for ``cv2.VideoCapture`` of a camera: ``script`` lists what each read() returns (a frame, or
    None for a failed read); after the script, reads fail (``then=None``) or repeat the script (``then='loop'``).

    ``reads`` counts read() calls and ``opens`` how many times the device was (re)opened (shared through
    ``counter``) so that tests can tell a retry loop from a busy spin.
    """

    def __init__(self, script: list, counter: dict, fps: float = 30.0, frame_count: int = 0,
                 then: str | None = None, delay: float = 0.0) -> None:
        self.script = script
        self.counter = counter
        self.fps = fps
        self.frame_count = frame_count
        self.then = then
        self.delay = delay
        counter["opens"] = counter.get("opens", 0) + 1
        counter.setdefault("reads", 0)
        counter.setdefault("position", 0)

    def isOpened(self) -> bool:  # OpenCV's name
        return True

    def read(self) -> tuple[bool, np.ndarray | None]:
        self.counter["reads"] += 1
        if self.delay:
            time.sleep(self.delay)
        position = self.counter["position"]
        if position >= len(self.script):
            if self.then != "loop":
                return False, None
            position = 0
        self.counter["position"] = position + 1
        item = self.script[position]
        if isinstance(item, Exception):
            raise item
        return (item is not None), item

    def get(self, prop: int) -> float:
        if prop == cv2.CAP_PROP_FPS:
            return self.fps
        if prop == cv2.CAP_PROP_FRAME_COUNT:
            return float(self.frame_count)
        return 0.0

    def release(self) -> None:
        pass


class FakeWindow:
    """Stands in for ``sinks.PreviewWindow`` (there is no display here): keeps every picture shown, with the
    time it was shown, and presses ``quit_key`` once ``quit_after`` pictures were shown (or when
    ``press_quit`` is set from another thread)."""

    instances: ClassVar[list[FakeWindow]] = []

    def __init__(self, title: str = "", quit_after: int | None = None, quit_key: int = ord("q")) -> None:
        self.shown: list[tuple[float, np.ndarray]] = []
        self.titles: list[str] = [title]
        self.keys_asked = 0
        self.quit_after = quit_after
        self.quit_key = quit_key
        self.press_quit = threading.Event()
        self.quit_pressed_at: float | None = None
        self.closed = False
        FakeWindow.instances.append(self)

    def show(self, frame: np.ndarray) -> None:
        self.shown.append((time.monotonic(), frame.copy()))

    def set_title(self, title: str) -> None:
        self.titles.append(title)

    def key(self, wait_ms: int = 1) -> int:
        self.keys_asked += 1
        time.sleep(max(wait_ms, 1) / 1000)
        wants_quit = self.press_quit.is_set() or (self.quit_after is not None and len(self.shown) >= self.quit_after)
        if wants_quit and self.quit_pressed_at is None:
            self.quit_pressed_at = time.monotonic()
            return self.quit_key
        return -1

    def close(self) -> None:
        self.closed_at = time.monotonic()


def y4m_header(size: tuple[int, int], fps: int = 30) -> bytes:
    """The header of a YUV4MPEG2 stream: a raw video format FFmpeg reads from a pipe, no seeking needed."""
    return f"YUV4MPEG2 W{size[0]} H{size[1]} F{fps}:1 Ip A1:1 C420jpeg\n".encode()


def y4m_frame(frame: np.ndarray) -> bytes:
    """One frame (HxWx3 uint8 BGR, even W and H) of a YUV4MPEG2 stream."""
    return b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes()


class StallingPipe:
    """A named pipe that plays ``frames`` as a .y4m video, then stalls: it keeps the pipe open and writes
    nothing more, as a stuck camera or network stream does. ``release()`` closes it (the reader sees the end).

    With ``frames=None`` nobody ever opens the pipe for writing (opening it to read blocks forever) until
    ``release()``.
    """

    def __init__(self, folder: Path, frames: list[np.ndarray] | None, name: str = "camera.y4m") -> None:
        self.path = Path(folder) / name
        os.mkfifo(self.path)
        self.frames = frames
        self.written = threading.Event()
        self._release = threading.Event()
        self._thread = threading.Thread(target=self._write, daemon=True)
        self._thread.start()

    def _write(self) -> None:
        if self.frames is None:
            self._release.wait()
            with contextlib.suppress(OSError):  # let a blocked open() return, then end at once
                descriptor = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
                os.close(descriptor)
            return
        try:
            descriptor = os.open(self.path, os.O_WRONLY)  # blocks until the program opens it
        except OSError:
            return
        try:
            size = (self.frames[0].shape[1], self.frames[0].shape[0])
            os.write(descriptor, y4m_header(size))
            for frame in self.frames:
                os.write(descriptor, y4m_frame(frame))
            self.written.set()
            self._release.wait()
        except OSError:
            pass  # the reader went away
        finally:
            os.close(descriptor)

    def release(self) -> None:
        self._release.set()
        self._thread.join(5)


@contextlib.contextmanager
def captured_stderr() -> Iterator[io.StringIO]:
    """Everything written to stderr inside the block, by Python *or* by C libraries writing to descriptor 2
    (OpenCV, FFmpeg, Qt), as one string in the yielded buffer once the block ends."""
    sys.stderr.flush()
    saved = os.dup(2)
    result = io.StringIO()
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        python_stderr = sys.stderr
        sys.stderr = io.TextIOWrapper(os.fdopen(os.dup(2), "wb"), write_through=True)
        try:
            yield result
        finally:
            sys.stderr.flush()
            sys.stderr.close()
            sys.stderr = python_stderr
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            result.write(sink.read().decode("utf-8", "replace"))


def rss_bytes() -> int:
    """Resident memory of this process (Linux /proc)."""
    with open("/proc/self/statm") as stream:
        return int(stream.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def error_lines(stderr: str) -> list[str]:
    """The non-empty lines of what was printed, without the progress meter's carriage-return updates."""
    lines = []
    for line in stderr.splitlines():
        line = line.rsplit("\r", 1)[-1].strip()
        if line:
            lines.append(line)
    return lines


def start_cli(*args: str, cwd: Path = REPO) -> subprocess.Popen:
    """``python instance_segmentation.py ARGS`` started in the background, as a user would (text pipes)."""
    return subprocess.Popen([sys.executable, str(REPO / "instance_segmentation.py"), *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_partial(folder: Path, process: subprocess.Popen, min_bytes: int = 200_000) -> Path:
    """The hidden temporary output in ``folder`` once it holds ``min_bytes`` (some frames); AssertionError if
    the program ends first or two minutes pass."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        for partial in (p for p in folder.iterdir() if ".partial" in p.name):
            try:
                if partial.stat().st_size >= min_bytes:
                    return partial
            except FileNotFoundError:  # renamed or removed between the listing and the look: look again
                pass
        time.sleep(0.02)
    raise AssertionError(f"no growing temporary output (exit {process.poll()}): {process.communicate()[1]}")


def interrupt_when_written(folder: Path, process: subprocess.Popen, signum: int, min_bytes: int = 200_000,
                           timeout: float = 30) -> str:
    """Send ``signum`` once the program's temporary output in ``folder`` holds ``min_bytes``; wait for it to end
    (killed if it has not within ``timeout`` s, so no test leaves a process behind). Returns its stderr."""
    try:
        wait_for_partial(folder, process, min_bytes=min_bytes)
        assert process.poll() is None, "the program ended before it could be interrupted"
        process.send_signal(signum)
        return process.communicate(timeout=timeout)[1]
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def signal_self_on_frame(monkeypatch, frame_number: int, signum: int = signal.SIGINT) -> None:
    """The program (this process) receives ``signum`` as it takes its ``frame_number``-th frame (counted over
    all files): the loop's ``conform``, which every frame passes, sends it."""
    from privacy_filter.app import loop

    original = loop.conform
    count = {"n": 0}

    def conform(frame, size):
        count["n"] += 1
        if count["n"] == frame_number:
            os.kill(os.getpid(), signum)
        return original(frame, size)

    monkeypatch.setattr(loop, "conform", conform)
