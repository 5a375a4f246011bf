"""Frame sources: the threaded reader on real files, stalled pipes and failing cameras; conform().

A camera cannot be had here, so a camera is a ``CaptureReader(live=True)`` over ``faultkit.FakeCapture``
(real frames from the evaluation clip, then failures); files and named pipes go through the real
``cv2.VideoCapture``.
"""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest
from conftest import needs_eval
from faultkit import SMALL, FakeCapture, StallingPipe, clip_frames, truncate, write_video

from privacy_filter.errors import SourceError
from privacy_filter.io import capture
from privacy_filter.io.capture import CaptureReader, conform, resize_to_width
from privacy_filter.io.sources import ImageSource, is_camera, open_source

pytestmark = needs_eval


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return clip_frames(60)


@pytest.fixture(scope="module")
def clip(tmp_path_factory, frames):
    return write_video(tmp_path_factory.mktemp("clip") / "clip.avi", frames)


def drain(source, timeout: float = 5.0) -> list[np.ndarray]:
    got = []
    deadline = time.monotonic() + timeout
    while not source.finished and time.monotonic() < deadline:
        frame = source.read(timeout=0.5)
        if frame is not None:
            got.append(frame)
    return got


# ---------------------------------------------------------------- files

def test_file_reader_gives_every_frame_in_order_then_ends(clip, frames) -> None:
    source = open_source(str(clip), width=0).start()
    got = drain(source)
    source.stop()
    assert len(got) == len(frames) == source.frames_read == source.frame_count
    # MJPG is lossy: each decoded frame is nearest to its own original.
    for index in (0, 17, 59):
        errors = [np.abs(got[index].astype(int) - f).mean() for f in frames]
        assert int(np.argmin(errors)) == index
    assert source.finished and not source.ended_early
    source._thread.join(2)
    assert not source.alive, "the reader thread must end once the file is read"


def test_file_reader_resizes_to_width(clip) -> None:
    source = open_source(str(clip), width=160).start()
    frame = source.read(timeout=2)
    source.stop()
    assert frame.shape == (120, 160, 3) and frame.dtype == np.uint8


def test_truncated_file_is_reported_as_ended_early(clip, tmp_path) -> None:
    # An AVI holds its frame count in its header, so half a file still opens and plays its first half.
    source = open_source(str(truncate(clip, tmp_path / "half.avi", 0.5)), width=0).start()
    got = drain(source)
    source.stop()
    assert 0 < len(got) < 60
    assert source.ended_early
    assert source.frames_read == len(got)


def test_truncated_mp4_does_not_open(tmp_path) -> None:
    # The real clip keeps its index (moov) at the end: cut short, it cannot be opened at all.
    from conftest import SPEED_CLIP

    cut = truncate(SPEED_CLIP, tmp_path / "cut.mp4", 0.5)
    with pytest.raises(SourceError, match=r"cannot read video .*cut\.mp4"):
        open_source(str(cut))


@pytest.mark.parametrize("content", [b"", b"hello, I am text\n", bytes(range(256)) * 40])
def test_garbage_named_mp4(tmp_path, content) -> None:
    path = tmp_path / "garbage.mp4"
    path.write_bytes(content)
    with pytest.raises(SourceError, match="cannot read video"):
        open_source(str(path))


def test_missing_folder_empty_and_odd_names(tmp_path) -> None:
    with pytest.raises(SourceError, match="input not found"):
        open_source(str(tmp_path / "nope.mp4"))
    with pytest.raises(SourceError, match="is a folder"):
        open_source(str(tmp_path))
    with pytest.raises(SourceError, match="empty"):
        open_source("  ")
    with pytest.raises(SourceError, match="cannot use input"):
        open_source("a\x00b.mp4")
    with pytest.raises(SourceError, match="cannot use input"):
        open_source("x" * 5000 + ".mp4")


def test_image_that_does_not_decode(tmp_path, frames) -> None:
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), frames[0])
    half = truncate(good, tmp_path / "half.png", 0.5)
    text = tmp_path / "text.png"
    text.write_text("not a picture")
    for path in (half, text):
        with pytest.raises(SourceError, match="cannot decode image"):
            ImageSource(path, 600)
    image = ImageSource(good, 0)
    assert image.read().shape == frames[0].shape and image.finished


def test_absurd_sizes_are_refused(tmp_path) -> None:
    strip = tmp_path / "strip.png"
    cv2.imwrite(str(strip), np.full((4000, 2, 3), 128, np.uint8))
    with pytest.raises(SourceError, match="larger than"):
        ImageSource(strip, 600)  # 600 wide would be 1.2 million pixels tall
    assert resize_to_width(np.zeros((10, 20, 3), np.uint8), 40).shape == (20, 40, 3)


def test_is_camera() -> None:
    assert is_camera("0") and is_camera(" 7 ")
    assert not is_camera("²") and not is_camera("-1") and not is_camera("video.mp4") and not is_camera("")


# ---------------------------------------------------------------- named pipes that stall

def test_pipe_nobody_writes_to_fails_within_the_open_timeout(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(capture, "OPEN_TIMEOUT_S", 1.0)
    pipe = StallingPipe(tmp_path, None)
    try:
        started = time.monotonic()
        with pytest.raises(SourceError, match="gave no frame within 1 s"):
            open_source(str(pipe.path))
        assert time.monotonic() - started < 5
    finally:
        pipe.release()


def test_stop_returns_while_the_reader_is_stuck_in_a_stalled_pipe(tmp_path, frames) -> None:
    pipe = StallingPipe(tmp_path, frames[:10])
    try:
        source = open_source(str(pipe.path), width=0).start()
        got = [source.read(timeout=2) for _ in range(10)]
        assert all(frame is not None for frame in got)
        assert source.read(timeout=0.5) is None and not source.finished  # stalled, not ended
        started = time.monotonic()
        source.stop(timeout=1.0)
        assert time.monotonic() - started < 1.5
        assert source.alive, "the reader is stuck inside the pipe read (it cannot be interrupted)"
    finally:
        pipe.release()  # the read returns: the left-behind thread ends by itself
    source._thread.join(5)
    assert not source.alive


# ---------------------------------------------------------------- cameras

def camera(script, counter, **kwargs) -> CaptureReader:
    return CaptureReader(lambda: FakeCapture(script, counter, **kwargs), "camera 0", live=True, width=0,
                         retry_interval=0.02)


def test_camera_that_stops_is_retried_without_spinning(frames) -> None:
    counter: dict = {}
    source = camera(frames[:5], counter).start()
    assert source.read(timeout=1) is not None, "a live source keeps the newest frame"
    while counter["position"] < 5:
        time.sleep(0.01)
    while source.read(timeout=0.1) is not None:
        pass  # take the newest frame, if not taken yet
    reads_before, started = counter["reads"], time.monotonic()
    time.sleep(1.5)
    reads, silent = counter["reads"] - reads_before, time.monotonic() - started
    assert source.read(timeout=0.2) is None, "no new frame: read must not hand out the old one again"
    assert not source.finished, "a lost camera is retried, not finished"
    assert time.monotonic() - source.last_frame_time > 1.4
    source.stop()
    # Retries every 0.02 s make about 50 reads a second; a busy loop would make hundreds of thousands.
    assert 5 < reads / silent < 100
    assert counter["opens"] >= 2, "after a run of failures the device is reopened"
    assert not source.alive


def test_camera_that_comes_back(frames) -> None:
    counter: dict = {}
    script = frames[:3] + [None] * 30 + frames[3:6]
    source = camera(script, counter).start()
    deadline, back = time.monotonic() + 5, False
    while time.monotonic() < deadline and not back:
        frame = source.read(timeout=0.2)
        back = frame is not None and any(np.array_equal(frame, f) for f in frames[3:6])
    source.stop()
    assert back, "frames after the gap arrive"


def test_camera_whose_reads_raise_keeps_the_reader_alive(frames) -> None:
    counter: dict = {}
    script = [frames[0], cv2.error("device gone"), RuntimeError("driver"), frames[1], frames[2]]
    source = camera(script, counter).start()
    time.sleep(0.3)
    assert source.alive and not source.finished
    source.stop()
    assert not source.alive


def test_camera_that_never_opens() -> None:
    class Closed(FakeCapture):
        def isOpened(self) -> bool:
            return False

    with pytest.raises(SourceError, match="cannot open camera 42: no camera there"):
        CaptureReader(lambda: Closed([], {}), "camera 42", live=True)
    threads = [t.name for t in threading.enumerate()]
    assert "reader:camera 42" not in threads, "a failed open leaves no thread behind"


def test_no_camera_at_index_7() -> None:
    with pytest.raises(SourceError, match="cannot open camera 7"):
        open_source("7")


def test_live_reader_keeps_only_the_newest_frame(frames) -> None:
    counter: dict = {}
    source = camera(frames[:30], counter, delay=0.001).start()
    time.sleep(0.3)
    frame = source.read(timeout=0.5)
    source.stop()
    assert frame is not None and np.array_equal(frame, frames[29])


# ---------------------------------------------------------------- conform: odd frames mid-stream

def test_conform_makes_any_picture_a_bgr_frame_of_the_stream_size(frames) -> None:
    frame = frames[0]
    size = SMALL
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    cases = {
        "grey": grey,
        "grey 3d": grey[:, :, None],
        "bgra": cv2.cvtColor(frame, cv2.COLOR_BGR2BGRA),
        "16 bit": frame.astype(np.uint16) * 257,
        "float with nan": np.where(frame > 128, np.nan, frame / 255.0).astype(np.float32),
        "bigger": cv2.resize(frame, (640, 480)),
        "int32": frame.astype(np.int32) * 3 - 100,
        "non-contiguous": frame[:, ::-1],
    }
    for name, odd in cases.items():
        out = conform(odd, size)
        assert out is not None, name
        assert out.shape == (size[1], size[0], 3) and out.dtype == np.uint8 and out.flags.c_contiguous, name
    assert np.array_equal(conform(frames[0], size), frames[0])
    back = conform(cases["16 bit"], size)
    assert np.abs(back.astype(int) - frame).max() <= 1


@pytest.mark.parametrize("bad", [None, "frame", np.zeros((0, 0, 3), np.uint8), np.zeros((4, 4, 5), np.uint8),
                                 np.zeros((2, 3, 4, 3), np.uint8), np.zeros(7, np.uint8)])
def test_conform_refuses_what_is_not_a_picture(bad) -> None:
    assert conform(bad, SMALL) is None
