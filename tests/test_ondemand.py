"""On demand: the camera is on only while a call watches the virtual camera (issue 23).

The decisions (``OnDemand``) on a scripted count and clock; then the real program, in this process, with
stand-ins at its two ends only: the virtual camera device is a regular file in tmp_path that other processes
(``watchkit.Viewer``, a call app) open and close, counted by the real inotify and /proc code; pyvirtualcam's
backend records what is sent (the real ``pyvirtualcam.Camera`` runs in front of it); the webcam is a looping
clip behind the real threaded ``CaptureReader``. The run is stopped by a real SIGTERM, as systemd stops it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import cv2
import numpy as np
import pytest
from conftest import needs_eval
from faultkit import FakeWindow
from privacykit import davis, mostly_black, shows_the_room
from test_virtualcam import RecordingBackend, source_index
from watchkit import LoopingCamera, Viewer, camera_is_open

from privacy_filter.app import loop, ondemand, session
from privacy_filter.app import main as app
from privacy_filter.app.ondemand import OPENED, RELEASED, Change, OnDemand, paused_screen
from privacy_filter.io.capture import CaptureReader
from privacy_filter.render.effects import DEFAULT_KERNEL, make_effect

# --- the decisions --------------------------------------------------------------------------------------------


class Scripted:
    """A reader count the test sets (``value``); ``proc`` is what the sure /proc scan says (default: the same)."""

    def __init__(self) -> None:
        self.value, self.proc, self.waits = 0, None, []

    def count(self) -> int:
        return self.value

    def confirm(self) -> int:
        self.value = self.value if self.proc is None else self.proc
        return self.value

    def wait(self, timeout: float) -> None:
        self.waits.append(timeout)

    def close(self) -> None:
        pass


def on_demand() -> tuple[OnDemand, Scripted, list[float]]:
    now = [0.0]
    readers = Scripted()
    return OnDemand(readers, grace_s=2.0, settle_s=0.25, clock=lambda: now[0]), readers, now


def test_released_after_the_grace_without_a_viewer() -> None:
    demand, _, now = on_demand()
    assert demand.step() is None
    now[0] = 1.9
    assert demand.step() is None and demand.camera_on
    now[0] = 2.0
    assert demand.step() is Change.RELEASE and not demand.camera_on
    now[0] = 10.0
    assert demand.step() is None, "said once"


def test_a_viewer_back_within_the_grace_keeps_the_camera_on() -> None:
    demand, readers, now = on_demand()
    demand.step()
    now[0], readers.value = 1.5, 1
    assert demand.step() is None
    now[0], readers.value = 2.5, 0
    assert demand.step() is None, "the grace starts again from when the viewer left"
    now[0] = 4.5
    assert demand.step() is Change.RELEASE


def test_no_release_while_proc_sees_a_viewer_the_events_missed() -> None:
    demand, readers, now = on_demand()
    readers.proc = 1
    demand.step()
    now[0] = 3.0
    assert demand.step() is None and demand.camera_on


def test_a_call_turns_it_on_a_browser_listing_cameras_does_not() -> None:
    demand, readers, now = on_demand()
    demand.step()
    now[0] = 2.0
    assert demand.step() is Change.RELEASE
    now[0], readers.value = 3.0, 1  # a browser lists the cameras: open...
    assert demand.step() is None
    now[0], readers.value = 3.05, 0  # ...and close at once
    assert demand.step() is None and not demand.camera_on
    now[0], readers.value = 5.0, 1  # a call
    assert demand.step() is None
    now[0] = 5.25
    assert demand.step() is Change.RESUME and demand.camera_on


def test_a_camera_that_would_not_open_is_tried_again_while_the_call_watches() -> None:
    demand, readers, now = on_demand()
    demand.step()
    now[0] = 2.0
    assert demand.step() is Change.RELEASE
    now[0], readers.value = 3.0, 1
    demand.step()
    now[0] = 3.25
    assert demand.step() is Change.RESUME
    demand.retry_later(5.0)  # the camera would not open
    assert not demand.camera_on and demand.retrying
    now[0] = 8.0
    demand.wait(10.0)
    assert readers.waits[-1] == pytest.approx(0.25), "wakes for the retry"
    now[0] = 8.25
    assert demand.step() is Change.RESUME, "tried again"
    demand.retry_later(5.0)
    now[0], readers.value = 9.0, 0  # the call gives up
    assert demand.step() is None and not demand.retrying, "the next call starts afresh"


def test_wait_wakes_when_a_decision_is_due() -> None:
    demand, readers, now = on_demand()
    demand.step()  # nobody: the release is due at 2.0
    now[0] = 0.5
    demand.wait(10.0)
    assert readers.waits == [1.5]


def test_the_paused_picture_is_drawn_from_nothing() -> None:
    picture = paused_screen((640, 360))
    assert picture.shape == (360, 640, 3) and picture.dtype == np.uint8 and mostly_black(picture)
    assert picture.max() > 200, "it says something"


# --- the real program ------------------------------------------------------------------------------------------


@pytest.fixture
def recorder(monkeypatch):
    pyvirtualcam = pytest.importorskip("pyvirtualcam", reason="pyvirtualcam is not installed")
    monkeypatch.setattr(pyvirtualcam.camera, "BACKENDS", {"recorder": RecordingBackend})
    RecordingBackend.instances = []
    return RecordingBackend


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``condition`` until true; the monotonic time it became so (AssertionError after ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        time.sleep(0.02)
    return time.monotonic()


def run_driven(argv: list[str], script: Callable[[dict], None]) -> tuple[int, dict]:
    """The program in this (main) thread while ``script(marks)`` drives it from another; then SIGTERM."""
    marks: dict = {}
    running = threading.Event()
    running.set()

    def drive() -> None:
        try:
            script(marks)
        except BaseException as exc:  # reported by the test, after the program has stopped
            marks["error"] = exc
        finally:
            if running.is_set():  # (a program that ended by itself is not there to stop: pytest would be)
                os.kill(os.getpid(), signal.SIGTERM)

    driver = threading.Thread(target=drive, daemon=True)
    driver.start()
    try:
        status = app.main(argv)
    finally:
        running.clear()
    driver.join(30)
    if "error" in marks:
        raise marks["error"]
    return status, marks


def camera_stand_in(monkeypatch, frames: list[np.ndarray], state: dict) -> None:
    def open_source(spec: str, width: int = 0) -> CaptureReader:
        assert spec == "0"
        return CaptureReader(lambda: LoopingCamera(frames, state, fps=15.0), "camera 0", live=True, width=width)

    monkeypatch.setattr(loop, "open_source", open_source)


@needs_eval
def test_camera_off_between_calls_and_never_a_raw_frame(recorder, monkeypatch, capsys, tmp_path) -> None:
    """Streams at start; nobody watches: the camera is released (no frame read), the device gets the paused
    picture; a call opens the device: the camera reopens and filtered frames go out within ~1 s; the call ends:
    released again; SIGTERM: the device and the camera are closed. Every frame sent is filtered or a notice."""
    pairs = davis(12)
    raw = [frame for frame, _ in pairs]
    state: dict = {}
    camera_stand_in(monkeypatch, raw, state)
    monkeypatch.setattr(ondemand, "GRACE_S", 0.8)
    device = tmp_path / "video10"
    device.write_bytes(b"")

    def sent() -> list:
        return recorder.instances[0].sent if recorder.instances else []

    def script(marks: dict) -> None:
        wait_for(lambda: len(sent()) >= 3, 60, "frames streamed at start")
        marks["released"] = wait_for(lambda: not camera_is_open(state), 10, "the camera released")
        reads = state["reads"]
        # A browser listing the cameras opens the device for a moment (here 0.1 s): not a call.
        probe = f"import time; f = open({str(device)!r}, 'rb'); time.sleep(0.1); f.close()"
        subprocess.run([sys.executable, "-c", probe], check=True, timeout=30)
        time.sleep(1.5)
        marks["idle_reads"] = state["reads"] - reads
        marks["idle_opens"] = state["opens"]
        with Viewer(device):
            marks["call"] = time.monotonic()
            wait_for(lambda: state["opens"] == 2, 10, "the camera reopened")
            wait_for(lambda: any(not mostly_black(p) and t > marks["call"] for t, p in sent()), 10, "a frame")
            time.sleep(1.0)
        marks["ended"] = time.monotonic()
        wait_for(lambda: state["releases"] == 2, 10, "the camera released after the call")
        time.sleep(0.5)

    status, marks = run_driven(["--input", "0", "--virtual-cam", "--virtual-cam-device", str(device),
                                "--no-display", "--width", "0", "--effect", "blur"], script)
    err = capsys.readouterr().err
    assert status == 143, err  # stopped by SIGTERM: 128 + 15 (the unit lists it in SuccessExitStatus)
    lines = err.strip().splitlines()
    assert lines[0].startswith(f"virtual camera: {device}, 854x480 at 15 FPS") and lines[1].startswith("Model: ")
    assert lines[2:] == [RELEASED, OPENED, RELEASED], "one line per change, nothing else"
    assert marks["idle_reads"] == 0, "no camera frame read while nobody watches"
    assert marks["idle_opens"] == 1, "a device opened for a moment does not turn the camera on"
    assert not camera_is_open(state) and state["opens"] == 2
    [backend] = recorder.instances
    assert backend.closed, "SIGTERM closed the device"

    frames = [(moment, cv2.cvtColor(picture, cv2.COLOR_RGB2BGR)) for moment, picture in backend.sent]
    idle = [picture for moment, picture in frames if marks["released"] + 0.2 < moment < marks["call"]]
    assert idle and all(mostly_black(picture) for picture in idle), "only the paused picture while released"
    assert len(idle) <= 3, "a low rate: about one a second"
    first = min(moment for moment, picture in frames if moment > marks["call"] and not mostly_black(picture))
    assert first - marks["call"] < 2.5, f"a call waits {first - marks['call']:.2f} s for the picture"
    effect = make_effect("blur", kernel=DEFAULT_KERNEL)  # what the program hides with
    shown = [picture for _, picture in frames if not mostly_black(picture)]
    assert len(shown) >= 5
    for number, picture in enumerate(shown):
        frame, truth = pairs[source_index(picture, pairs)]
        assert shows_the_room(picture, frame, effect(frame), truth) < 0.02, f"streamed frame {number} shows the room"
        for other in raw:
            assert not np.array_equal(picture, other), f"streamed frame {number} is a raw camera frame"


@needs_eval
@pytest.mark.parametrize("how", ["--always-on", "cannot count", "--output"])
def test_the_camera_stays_on_with_always_on_or_where_viewers_cannot_be_counted(
        how, recorder, monkeypatch, capsys, tmp_path) -> None:
    pairs = davis(4)
    state: dict = {}
    camera_stand_in(monkeypatch, [frame for frame, _ in pairs], state)
    monkeypatch.setattr(ondemand, "GRACE_S", 0.3)
    device = tmp_path / "video10"
    device.write_bytes(b"")
    argv = ["--input", "0", "--virtual-cam", "--no-display", "--width", "0"]
    argv += {"--always-on": ["--always-on", "--virtual-cam-device", str(device)],
             "cannot count": ["--virtual-cam-device", "OBS Virtual Camera"],
             "--output": ["--virtual-cam-device", str(device), "--output", str(tmp_path / "call.avi")]}[how]

    def script(marks: dict) -> None:
        wait_for(lambda: recorder.instances and len(recorder.instances[0].sent) >= 3, 60, "frames streamed")
        time.sleep(1.5)
        marks["on"] = camera_is_open(state)

    status, marks = run_driven(argv, script)
    err = capsys.readouterr().err
    assert status == 143 and marks["on"], err  # SIGTERM: 128 + 15
    assert RELEASED not in err
    if how == "cannot count":
        assert "OBS Virtual Camera is not a device file whose viewers can be counted: the camera stays on" in err
    if how == "--output":
        assert "--output records the whole time: the camera stays on while the program runs" in err
        assert (tmp_path / "call.avi").stat().st_size > 0
    assert not camera_is_open(state) and recorder.instances[0].closed, "SIGTERM closed the camera and the device"


@needs_eval
def test_the_window_shows_the_paused_picture_and_its_keys_still_work(recorder, monkeypatch, capsys, tmp_path) -> None:
    """With the preview window open, released: the window shows what the call gets (the paused picture), and
    q still quits (the camera and the device closed)."""
    pairs = davis(4)
    state: dict = {}
    camera_stand_in(monkeypatch, [frame for frame, _ in pairs], state)
    monkeypatch.setattr(ondemand, "GRACE_S", 0.5)
    monkeypatch.setattr(app, "check_display", lambda: None)
    FakeWindow.instances.clear()
    monkeypatch.setattr(session, "PreviewWindow", FakeWindow)
    device = tmp_path / "video10"
    device.write_bytes(b"")
    quit_at: list[float] = []

    def press_q() -> None:
        wait_for(lambda: FakeWindow.instances and state.get("opens") == 1 and not camera_is_open(state), 60, "released")
        time.sleep(1.2)
        quit_at.append(time.monotonic())
        FakeWindow.instances[0].press_quit.set()

    presser = threading.Thread(target=press_q, daemon=True)
    presser.start()
    status = app.main(["--input", "0", "--virtual-cam", "--virtual-cam-device", str(device), "--width", "0"])
    presser.join(10)
    err = capsys.readouterr().err
    assert status == 0 and RELEASED in err, err
    [window] = FakeWindow.instances
    last = [picture for moment, picture in window.shown if moment > quit_at[0] - 1.0]
    assert last and all(mostly_black(picture) for picture in last), "the window shows the paused picture"
    assert not camera_is_open(state) and recorder.instances[0].closed


@needs_eval
def test_a_busy_camera_is_tried_again_and_the_call_sees_a_notice(recorder, monkeypatch, capsys, tmp_path) -> None:
    """A call opens the virtual camera while another app has the real one: the call gets the notice (never
    a frame), the program says so once and tries again; when the camera is free, filtered frames go out."""
    pairs = davis(4)
    state: dict = {"busy": {2, 3}}  # the first two reopenings fail
    camera_stand_in(monkeypatch, [frame for frame, _ in pairs], state)
    monkeypatch.setattr(ondemand, "GRACE_S", 0.5)
    monkeypatch.setattr(ondemand, "RETRY_S", 0.4)
    device = tmp_path / "video10"
    device.write_bytes(b"")

    def script(marks: dict) -> None:
        wait_for(lambda: state.get("releases") == 1 and state["opens"] == 1, 60, "released")
        with Viewer(device):
            marks["call"] = time.monotonic()
            wait_for(lambda: state["opens"] == 4 and camera_is_open(state), 20, "the camera open at last")
            wait_for(lambda: any(not mostly_black(p) and t > marks["call"] for t, p in recorder.instances[0].sent),
                     10, "a filtered frame")

    status, marks = run_driven(["--input", "0", "--virtual-cam", "--virtual-cam-device", str(device),
                                "--no-display", "--width", "0"], script)
    err = capsys.readouterr().err
    assert status == 143, err  # SIGTERM: 128 + 15
    assert err.strip().splitlines()[2:] == [
        RELEASED, OPENED,
        "cannot open camera 0: no camera there, or another program is using it; the call sees a notice, trying "
        "again while it watches",
        "camera 0 opened"], "said once, not at each try"
    waiting = [picture for moment, picture in recorder.instances[0].sent if moment > marks["call"]]
    first = next(i for i, picture in enumerate(waiting) if not mostly_black(picture))
    assert first >= 2 and all(mostly_black(picture) for picture in waiting[:first]), "notices while it waited"
