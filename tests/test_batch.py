"""File processing as people expect it: the output keeps the input's size and rate, Ctrl-C leaves a playable
file with the frames done so far (a real SIGINT to the real program), and a folder or glob of inputs goes
into an output folder, names kept."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
from conftest import EVAL, PORTRAITS, REPO, SPEED_CLIP, needs_eval, run_cli

DAVIS = EVAL / "davis2016_person" / "videos"

pytestmark = needs_eval


def video_info(path: Path) -> tuple[int, int, float, int]:
    """(width, height, fps, frames actually decodable) of a video file."""
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened(), f"{path} does not open as a video"
    width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames = 0
    while capture.grab():
        frames += 1
    return width, height, fps, frames


def clip(name: str) -> Path:
    path = DAVIS / f"{name}.mp4"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


# --- one file ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_output_keeps_the_inputs_size_rate_and_frames(tmp_path, suffix) -> None:
    source = clip("rollerblade")  # 854x480 at 24 fps: neither the camera default 600 nor 30 fps
    out = tmp_path / f"out{suffix}"
    result = run_cli("--input", str(source), "--output", str(out), "--no-display")
    assert result.returncode == 0, result.stderr
    assert video_info(out) == pytest.approx(video_info(source))


def test_an_explicit_width_resizes_the_output(tmp_path) -> None:
    out = tmp_path / "out.mp4"
    result = run_cli("--input", str(clip("rollerblade")), "--output", str(out), "--no-display", "--width", "428")
    assert result.returncode == 0, result.stderr
    width, height, fps, frames = video_info(out)
    assert (width, height) == (428, 240) and fps == pytest.approx(24, abs=0.01) and frames == 35


def test_the_width_default_depends_on_the_use() -> None:
    from privacy_filter.app.cli import parse_args

    assert parse_args([]).width == 600, "a camera in the window: the seed's 600"
    assert parse_args(["--input", "1", "--virtual-cam"]).width == 0, "a camera streamed: its own size"
    assert parse_args(["--input", "talk.mp4"]).width == 0, "a file: its own size"
    assert parse_args(["--input", "talk.mp4", "--width", "320"]).width == 320


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_leaves_a_playable_file_with_the_frames_done(tmp_path, sig) -> None:
    """A real signal to the real program half-way through the 618-frame clip."""
    out = tmp_path / "out.mp4"
    process = subprocess.Popen(
        [sys.executable, str(REPO / "instance_segmentation.py"), "--input", str(SPEED_CLIP), "--output", str(out),
         "--no-display"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        # Wait until frames are being written: the hidden temporary file beside the output grows.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            partial = [p for p in tmp_path.iterdir() if ".partial" in p.name]
            if partial and partial[0].stat().st_size > 300_000:
                break
            time.sleep(0.02)
        assert process.poll() is None, "the program ended before it could be interrupted"
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 128 + sig, stderr
    done = [line for line in stderr.splitlines() if line.startswith("interrupted:")]
    assert len(done) == 1, stderr
    frames = int(done[0].split("holds the ")[1].split()[0])
    width, height, fps, readable = video_info(tmp_path / "out.partial.mp4")
    assert 0 < frames < 618, "interrupted half-way"
    assert readable == frames and (width, height) == (640, 480) and fps == pytest.approx(30, abs=0.01)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.partial.mp4"], "no temporary file left behind"


# --- a folder or a glob --------------------------------------------------------------------------------------


@pytest.fixture
def inputs(tmp_path) -> Path:
    """A folder of inputs: two real clips, a real photo, a broken 'video', a text file and a hidden file."""
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(clip("rollerblade"), folder / "rollerblade.mp4")
    shutil.copy(clip("dance-jump"), folder / "Dance Jump.MP4")
    shutil.copy(sorted((PORTRAITS / "images").glob("*.jpg"))[0], folder / "portrait.jpg")
    (folder / "broken.avi").write_bytes(b"not a video at all")
    (folder / "notes.txt").write_text("not an input")
    (folder / ".hidden.mp4").write_bytes(b"")
    for path in folder.iterdir():
        path.chmod(0o444)  # inputs are never written
    return folder


def test_a_folder_goes_into_an_output_folder_names_kept(tmp_path, inputs) -> None:
    out = tmp_path / "out"  # does not exist yet: made
    result = run_cli("--input", str(inputs), "--output", str(out), "--mask-output", str(tmp_path / "masks"),
                     "--no-display")
    assert result.returncode == 1, "one input could not be read: exit 1, after doing the others"
    assert sorted(p.name for p in out.iterdir()) == ["Dance Jump.MP4", "portrait.jpg", "rollerblade.mp4"]
    assert sorted(p.name for p in (tmp_path / "masks").iterdir()) == sorted(p.name for p in out.iterdir())
    for name in ("rollerblade.mp4", "Dance Jump.MP4"):
        assert video_info(out / name) == pytest.approx(video_info(inputs / name))
    assert cv2.imread(str(out / "portrait.jpg")).shape == cv2.imread(str(inputs / "portrait.jpg")).shape
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 2 and "broken.avi" in errors[0] and "1 of 4 files" in errors[1], result.stderr
    assert "[4/4]" in result.stderr and "notes.txt" not in result.stderr and ".hidden" not in result.stderr


def test_a_glob_picks_the_files_it_matches(tmp_path, inputs) -> None:
    out = tmp_path / "out"
    out.mkdir()
    result = run_cli("--input", str(inputs / "*.mp4"), "--output", str(out), "--no-display")
    assert result.returncode == 0, result.stderr
    assert [p.name for p in out.iterdir()] == ["rollerblade.mp4"], "the glob is case-sensitive, as the shell's"


def test_existing_outputs_stop_the_batch_before_any_work(tmp_path, inputs) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "rollerblade.mp4").write_bytes(b"precious")
    result = run_cli("--input", str(inputs), "--output", str(out), "--no-display")
    assert result.returncode == 1 and "already exists" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert [p.name for p in out.iterdir()] == ["rollerblade.mp4"]
    assert (out / "rollerblade.mp4").read_bytes() == b"precious"
    result = run_cli("--input", str(inputs / "*.mp4"), "--output", str(out), "--no-display", "--overwrite")
    assert result.returncode == 0 and video_info(out / "rollerblade.mp4")[3] == 35


def test_names_that_would_collide_are_refused(tmp_path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(clip("rollerblade"), folder / "talk.mp4")
    shutil.copy(clip("rollerblade"), folder / "talk.3gp")  # not a container we write: it would be talk.mp4 too
    result = run_cli("--input", str(folder), "--output", str(tmp_path / "out"), "--no-display")
    assert result.returncode == 1 and "would both be written to" in result.stderr
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize(("extra", "says"), [
    ([], "give --output DIR"),
    (["--output", "SAME"], "would overwrite the input"),
    (["--output", "out.mp4"], "give a folder for the results, not a file name"),
    (["--output", "OUT", "--mask-output", "OUT"], "must be different folders"),
    (["--output", "OUT", "--loop"], "--loop plays one file"),
    (["--output", "missing/out"], "does not exist"),
])
def test_batch_usage_errors(tmp_path, inputs, extra, says) -> None:
    extra = [{"SAME": str(inputs), "OUT": str(tmp_path / "o")}.get(arg, arg) for arg in extra]
    extra = [str(tmp_path / arg) if arg in ("out.mp4", "missing/out") else arg for arg in extra]
    before = {path: sorted(os.listdir(path)) for path in (tmp_path, inputs)}
    result = run_cli("--input", str(inputs), "--no-display", *extra)
    assert result.returncode == 1, result.stderr
    assert says in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    # A usage error leaves everything as it was: no output folder made, nothing written beside the inputs.
    assert {path: sorted(os.listdir(path)) for path in before} == before


def test_an_empty_folder_says_so(tmp_path) -> None:
    (tmp_path / "in").mkdir()
    result = run_cli("--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--no-display")
    assert result.returncode == 1 and "no video or image files in" in result.stderr
