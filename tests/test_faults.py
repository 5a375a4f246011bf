"""Faults in the middle of a run: segmentation that fails or returns garbage, a camera that stops, odd
frames, signals, a full disk, a crash, a source that stalls while the user quits.

The privacy guarantee is checked on real footage with ground-truth person masks (DAVIS ``lucia``): while
privacy is on, no output frame may show the room outside the true person as it was. A camera is a live
``CaptureReader`` over ``faultkit.FakeCapture`` (real frames, then silence), the window a
``faultkit.FakeWindow`` (no display here); everything else -- models, filter, encoder, files, signals -- is
the real thing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest
from conftest import REPO, SPEED_CLIP, needs_eval
from faultkit import (
    FakeCapture,
    FakeWindow,
    StallingPipe,
    clip_frames,
    read_video,
    start_cli,
    wait_for_partial,
    write_video,
)
from privacykit import DAVIS, SEQUENCE, davis, mostly_black, shows_the_room

from privacy_filter.app import build, loop, session
from privacy_filter.app import main as app
from privacy_filter.io.capture import CaptureReader
from privacy_filter.pipeline import FrameProcessor, SelfiePeople
from privacy_filter.render.effects import DEFAULT_KERNEL, make_effect
from privacy_filter.segment.selfie import SelfieSegmenter

pytestmark = needs_eval



# ---------------------------------------------------------------- segmentation fails or returns garbage

def inject(kind: str | None, good: np.ndarray) -> np.ndarray:
    """What a broken segmenter might return instead of ``good`` (an hxw float32 map in [0, 1])."""
    height = good.shape[0]
    if kind is None:
        return good
    if kind == "raise":
        raise RuntimeError("inference failed")
    if kind == "nan":
        return np.full_like(good, np.nan)
    if kind == "some nan":
        bad = good.copy()
        bad[: height // 2] = np.nan
        return bad
    if kind == "inf":
        return np.full_like(good, np.inf)
    if kind == "out of range":
        return good * 40.0 + 3.0
    if kind == "negative":
        return good - 5.0
    if kind == "empty":
        return np.zeros((0, 0), np.float32)
    if kind == "wrong shape":
        return np.ascontiguousarray(good.T)  # 256x144 for a 144x256 model grid
    if kind == "extra axis":
        return good[:, :, None]
    if kind == "wrong type":
        return "person"  # type: ignore[return-value]
    raise AssertionError(kind)


class FaultySegmenter:
    """The real selfie segmenter, with a fault injected on the frames ``faults`` names (frame index -> kind)."""

    def __init__(self, real: SelfieSegmenter, faults: dict[int, str]) -> None:
        self.real = real
        self.faults = faults
        self.output_size = real.output_size
        self.calls = 0

    def process(self, frame: np.ndarray) -> np.ndarray:
        kind = self.faults.get(self.calls)
        self.calls += 1
        return inject(kind, self.real.process(frame))


FAULTS = ["raise", "nan", "some nan", "inf", "out of range", "negative", "empty", "wrong shape",
          "extra axis", "wrong type"]


@pytest.fixture(scope="module")
def segmenter() -> SelfieSegmenter:
    return SelfieSegmenter()


def test_faults_hide_the_whole_frame_and_the_filter_recovers(segmenter) -> None:
    pairs = davis(3 * len(FAULTS) + 6)
    faults = {3 + 3 * i: kind for i, kind in enumerate(FAULTS)}  # a fault every third frame
    effect = make_effect("blur", kernel=41)
    processor = FrameProcessor(finder=SelfiePeople(FaultySegmenter(segmenter, faults)), effect=effect)
    for index, (frame, truth) in enumerate(pairs):
        raw = frame.copy()
        result = processor.process(frame)
        assert np.array_equal(frame, raw), "the filter must not write into the camera's frame"
        hidden = effect(raw)
        if index in faults:
            assert result.failed, faults[index]
            assert np.abs(result.output.astype(int) - hidden).max() <= 1, f"{faults[index]}: whole frame hidden"
            assert not result.alpha.any()
        else:
            assert not result.failed, f"frame {index} after {faults.get(index - 1)}: the filter must recover"
            assert shows_the_room(result.output, raw, hidden, truth) < 0.02, f"frame {index}"
            # ...and the person is still there, sharp (the fault did not poison the matte's memory).
            inside = cv2.erode(truth.astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
            kept = np.abs(result.output.astype(int) - raw).max(axis=2)[inside] <= 8
            assert kept.mean() > 0.9, f"frame {index}: the person should be kept sharp"
    assert processor.failures == len(FAULTS)


def test_faults_through_the_whole_program_never_show_the_room(monkeypatch, capsys, tmp_path) -> None:
    """The same faults, injected into the real segmenter while the real program filters the real clip (with
    its segmentation worker thread, decoder and encoders): every faulty frame's matte is black and its
    picture the hidden frame; no frame shows the room."""
    faults = {4 + 3 * i: kind for i, kind in enumerate(FAULTS)}
    real_process = SelfieSegmenter.process
    calls = {"count": 0}

    def faulty_process(self: SelfieSegmenter, frame: np.ndarray) -> np.ndarray:
        index = calls["count"]
        calls["count"] += 1
        return inject(faults.get(index), real_process(self, frame))

    monkeypatch.setattr(SelfieSegmenter, "process", faulty_process)
    output, matte = tmp_path / "out.avi", tmp_path / "matte.avi"
    status = app.main(["--input", str(DAVIS / "videos" / f"{SEQUENCE}.mp4"), "--no-display", "--output",
                       str(output), "--mask-output", str(matte)])
    assert status == 0, capsys.readouterr().err
    raw = read_video(DAVIS / "videos" / f"{SEQUENCE}.mp4")
    outputs, mattes = read_video(output), read_video(matte)
    assert len(outputs) == len(mattes) == len(raw) == calls["count"]
    truths = [truth for _, truth in davis(len(raw))]
    effect = make_effect("blur", kernel=DEFAULT_KERNEL)  # what the program hides with by default
    for index, (frame, out, alpha, truth) in enumerate(zip(raw, outputs, mattes, truths, strict=True)):
        hidden = effect(frame)
        if index in faults:
            assert alpha.max() < 16, f"{faults[index]}: nobody kept on a faulty frame"
            assert np.abs(out.astype(int) - hidden).mean() < 3, f"{faults[index]}: the whole frame hidden"
        else:
            assert alpha.max() > 200, f"frame {index}: the person is back after {faults.get(index - 1)}"
        # The output went through an encoder: compare with a margin, but the room must not be there.
        assert shows_the_room(out, frame, hidden, truth) < 0.05, f"frame {index}"


def test_effect_failing_too_gives_black(segmenter) -> None:
    (frame, _), = davis(1)

    def broken_effect(image: np.ndarray) -> np.ndarray:
        raise MemoryError("no memory for the blur")

    processor = FrameProcessor(finder=SelfiePeople(segmenter), effect=broken_effect)
    result = processor.process(frame)
    assert result.failed and result.output.shape == frame.shape and not result.output.any()


def test_wrong_size_effect_output_is_not_blended(segmenter) -> None:
    (frame, _), = davis(1)
    processor = FrameProcessor(finder=SelfiePeople(segmenter), effect=lambda image: image[:10, :10])
    result = processor.process(frame)
    assert result.failed and not result.output.any(), "a garbage background is not trusted either"


# ---------------------------------------------------------------- the program around the filter

@pytest.fixture
def fake_display(monkeypatch):
    """The window is a FakeWindow; the display check passes."""
    FakeWindow.instances.clear()
    monkeypatch.setattr(app, "check_display", lambda: None)
    monkeypatch.setattr(session, "PreviewWindow", FakeWindow)
    return FakeWindow.instances


def fake_camera(monkeypatch, script: list, counter: dict, **kwargs) -> None:
    """--input 0 opens a live reader over FakeCapture(script)."""
    def open_source(spec: str, width: int = 0):
        assert spec == "0"
        return CaptureReader(lambda: FakeCapture(script, counter, **kwargs), "camera 0", live=True, width=width)

    monkeypatch.setattr(loop, "open_source", open_source)


def test_camera_lost_shows_a_notice_retries_then_gives_up_keeping_the_file(
        monkeypatch, capsys, fake_display, tmp_path) -> None:
    frames = clip_frames(8)
    counter: dict = {}
    fake_camera(monkeypatch, frames, counter, delay=1 / 30)
    monkeypatch.setattr(loop, "CAMERA_LOST_AFTER_S", 0.3)
    monkeypatch.setattr(loop, "CAMERA_GIVE_UP_AFTER_S", 2.0)
    target = tmp_path / "call.mp4"
    status = app.main(["--input", "0", "--output", str(target)])
    err = capsys.readouterr().err
    assert status == 1
    assert "camera 0 lost - retrying for up to 2 s" in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("privacy-filter: error: camera 0 stopped delivering frames for 2 s; giving up; ")
    done = int(last.split("holds the ")[1].split()[0])
    assert 0 < done <= len(frames) and len(read_video(target)) == done, "the frames before the loss are kept"

    (window,) = fake_display
    real_until = max(i for i, (_, shown) in enumerate(window.shown) if not mostly_black(shown))
    lost = window.shown[real_until + 1:]
    assert len(lost) >= 3, "the notice stays up, redrawn, while retrying (not a frozen picture of the room)"
    assert all(mostly_black(picture) for _, picture in lost), "nothing of the room while the camera is lost"
    silent = lost[-1][0] - window.shown[real_until][0]
    assert silent >= 1.5
    # Retrying is paced: about 20 device reads and 30 window refreshes a second, not a busy loop.
    assert counter["reads"] - len(frames) < 100 * silent
    assert window.keys_asked < 100 * silent + len(frames) * 3
    for _, picture in window.shown[: real_until + 1]:
        assert not any(np.array_equal(picture, raw) for raw in frames), "the window shows filtered frames"


def test_camera_lost_without_a_window(monkeypatch, capsys, tmp_path) -> None:
    frames = clip_frames(5)
    fake_camera(monkeypatch, frames, {})
    monkeypatch.setattr(loop, "CAMERA_LOST_AFTER_S", 0.2)
    monkeypatch.setattr(loop, "CAMERA_GIVE_UP_AFTER_S", 1.0)
    status = app.main(["--input", "0", "--no-display", "--output", str(tmp_path / "o.mp4")])
    err = capsys.readouterr().err
    assert status == 1 and "camera 0 lost - retrying" in err and "giving up" in err


def test_camera_that_comes_back(monkeypatch, capsys, fake_display, tmp_path) -> None:
    frames = clip_frames(10)
    counter: dict = {}
    # Five frames, a gap of about 1 s (30 failed reads at the reader's 0.05 s retry pace), five more.
    script = frames[:5] + [None] * 20 + frames[5:]
    fake_camera(monkeypatch, script, counter, delay=1 / 30)
    monkeypatch.setattr(loop, "CAMERA_LOST_AFTER_S", 0.3)
    monkeypatch.setattr(loop, "CAMERA_GIVE_UP_AFTER_S", 30.0)

    original_key = FakeWindow.key

    def key(self, wait_ms: int = 1) -> int:
        if counter["position"] >= len(script) and self.quit_pressed_at is None:
            self.press_quit.set()  # quit once the camera delivered everything
        return original_key(self, wait_ms)

    monkeypatch.setattr(FakeWindow, "key", key)
    status = app.main(["--input", "0", "--output", str(tmp_path / "o.mp4")])
    err = capsys.readouterr().err
    assert status == 0, err
    assert "camera 0 lost" in err and "camera 0 is back" in err
    (window,) = fake_display
    kinds = "".join("L" if mostly_black(picture) else "F" for _, picture in window.shown)
    assert "FL" in kinds and "LF" in kinds, f"frames, then the notice, then frames again: {kinds}"


def test_odd_frames_mid_stream_are_conformed(monkeypatch, capsys, tmp_path) -> None:
    frames = clip_frames(12)
    odd = list(frames)
    odd[3] = cv2.cvtColor(frames[3], cv2.COLOR_BGR2GRAY)
    odd[5] = cv2.cvtColor(frames[5], cv2.COLOR_BGR2BGRA)
    odd[7] = frames[7].astype(np.uint16) * 257
    odd[9] = cv2.resize(frames[9], (640, 480))
    odd[10] = np.zeros((2, 2, 2, 2), np.uint8)  # not a picture at all: skipped
    counter: dict = {}

    def open_source(spec: str, width: int = 0):
        return CaptureReader(lambda: FakeCapture(odd, counter, frame_count=len(odd)), spec, live=False, width=width)

    monkeypatch.setattr(loop, "open_source", open_source)
    target = tmp_path / "o.avi"
    status = app.main(["--input", "clip.avi", "--no-display", "--output", str(target)])
    assert status == 0, capsys.readouterr().err
    written = read_video(target)
    assert len(written) == len(frames) - 1
    assert all(frame.shape == frames[0].shape for frame in written)


def test_worker_threads_end(tmp_path, capsys) -> None:
    before = set(threading.enumerate())
    clip = write_video(tmp_path / "clip.avi", clip_frames(20))
    assert app.main(["--input", str(clip), "--no-display", "--output", str(tmp_path / "o.mp4")]) == 0
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and set(threading.enumerate()) - before:
        time.sleep(0.05)
    assert not set(threading.enumerate()) - before, "every thread the run started has ended"


def test_quit_while_the_source_is_stalled_returns_within_2_s(monkeypatch, capsys, fake_display, tmp_path) -> None:
    pipe = StallingPipe(tmp_path, clip_frames(15))
    original_key = FakeWindow.key

    def key(self, wait_ms: int = 1) -> int:
        # Press q once the pipe has stalled: 0.5 s without a new frame to show.
        if self.shown and time.monotonic() - self.shown[-1][0] > 0.5:
            self.press_quit.set()
        return original_key(self, wait_ms)

    monkeypatch.setattr(FakeWindow, "key", key)
    try:
        status = app.main(["--input", str(pipe.path), "--output", str(tmp_path / "o.mp4")])
        returned = time.monotonic()
        (window,) = fake_display
        assert status == 0, capsys.readouterr().err
        assert window.quit_pressed_at is not None
        assert returned - window.quit_pressed_at < 2.0, "q must end the program even while the source hangs"
        # Quit before the end: not the whole input, so under the partial name.
        assert len(read_video(tmp_path / "o.partial.mp4")) == 15 and not (tmp_path / "o.mp4").exists()
    finally:
        pipe.release()


# ---------------------------------------------------------------- signals, crashes, full disks (real CLI)

@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_file_output_finishes_a_playable_file(tmp_path, signum) -> None:
    target = tmp_path / "out.mp4"
    process = start_cli("--input", str(SPEED_CLIP), "--no-display", "--output", str(target))
    wait_for_partial(tmp_path, process)
    process.send_signal(signum)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 128 + signum, err
    assert "Traceback" not in err
    line = [text for text in err.splitlines() if text.startswith("interrupted:")]
    assert line, err
    done = int(line[0].split("holds the ")[1].split()[0])
    assert 0 < done < 618
    partial = tmp_path / "out.partial.mp4"
    assert len(read_video(partial)) == done, "finalised: every frame it claims is there and decodes"
    assert [p.name for p in tmp_path.iterdir()] == [partial.name], "no temporary file left, no partial as out.mp4"


def test_sigkill_never_leaves_a_half_file_under_the_name(tmp_path) -> None:
    target = tmp_path / "out.mp4"
    target.write_bytes(b"yesterday's recording")
    process = start_cli("--input", str(SPEED_CLIP), "--no-display", "--output", str(target), "--overwrite")
    partial = wait_for_partial(tmp_path, process)
    process.kill()
    process.communicate(timeout=30)
    assert target.read_bytes() == b"yesterday's recording", "the old file is intact"
    assert partial.name.startswith("."), "what is left is a hidden .partial file, not the user's file"
    fresh = tmp_path / "new.mp4"
    process = start_cli("--input", str(SPEED_CLIP), "--no-display", "--output", str(fresh))
    wait_for_partial(tmp_path, process)
    process.kill()
    process.communicate(timeout=30)
    assert not fresh.exists()


def test_stalled_pipe_then_ctrl_c_exits_within_2_s(tmp_path) -> None:
    pipe = StallingPipe(tmp_path, clip_frames(30))
    target = tmp_path / "out.mp4"
    try:
        process = start_cli("--input", str(pipe.path), "--no-display", "--output", str(target))
        assert pipe.written.wait(60), "the program never opened the pipe"
        partial = wait_for_partial(tmp_path, process, min_bytes=1)
        size, stable_since = -1, time.monotonic()
        while time.monotonic() - stable_since < 1.0:  # all 30 frames filtered: the file stops growing
            if partial.stat().st_size != size:
                size, stable_since = partial.stat().st_size, time.monotonic()
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        sent = time.monotonic()
        _, err = process.communicate(timeout=30)
        assert time.monotonic() - sent < 2.0, "Ctrl-C must end the program even while the source hangs"
        assert process.returncode == 130, err
        partial = tmp_path / "out.partial.mp4"
        assert f"interrupted: {partial} holds the 30 frames" in err
        assert len(read_video(partial)) == 30 and not target.exists()
    finally:
        pipe.release()


@pytest.mark.required_in_ci
def test_disk_full_mid_run_says_so_and_leaves_nothing(tmp_path) -> None:
    import shutil

    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) not available")
    folder = tmp_path / "small"
    folder.mkdir()
    target = folder / "out.mp4"
    # 2 MB: past the 1 MB free-space check, but the clip's filtered video at --quality 12 needs about 4 MB.
    script = 'mount -t tmpfs -o size=2m tmpfs "$0" || exit 99; exec "$@"'
    # Root mounts in a mount namespace of its own; anyone else in a user namespace as its root, where allowed.
    namespace = ["-m"] if os.geteuid() == 0 else ["-r", "-m"]
    command = ["unshare", *namespace, "sh", "-c", script, str(folder), sys.executable,
               str(REPO / "instance_segmentation.py"), "--input", str(SPEED_CLIP), "--no-display",
               "--output", str(target), "--width", "0", "--quality", "12"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    if result.returncode == 99 or "Operation not permitted" in result.stderr:
        pytest.skip(f"cannot mount a private tmpfs here: {result.stderr.strip()}")
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"privacy-filter: error: could not finish {target}: ")
    assert last.endswith("(is the disk full?); nothing was saved")
    assert "Traceback" not in result.stderr and "WARN" not in result.stderr
    assert list(folder.iterdir()) == [], "outside the namespace the folder was never touched"


def test_keyboard_interrupt_before_any_frame(monkeypatch, capsys, tmp_path) -> None:
    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(build, "build_finder", interrupted)
    assert app.main(["--input", str(SPEED_CLIP), "--no-display", "--output", str(tmp_path / "o.mp4")]) == 130
    assert capsys.readouterr().err.strip() == "privacy-filter: interrupted"
    assert list(tmp_path.iterdir()) == []


def test_signals_are_restored_after_a_run(tmp_path, capsys) -> None:
    """After a run, Ctrl-C and SIGTERM reach the handlers the caller had, and the run itself sent none."""
    received: list[int] = []

    def record(signum: int, _frame: object) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, record) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        clip = write_video(tmp_path / "clip.avi", clip_frames(5))
        assert app.main(["--input", str(clip), "--no-display", "--output", str(tmp_path / "o.mp4")]) == 0
        assert received == [], "the run signalled the test process"
        assert all(signal.getsignal(sig) is record for sig in previous), "the caller's handlers are back"
        # ...and they are live: a signal sent now lands in them, not in a leftover handler of the run.
        for sig in (signal.SIGINT, signal.SIGTERM):
            os.kill(os.getpid(), sig)
        deadline = time.monotonic() + 2
        while len(received) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)  # Python runs handlers between bytecodes of the main thread
        assert received == [signal.SIGINT, signal.SIGTERM]
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
