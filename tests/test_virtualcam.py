"""--virtual-cam: the frame conversion (pure), the one-line errors for real, and the streaming path.

The error paths run for real: pyvirtualcam is installed from PyPI in the test environment when it can be
(these machines have no v4l2loopback device, so opening one fails as it would for a user without it); the
"not installed" path runs the real program with the import made to fail. The streaming path runs the real
program on a real clip with pyvirtualcam's ``Camera`` replaced by a recorder (no device can exist here).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import time
import types

import cv2
import numpy as np
import pytest
from conftest import EVAL, REPO, SPEED_CLIP, needs_eval, run_cli
from faultkit import FakeCapture, read_video
from privacykit import davis, mostly_black, shows_the_room

from privacy_filter.app import loop, session
from privacy_filter.app import main as app
from privacy_filter.errors import SinkError
from privacy_filter.io.capture import CaptureReader
from privacy_filter.io.virtualcam import (
    INSTALL_HINT,
    LINUX_SETUP,
    VirtualCamera,
    import_pyvirtualcam,
    no_device_message,
    to_camera_frame,
)
from privacy_filter.render.effects import DEFAULT_KERNEL, make_effect

MODPROBE = "sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=PrivacyFilter"
HAVE_PYVIRTUALCAM = importlib.util.find_spec("pyvirtualcam") is not None
needs_pyvirtualcam = pytest.mark.skipif(
    not HAVE_PYVIRTUALCAM, reason="pyvirtualcam is not installed (pip install -r requirements-virtualcam.txt)"
)


def loopback_exists() -> bool:
    """A v4l2loopback device is there (then the 'no device' error cannot be seen)."""
    if not HAVE_PYVIRTUALCAM:
        return False
    import pyvirtualcam

    try:
        pyvirtualcam.Camera(width=64, height=48, fps=30).close()
    except RuntimeError:
        return False
    return True


# --- the frame conversion ------------------------------------------------------------------------------------


def test_to_camera_frame_swaps_bgr_to_rgb() -> None:
    frame = np.zeros((4, 6, 3), np.uint8)
    frame[..., 0], frame[..., 1], frame[..., 2] = 10, 20, 30  # B, G, R
    out = to_camera_frame(frame, (6, 4))
    assert out.shape == (4, 6, 3) and out.dtype == np.uint8 and out.flags["C_CONTIGUOUS"]
    assert out[0, 0].tolist() == [30, 20, 10]
    assert frame[0, 0].tolist() == [10, 20, 30], "the input is left alone"


def test_to_camera_frame_scales_to_the_camera_size() -> None:
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[:, 320:] = (255, 0, 0)  # right half blue
    out = to_camera_frame(frame, (320, 240))
    assert out.shape == (240, 320, 3)
    assert out[:, 170:, 2].min() == 255 and out[:, :150, 2].max() == 0, "blue (BGR) is channel 2 in RGB"


def test_to_camera_frame_of_a_view_is_contiguous() -> None:
    frame = np.zeros((20, 40, 3), np.uint8)[:, ::2]  # a strided view, 20x20
    assert to_camera_frame(frame, (20, 20)).flags["C_CONTIGUOUS"]


# --- the one-line errors -------------------------------------------------------------------------------------


def test_no_device_messages_per_platform() -> None:
    linux = no_device_message(
        "'v4l2loopback' backend: No v4l2 loopback device found at /dev/video[0-99]. Did you run 'modprobe "
        "v4l2loopback'? See also pyvirtualcam's documentation.", "Linux")
    assert MODPROBE in linux and "\n" not in linux
    other = no_device_message("'v4l2loopback' backend: Device capabilities of /dev/video0 could not be queried.",
                              "Linux")
    assert "could not be queried" in other and MODPROBE in other
    for system in ("Windows", "Darwin"):
        message = no_device_message("'obs' backend: OBS Virtual Camera is not installed\nsecond line", system)
        assert "OBS" in message and "second line" not in message and "\n" not in message
    device = no_device_message("'v4l2loopback' backend: Device /dev/video9 does not exist.", "Linux", "/dev/video9")
    assert device.startswith("--virtual-cam-device /dev/video9") and "does not exist" in device


@needs_pyvirtualcam
def test_opening_without_a_device_says_what_to_install() -> None:
    if loopback_exists():
        pytest.skip("a v4l2loopback device exists here: see test_streams_to_a_real_device")
    with pytest.raises(SinkError) as error:
        VirtualCamera((640, 480), 30.0)
    assert str(error.value) == f"--virtual-cam: no virtual camera device found; {LINUX_SETUP}"
    assert MODPROBE in str(error.value)


@pytest.mark.required_in_ci
@needs_pyvirtualcam
def test_a_named_device_that_is_not_there() -> None:
    with pytest.raises(SinkError, match=r"--virtual-cam-device /dev/video99: cannot open it \(.*does not exist"):
        VirtualCamera((640, 480), 30.0, device="/dev/video99")


@needs_pyvirtualcam
@needs_eval
def test_cli_without_a_device_exits_1_with_one_line(tmp_path) -> None:
    out = tmp_path / "out.mp4"
    if loopback_exists():  # (required in CI: where a device exists, a device that does not takes its place)
        result = run_cli("--input", str(SPEED_CLIP), "--virtual-cam", "--virtual-cam-device", "/dev/video99",
                         "--no-display", "--output", str(out))
        expected = "privacy-filter: error: --virtual-cam-device /dev/video99: cannot open it ("
    else:
        result = run_cli("--input", str(SPEED_CLIP), "--virtual-cam", "--no-display", "--output", str(out))
        expected = f"privacy-filter: error: --virtual-cam: no virtual camera device found; {LINUX_SETUP}"
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected), result.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == [], "nothing written, no temporary file left"


@needs_eval
def test_cli_without_pyvirtualcam_says_how_to_install_it(tmp_path) -> None:
    """The real program with ``import pyvirtualcam`` failing as it does when the package is not installed."""
    code = (
        "import sys; sys.modules['pyvirtualcam'] = None\n"  # makes the import raise ImportError
        "from privacy_filter.app.main import main\n"
        f"sys.exit(main(['--input', {str(SPEED_CLIP)!r}, '--virtual-cam', '--no-display']))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"privacy-filter: error: --virtual-cam needs the pyvirtualcam package: {INSTALL_HINT}"
    ]
    assert "pip install -r requirements-virtualcam.txt" in INSTALL_HINT


def test_import_error_is_a_sink_error(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pyvirtualcam", None)
    with pytest.raises(SinkError, match=r"requirements-virtualcam\.txt"):
        import_pyvirtualcam()


# --- streaming -----------------------------------------------------------------------------------------------


class RecordingCamera:
    """Stands in for pyvirtualcam.Camera: checks what it is given as the real one does, and keeps it."""

    opened: list[RecordingCamera] = []  # noqa: RUF012 (a test's shared record)

    def __init__(self, width: int, height: int, fps: float, *, fmt=None, device=None, **_kw) -> None:
        self.width, self.height, self.fps, self.fmt, self.device = width, height, fps, fmt, device or "/dev/video42"
        self.frames: list[np.ndarray] = []
        self.closed = False
        RecordingCamera.opened.append(self)

    def send(self, frame: np.ndarray) -> None:
        assert frame.dtype == np.uint8 and frame.shape == (self.height, self.width, 3)  # as pyvirtualcam checks
        self.frames.append(frame.copy())

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def recording_pyvirtualcam(monkeypatch):
    module = types.ModuleType("pyvirtualcam")
    module.Camera = RecordingCamera
    module.PixelFormat = types.SimpleNamespace(RGB="RGB", BGR="BGR")
    monkeypatch.setitem(sys.modules, "pyvirtualcam", module)
    RecordingCamera.opened = []
    return RecordingCamera


@needs_eval
def test_streams_every_frame_in_rgb_at_the_inputs_size_and_rate(recording_pyvirtualcam, tmp_path) -> None:
    clip = EVAL / "davis2016_person" / "videos" / "rollerblade.mp4"
    if not clip.is_file():
        pytest.skip(f"{clip} not found")
    out = tmp_path / "out.avi"
    status = app.main(["--input", str(clip), "--virtual-cam", "--no-display", "--output", str(out),
                       "--effect", "color"])
    assert status == 0
    [camera] = recording_pyvirtualcam.opened
    source = cv2.VideoCapture(str(clip))
    size = (int(source.get(cv2.CAP_PROP_FRAME_WIDTH)), int(source.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    count, fps = int(source.get(cv2.CAP_PROP_FRAME_COUNT)), source.get(cv2.CAP_PROP_FPS)
    assert (camera.width, camera.height) == size, "the camera's size is the input's"
    assert camera.fps == pytest.approx(fps) and camera.fmt == "RGB"
    assert len(camera.frames) == count and camera.closed
    written = cv2.VideoCapture(str(out))
    for sent in camera.frames[:: max(1, count // 5)]:
        # The streamed frames are the filtered ones (as in the file), in RGB: the green background is
        # (0, 177, 64) as RGB. A frame that is mostly background is mostly that colour.
        assert np.all(np.abs(np.median(sent.reshape(-1, 3), axis=0) - (0x00, 0xB1, 0x40)) <= 2)
    ok, first_written = written.read()
    assert ok and np.abs(cv2.cvtColor(first_written, cv2.COLOR_BGR2RGB).astype(int) - camera.frames[0]).mean() < 4


@needs_eval
def test_a_still_image_keeps_streaming_until_interrupted(recording_pyvirtualcam, monkeypatch) -> None:
    """An image as the camera: it is sent over and over (a call needs frames), at most ~30 times a second."""
    image = sorted((EVAL / "eg1800_portrait_test" / "images").glob("*.jpg"))[0]
    sleeps = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) >= 10:
            raise KeyboardInterrupt  # the user presses Ctrl-C

    monkeypatch.setattr(loop.time, "sleep", sleep)
    status = app.main(["--input", str(image), "--virtual-cam", "--no-display"])
    [camera] = recording_pyvirtualcam.opened
    assert status == 130, "Ctrl-C: the status shells report for it"
    assert len(camera.frames) >= 10 and camera.closed
    assert all(0 < seconds <= 1 / 30 for seconds in sleeps)
    assert all(np.array_equal(frame.shape, camera.frames[0].shape) for frame in camera.frames)


def test_cannot_stream_a_batch(tmp_path) -> None:
    (tmp_path / "a.mp4").write_bytes(b"")
    result = run_cli("--input", str(tmp_path), "--output", str(tmp_path / "out"), "--virtual-cam", "--no-display")
    assert result.returncode == 1 and "--virtual-cam streams one input" in result.stderr


# --- camera loss: what the call and the files get --------------------------------------------------------------


class RecordingBackend:
    """A pyvirtualcam backend (the ``pyvirtualcam.camera.Backend`` interface) that records each frame sent.

    Registered as the only backend, the real ``pyvirtualcam.Camera`` runs in front of it (its dtype, shape
    and format checks included), exactly as it runs in front of v4l2loopback or OBS for a user."""

    instances: list[RecordingBackend] = []  # noqa: RUF012 (a test's shared record)

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **_kw) -> None:
        self.width, self.height, self.fps, self.fourcc = width, height, fps, fourcc
        self.name = device or "/dev/video-recorder"
        self.sent: list[tuple[float, np.ndarray]] = []  # (time, HxWx3 uint8 RGB)
        self.closed = False
        RecordingBackend.instances.append(self)

    def send(self, frame: np.ndarray) -> None:
        self.sent.append((time.monotonic(), frame.reshape(self.height, self.width, 3).copy()))

    def close(self) -> None:
        self.closed = True

    def device(self) -> str:
        return self.name

    def native_fourcc(self) -> int:
        return self.fourcc


@pytest.fixture
def recording_backend(monkeypatch):
    if not HAVE_PYVIRTUALCAM:
        pytest.skip("pyvirtualcam is not installed (pip install -r requirements-virtualcam.txt)")
    import pyvirtualcam.camera

    monkeypatch.setattr(pyvirtualcam.camera, "BACKENDS", {"recorder": RecordingBackend})
    RecordingBackend.instances = []
    return RecordingBackend


def source_index(picture: np.ndarray, pairs: list[tuple[np.ndarray, np.ndarray]]) -> int:
    """Which camera frame a filtered picture (HxWx3 uint8 BGR) came from: the one whose person it shows (the
    person is kept sharp; the rest of consecutive frames looks alike once hidden)."""
    return int(np.argmin([np.abs(picture.astype(np.int16) - frame)[truth].mean() for frame, truth in pairs]))


@pytest.mark.required_in_ci
@needs_eval
def test_camera_loss_sends_the_notice_never_the_room(recording_backend, monkeypatch, capsys, tmp_path) -> None:
    """A camera that delivers, goes silent, comes back, then dies: while it is lost the call gets the black
    notice, over and over, never a picture of the room (neither the last raw frame nor a frozen filtered one);
    the files get only the filtered frames the camera delivered."""
    pairs = davis(12)
    raw = [frame for frame, _ in pairs]
    counter: dict = {}
    # Six frames, about 1.8 s of failed reads (each ~0.12 s: the read, then the reader waits 0.05 s), six
    # more, then silence.
    script = raw[:6] + [None] * 15 + raw[6:]

    def open_source(spec: str, width: int = 0) -> CaptureReader:
        assert spec == "0"
        return CaptureReader(lambda: FakeCapture(script, counter, delay=1 / 15), "camera 0", live=True, width=width)

    monkeypatch.setattr(loop, "open_source", open_source)
    monkeypatch.setattr(loop, "CAMERA_LOST_AFTER_S", 0.3)
    monkeypatch.setattr(loop, "CAMERA_GIVE_UP_AFTER_S", 3.0)  # well past the gap, even on a busy machine
    output, matte = tmp_path / "call.avi", tmp_path / "matte.avi"
    status = app.main(["--input", "0", "--virtual-cam", "--no-display", "--width", "0", "--effect", "blur",
                       "--output", str(output), "--mask-output", str(matte)])
    err = capsys.readouterr().err
    assert status == 1 and "camera 0 lost" in err and "camera 0 is back" in err and "giving up" in err, err

    [camera] = recording_backend.instances
    assert camera.closed and (camera.width, camera.height) == (raw[0].shape[1], raw[0].shape[0])
    sent = [(moment, cv2.cvtColor(picture, cv2.COLOR_RGB2BGR)) for moment, picture in camera.sent]
    kinds = "".join("L" if mostly_black(picture) else "F" for _, picture in sent)
    # Frames, the notice while the camera is silent, frames again, the notice until it gives up. (A live camera
    # keeps only its newest frame: on a busy machine a frame may be dropped, so not every one need come out.)
    assert re.fullmatch(r"F+L{3,}F+L{3,}", kinds), kinds
    filtered = [picture for (_, picture), kind in zip(sent, kinds, strict=True) if kind == "F"]
    delivered = [source_index(picture, pairs) for picture in filtered]
    assert delivered == sorted(set(delivered)), f"each camera frame goes out once, in order: {delivered}"
    effect = make_effect("blur", kernel=DEFAULT_KERNEL)  # what the program hides with
    for picture, index in zip(filtered, delivered, strict=True):
        frame, truth = pairs[index]
        assert shows_the_room(picture, frame, effect(frame), truth) < 0.02, f"streamed frame {index}"
    for moment, picture in (item for item, kind in zip(sent, kinds, strict=True) if kind == "L"):
        for frame in raw:  # not even a dim or partial copy of any frame the camera gave
            assert np.abs(picture.astype(int) - frame).mean() > 40, f"notice at {moment:.2f} s shows the room"
    # The notice keeps the call fed while retrying (a call app shows a frozen picture or "no video" otherwise),
    # paced, not a busy loop.
    final = len(kinds) - len(kinds.rstrip("L"))  # the notices after the camera died for good
    last_lost = [moment for moment, _ in sent[-final:]]
    assert last_lost[-1] - last_lost[0] >= 1.0
    assert len(last_lost) <= 100 * (last_lost[-1] - last_lost[0]) + 5

    # The files: the filtered frames the call got, in the same order; nothing from the time the camera was lost.
    written, mattes = read_video(output), read_video(matte)
    assert len(written) == len(mattes) == len(filtered), err
    assert f"{output} and {matte} hold the {len(filtered)} frames done before" in err
    for picture, alpha, index in zip(written, mattes, delivered, strict=True):
        frame, truth = pairs[index]
        assert shows_the_room(picture, frame, effect(frame), truth) < 0.05, f"written frame {index}"
        assert alpha.max() > 200, f"matte {index}: the person is kept"


# --- replays (a still image, a paused video): every frame the call gets is filtered (issue 22, item 13) -----


def check_every_frame_filtered(sent: list[np.ndarray], pairs: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """sent: HxWx3 uint8 BGR pictures the call got; each must be the filtered version of one of ``pairs``'
    frames: the room outside the true person hidden, and never the raw frame itself."""
    effect = make_effect("blur", kernel=DEFAULT_KERNEL)  # what the program hides with
    for number, picture in enumerate(sent):
        frame, truth = pairs[source_index(picture, pairs)]
        assert not np.array_equal(picture, frame), f"streamed frame {number} is the raw frame"
        assert shows_the_room(picture, frame, effect(frame), truth) < 0.02, f"streamed frame {number}"


@pytest.mark.required_in_ci
@needs_eval
def test_a_still_image_replayed_to_the_call_is_always_filtered(recording_backend, monkeypatch, tmp_path) -> None:
    pairs = davis(1)
    image = tmp_path / "me.png"
    cv2.imwrite(str(image), pairs[0][0])
    sleeps = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) >= 12:
            raise KeyboardInterrupt

    monkeypatch.setattr(loop.time, "sleep", sleep)
    assert app.main(["--input", str(image), "--virtual-cam", "--no-display", "--width", "0"]) == 130
    [camera] = recording_backend.instances
    sent = [cv2.cvtColor(picture, cv2.COLOR_RGB2BGR) for _, picture in camera.sent]
    assert len(sent) >= 12, "the image is sent over and over"
    check_every_frame_filtered(sent, pairs)


@pytest.mark.required_in_ci
@needs_eval
def test_a_paused_video_replayed_to_the_call_is_always_filtered(recording_backend, monkeypatch, tmp_path) -> None:
    """Space pauses a video in the window: the call keeps getting the paused frame, filtered, over and over."""
    from faultkit import FakeWindow, write_video

    pairs = davis(20)
    clip = write_video(tmp_path / "lucia.avi", [frame for frame, _ in pairs])
    FakeWindow.instances.clear()
    monkeypatch.setattr(app, "check_display", lambda: None)
    monkeypatch.setattr(session, "PreviewWindow", FakeWindow)
    presses = {6: ord(" "), 30: ord("q")}  # pause on the 6th picture shown, quit 24 pictures later

    def key(self, wait_ms: int = 1) -> int:
        time.sleep(max(wait_ms, 1) / 1000)
        return presses.pop(len(self.shown), -1)

    monkeypatch.setattr(FakeWindow, "key", key)
    assert app.main(["--input", str(clip), "--virtual-cam", "--width", "0"]) == 0
    [camera] = recording_backend.instances
    sent = [cv2.cvtColor(picture, cv2.COLOR_RGB2BGR) for _, picture in camera.sent]
    paused = [source_index(picture, pairs) for picture in sent[6:]]
    assert len(sent) >= 30 and len(set(paused)) == 1, f"the paused frame, over and over: {paused}"
    check_every_frame_filtered(sent, pairs)
