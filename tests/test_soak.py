"""Soaks: many frames through the whole program, with resident memory sampled as it goes. It must level off
after the warm-up, and every thread the run started must have ended when it returns.

Each soak runs twice over: a short one (1 800 frames, about 20-40 s each on 2 cores) in the default run and
in CI, which catches any leak of a frame or a buffer per frame (1 800 x 230 KB = 400 MB against a 40 MB
allowance) and any thread left behind; and the long one (> 10 000 frames, ``pytest -m soak``; left out of
the default run), for slow leaks.

Two shapes of run: a long video file to a video file (the reader's queue, the encoder, the atomic sink), and
a live camera shown in a window (the newest-frame reader, the preview path, the keys), each > 10 000 frames.
The frames are the real evaluation clip, scaled to 320x240 so that a soak takes minutes, not hours.
"""

from __future__ import annotations

import statistics
import threading
import time

import numpy as np
import pytest
from conftest import needs_eval
from faultkit import FakeCapture, clip_frames, rss_bytes

from privacy_filter.app import loop, session
from privacy_filter.app import main as app
from privacy_filter.io.capture import CaptureReader

pytestmark = needs_eval

FRAMES = 10_200  # the long soak
SHORT_FRAMES = 1_800  # the soak in every run (and CI)
LENGTHS = [pytest.param(SHORT_FRAMES, id="short"), pytest.param(FRAMES, id="long", marks=pytest.mark.soak)]
ALLOWED_GROWTH = 40 << 20  # bytes of resident memory the second half of a run may add to the first's


class MemorySampler:
    """Samples this process's resident memory every ``interval`` s on a thread of its own."""

    def __init__(self, interval: float = 0.25) -> None:
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self.interval = interval

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.samples.append((time.monotonic(), rss_bytes()))

    def growth(self) -> tuple[int, int]:
        """(late median - early median, late max - early median) in bytes: early is 10-30 % into the run
        (after the warm-up: models loaded, buffers allocated), late the last 20 %."""
        values = [rss for _, rss in self.samples]
        assert len(values) >= 20, "the run was too short to judge"
        count = len(values)
        early = statistics.median(values[count // 10: 3 * count // 10])
        late = values[4 * count // 5:]
        return int(statistics.median(late) - early), int(max(late) - early)


def new_threads(before: set[threading.Thread], wait: float = 3.0) -> list[str]:
    """Threads started since ``before`` still alive after up to ``wait`` s (the sampler excepted)."""
    deadline = time.monotonic() + wait
    while True:
        alive = [t for t in threading.enumerate() if t not in before and t.name != "rss-sampler"]
        if not alive or time.monotonic() > deadline:
            return [t.name for t in alive]
        time.sleep(0.05)


def assert_memory_flat(memory: MemorySampler, label: str) -> None:
    """Print the run's resident memory and fail if it kept growing after the warm-up."""
    median_growth, peak_growth = memory.growth()
    print(f"{label}, RSS {memory.samples[0][1] >> 20} -> {memory.samples[-1][1] >> 20} MB, late median growth "
          f"{median_growth / 2**20:.1f} MB, late peak growth {peak_growth / 2**20:.1f} MB")
    assert median_growth < ALLOWED_GROWTH, "resident memory keeps growing"
    assert peak_growth < 2 * ALLOWED_GROWTH

@pytest.mark.parametrize("count", LENGTHS)
def test_soak_file_to_file(tmp_path, capsys, count: int) -> None:
    frames = clip_frames(300)
    long_clip = tmp_path / "long.avi"
    # Played forwards then backwards, over and over, as one long file (MJPG: quick to write and to read).
    import cv2

    writer = cv2.VideoWriter(str(long_clip), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (320, 240))
    cycle = frames + frames[::-1]
    for index in range(count):
        writer.write(cycle[index % len(cycle)])
    writer.release()

    before = set(threading.enumerate())
    target = tmp_path / "out.mp4"
    with MemorySampler() as memory:
        status = app.main(["--input", str(long_clip), "--no-display", "--output", str(target),
                           "--mask-output", str(tmp_path / "mask.avi")])
    err = capsys.readouterr().err
    assert status == 0, err
    assert f"wrote {count} frames to {target}" in err
    assert_memory_flat(memory, f"file soak: {count} frames, {len(memory.samples)} samples")
    assert new_threads(before) == [], "worker threads must end with the run"


class QuietWindow:
    """A stand-in preview window that keeps nothing (so that it cannot grow), presses q after ``frames``
    pictures and counts them."""

    def __init__(self, title: str = "", frames: int = FRAMES) -> None:
        self.frames = frames
        self.shown = 0
        self.black = 0

    def show(self, frame: np.ndarray) -> None:
        self.shown += 1

    def set_title(self, title: str) -> None:
        pass

    def key(self, wait_ms: int = 1) -> int:
        return ord("q") if self.shown >= self.frames else -1

    closed = False

    def close(self) -> None:
        pass


@pytest.mark.parametrize("count", LENGTHS)
def test_soak_live_camera_in_a_window(tmp_path, monkeypatch, capsys, count: int) -> None:
    frames = clip_frames(300)
    counter: dict = {}
    windows: list[QuietWindow] = []

    def open_source(spec: str, width: int = 0) -> CaptureReader:
        # A camera delivers at its frame rate (a fast one here, so that the filter, not the camera, sets the pace).
        camera = lambda: FakeCapture(frames, counter, then="loop", delay=1 / 240)  # noqa: E731
        return CaptureReader(camera, "camera 0", live=True, width=width)

    def window(title: str = "") -> QuietWindow:
        windows.append(QuietWindow(title, frames=count))
        return windows[-1]

    monkeypatch.setattr(loop, "open_source", open_source)
    monkeypatch.setattr(session, "PreviewWindow", window)
    monkeypatch.setattr(app, "check_display", lambda: None)
    before = set(threading.enumerate())
    with MemorySampler() as memory:
        status = app.main(["--input", "0", "--width", "320"])
    assert status == 0, capsys.readouterr().err
    (shown,) = windows
    assert shown.shown >= count
    assert_memory_flat(memory, f"camera soak: {shown.shown} frames shown, {counter['reads']} camera reads")
    assert new_threads(before) == [], "the camera reader must end with the run"
