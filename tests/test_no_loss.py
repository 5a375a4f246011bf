"""Never lose a file, never a traceback: the defects of issue 14, each through the real program.

Real clips from ../shared/eval/videos, real photos from the portrait set; real signals to real processes
(or, in-process, sent by the program to itself at the one moment that matters).
"""

from __future__ import annotations

import fractions
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import EVAL, PORTRAITS, REPO, SPEED_CLIP, needs_eval, run_cli
from faultkit import error_lines, interrupt_when_written, signal_self_on_frame, start_cli, wait_for_partial

from privacy_filter.app import cli
from privacy_filter.app import main as app
from privacy_filter.io.avfile import AVVideoSink as VideoFileSink  # video files are written through PyAV

pytestmark = needs_eval

SHORT_CLIP = EVAL / "videos" / "face-demographics-walking-and-pause.mp4"  # 41 frames, 480x270, 12.5 fps
PORTRAIT = PORTRAITS / "images" / "00002.jpg"
PREFIX = "privacy-filter: error: "


def the_error(result: subprocess.CompletedProcess, status: int = 1) -> str:
    """The error line of a failed run: exit ``status``, no traceback, exactly one ``privacy-filter`` line."""
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    ours = [line for line in error_lines(result.stderr) if line.startswith(("privacy-filter", "instance_segm"))]
    assert len(ours) == 1, result.stderr
    return ours[0].split("error: ", 1)[1]


def frame_count(path: Path) -> int:
    """Frames that really decode from the video at ``path`` (read to the end, not the header's count)."""
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count


def video_size(path: Path) -> tuple[int, int]:
    capture = cv2.VideoCapture(str(path))
    size = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    capture.release()
    return size


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- 1. an existing file is never replaced without --overwrite -----------------------------------------------


def test_two_runs_with_the_same_output_both_keep_their_result(tmp_path) -> None:
    """Both pass the start-up check (the second starts while the first writes); whichever finishes second
    must not replace the other's file: it keeps it under the next free name and says so (exit 1)."""
    target, kept = tmp_path / "out.mp4", tmp_path / "out-2.mp4"
    long_run = start_cli("--input", str(SPEED_CLIP), "--width", "160", "--no-display", "--output", str(target))
    try:
        wait_for_partial(tmp_path, long_run, min_bytes=1)  # the long run is past its start-up check
        short = run_cli("--input", str(SHORT_CLIP), "--width", "160", "--no-display", "--output", str(target))
        _, long_err = long_run.communicate(timeout=300)
    finally:
        if long_run.poll() is None:
            long_run.kill()
    runs = {618: (long_run.returncode, long_err), 41: (short.returncode, short.stderr)}
    first = frame_count(target)  # the run that finished first has the name (on a normal day: the short one)
    second = 659 - first
    assert sorted([first, second]) == [41, 618] and frame_count(kept) == second, "each file is one whole run"
    assert runs[first][0] == 0, runs[first][1]
    status, err = runs[second]
    assert status == 1 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == (
        f"{PREFIX}{target} appeared while this run was writing (another run or program made it); it is left as "
        f"it was, and this video is saved as {kept}"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out-2.mp4", "out.mp4"]


# --- 2. the output can never be the input ----------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["dotted", "symlink", "hard link", "mask"])
def test_the_input_itself_is_refused_as_output_however_spelled(tmp_path, spelling) -> None:
    talk = tmp_path / "talk.mp4"
    shutil.copy(SHORT_CLIP, talk)
    before = digest(talk)
    flag = "--mask-output" if spelling == "mask" else "--output"
    if spelling == "symlink":
        name = tmp_path / "link.mp4"
        name.symlink_to(talk)
    elif spelling == "hard link":
        name = tmp_path / "hard.mp4"
        os.link(talk, name)
    else:
        name = tmp_path / "sub" / ".." / "talk.mp4"
        (tmp_path / "sub").mkdir()
    result = run_cli("--input", str(talk), flag, str(name), "--overwrite", "--no-display")
    assert the_error(result) == f"{flag} {name} is the input {talk} itself; choose another name for the result"
    assert digest(talk) == before


def test_the_background_picture_is_refused_as_output(tmp_path) -> None:
    picture = tmp_path / "beach.png"
    shutil.copy(PORTRAIT, picture.with_suffix(".jpg"))
    cv2.imwrite(str(picture), cv2.imread(str(picture.with_suffix(".jpg"))))
    result = run_cli("--input", str(PORTRAIT), "--effect", "image", "--background", str(picture),
                     "--output", str(picture), "--overwrite", "--no-display")
    assert "is the --background picture" in the_error(result)


# --- 3. Ctrl-C while the program starts ------------------------------------------------------------------------


def catches(pid: int, signum: int) -> bool:
    """True once the process has a handler for ``signum`` (the SigCgt mask in /proc/PID/status)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_during_the_imports_is_one_line_and_its_exit_status(tmp_path, signum) -> None:
    process = start_cli("--input", str(SHORT_CLIP), "--no-display", "--output", str(tmp_path / "o.mp4"))
    try:
        deadline = time.monotonic() + 10
        # Python catches SIGINT from its start; SIGTERM only once the program's own handlers are in place.
        while not catches(process.pid, signal.SIGTERM):
            assert time.monotonic() < deadline and process.poll() is None, "SIGTERM is never handled"
            time.sleep(0.001)
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 128 + signum, err  # as shells report it: 130, 143, 129
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "privacy-filter: interrupted", err
    assert list(tmp_path.iterdir()) == []


# --- 4. small --width values -----------------------------------------------------------------------------------


@pytest.mark.parametrize("width", ["1", "2", "3", "15"])
@pytest.mark.parametrize("source", ["photo", "video"])
def test_a_width_too_small_to_filter_is_a_usage_error(tmp_path, width, source) -> None:
    given = PORTRAIT if source == "photo" else SHORT_CLIP
    result = run_cli("--input", str(given), "--width", width, "--no-display", "--output",
                     str(tmp_path / ("o.png" if source == "photo" else "o.mp4")))
    assert the_error(result, status=2) == (
        f"argument -w/--width: must be 0 (native size) or at least 16 pixels, not {width} (see --help)"
    )


def test_a_width_that_squashes_a_strip_is_explained_not_blamed_on_the_file(tmp_path) -> None:
    strip = tmp_path / "strip.png"
    cv2.imwrite(str(strip), cv2.resize(cv2.imread(str(PORTRAIT)), (4000, 2), interpolation=cv2.INTER_AREA))
    message = the_error(run_cli("--input", str(strip), "--width", "1000", "--no-display", "--output",
                                str(tmp_path / "o.png")))
    assert message == ("frames of 4000x2 would be 1000x1 at --width 1000: smaller than 16 pixels a side; "
                       "give a larger --width (or 0 for the native size)")
    assert run_cli("--input", str(strip), "--no-display", "--output", str(tmp_path / "o.png")).returncode == 0


def test_the_smallest_width_works_on_a_video(tmp_path) -> None:
    out = tmp_path / "o.mp4"
    result = run_cli("--input", str(SHORT_CLIP), "--width", "32", "--no-display", "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert video_size(out) == (32, 18) and frame_count(out) == 41


# --- 5. variable-frame-rate recordings ---------------------------------------------------------------------------

VFR_CODECS = {".webm": "libvpx", ".ts": "mpeg2video", ".flv": "flv", ".mkv": "mpeg4"}


def write_vfr(path: Path, fast: int = 90, slow: int = 44) -> int:
    """A webcam-like recording that drops from 30 to 15 fps (low light): ``fast`` frames 1/30 s apart, then
    ``slow`` frames 1/15 s apart, from the real clip. The number of frames written."""
    import av

    capture = cv2.VideoCapture(str(SPEED_CLIP))
    container = av.open(str(path), "w")
    stream = container.add_stream(VFR_CODECS[path.suffix], rate=30)
    stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
    stream.time_base = fractions.Fraction(1, 90000 if path.suffix == ".ts" else 1000)
    seconds = 0.0
    for index in range(fast + slow):
        ok, frame = capture.read()
        assert ok
        picture = av.VideoFrame.from_ndarray(cv2.resize(frame, (320, 240), interpolation=cv2.INTER_AREA),
                                             format="bgr24")
        picture.pts, picture.time_base = round(seconds / stream.time_base), stream.time_base
        for packet in stream.encode(picture):
            container.mux(packet)
        seconds += 1 / 30 if index < fast else 1 / 15
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    capture.release()
    return fast + slow


@pytest.mark.parametrize("suffix", sorted(VFR_CODECS))
def test_a_variable_frame_rate_recording_is_read_to_the_end(tmp_path, suffix) -> None:
    clip = tmp_path / f"webcam{suffix}"
    frames = write_vfr(clip)
    capture = cv2.VideoCapture(str(clip))
    estimate = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    assert estimate > frames + 20, "the container's count is the nominal-rate estimate (the case under test)"
    out = tmp_path / "o.mp4"
    result = run_cli("--input", str(clip), "--no-display", "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert f"wrote {frames} frames to {out}" in result.stderr
    assert frame_count(out) == frames


@pytest.mark.parametrize("suffix", [".webm", ".mkv", ".flv"])
def test_a_truncated_variable_frame_rate_recording_is_still_called_truncated(tmp_path, suffix) -> None:
    clip = tmp_path / f"webcam{suffix}"
    write_vfr(clip)
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size * 6 // 10])
    out = tmp_path / "o.mp4"
    message = the_error(run_cli("--input", str(cut), "--no-display", "--output", str(out)))
    assert message.startswith(f"{cut} ended at ") and "the file is truncated or corrupt" in message
    partial = tmp_path / "o.partial.mp4"
    assert f"{partial} holds the " in message and frame_count(partial) > 30 and not out.exists()


# --- 6. a frame goes to both files or neither --------------------------------------------------------------------


def signal_self_after(monkeypatch, calls: int, signum: int = signal.SIGTERM, where: str = "output") -> None:
    """Make the program receive ``signum`` right after its ``calls``-th write of an output (or matte) frame:
    the moment between the two writes of one frame."""
    original = VideoFileSink.write
    count = {"n": 0}

    def write(self, frame):
        original(self, frame)
        if self.color == (where == "output"):
            count["n"] += 1
            if count["n"] == calls:
                os.kill(os.getpid(), signum)

    monkeypatch.setattr(VideoFileSink, "write", write)


def test_a_signal_between_the_two_writes_keeps_the_files_equal(monkeypatch, capsys, tmp_path) -> None:
    out, mask = tmp_path / "o.avi", tmp_path / "m.avi"
    signal_self_after(monkeypatch, 10)
    status = app.main(["--input", str(SHORT_CLIP), "--no-display", "--output", str(out), "--mask-output", str(mask)])
    err = capsys.readouterr().err
    assert status == 128 + signal.SIGTERM, err
    out, mask = tmp_path / "o.partial.avi", tmp_path / "m.partial.avi"  # not the whole clip: partial names
    assert f"interrupted: {out} and {mask} hold the 10 frames done so far" in err
    assert frame_count(out) == 10 and frame_count(mask) == 10


# --- 7. names are used as given ----------------------------------------------------------------------------------


def test_spaces_at_the_ends_of_an_input_name_are_kept(tmp_path) -> None:
    shutil.copy(PORTRAIT, tmp_path / "me.jpg")
    result = subprocess.run([sys.executable, str(REPO / "instance_segmentation.py"), "--input", " me.jpg",
                             "--no-display", "--output", "o.png"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert the_error(result) == "input not found: ' me.jpg'"
    assert not (tmp_path / "o.png").exists(), "me.jpg, another file, was not filtered"
    shutil.copy(PORTRAIT, tmp_path / "trail.jpg ")
    result = subprocess.run([sys.executable, str(REPO / "instance_segmentation.py"), "--input", "trail.jpg ",
                             "--no-display", "--output", "o.png"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert cv2.imread(str(tmp_path / "o.png")).shape == cv2.imread(str(PORTRAIT)).shape


# --- 8. nothing to do --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [[], ["--loop"]])
@pytest.mark.parametrize("source", ["video", "photo"])
def test_a_file_with_no_display_and_no_output_is_nothing_to_do(extra, source) -> None:
    given = SHORT_CLIP if source == "video" else PORTRAIT
    result = run_cli("--input", str(given), "--no-display", *extra)
    assert the_error(result) == "nothing to do: --no-display with a file needs --output, --mask-output or --virtual-cam"


@pytest.mark.parametrize("display", [["--no-display"], []])
def test_loop_with_an_output_file_is_refused(tmp_path, display) -> None:
    result = run_cli("--input", str(SHORT_CLIP), "--loop", "--output", str(tmp_path / "o.mp4"), *display,
                     env={"DISPLAY": ":0"})
    assert the_error(result) == ("--loop plays a file over and over, which a file cannot hold; drop --loop, "
                                 "or drop --output/--mask-output")
    assert list(tmp_path.iterdir()) == []


# --- 11. the smaller ones ----------------------------------------------------------------------------------------



def test_interrupted_before_any_frame_says_nothing_was_saved(monkeypatch, capsys, tmp_path) -> None:
    signal_self_on_frame(monkeypatch, 1)
    status = app.main(["--input", str(SHORT_CLIP), "--no-display", "--output", str(tmp_path / "o.mp4")])
    err = capsys.readouterr().err
    assert status == 130, err
    assert err.strip().splitlines()[-1] == "interrupted before any frame was filtered: nothing was saved"
    assert "0 frames" not in err and list(tmp_path.iterdir()) == []


def test_ctrl_c_in_a_batch_names_the_files_not_filtered(monkeypatch, capsys, tmp_path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("a", "b", "c"):
        shutil.copy(SHORT_CLIP, inputs / f"{name}.mp4")
    results = tmp_path / "out"
    signal_self_on_frame(monkeypatch, 41 + 6)  # the 6th frame of the second file
    status = app.main(["--input", str(inputs), "--no-display", "--output", str(results)])
    err = capsys.readouterr().err
    assert status == 130, err
    assert err.strip().splitlines()[-1] == (
        f"privacy-filter: interrupted at file 2 of 3; not filtered: {inputs / 'c.mp4'}"
    )
    assert f"interrupted: {results / 'b.partial.mp4'} holds the 5 frames done so far" in err
    assert sorted(p.name for p in results.iterdir()) == ["a.mp4", "b.partial.mp4"]
    assert frame_count(results / "a.mp4") == 41 and frame_count(results / "b.partial.mp4") == 5


def test_sighup_finishes_the_file_like_sigterm(tmp_path) -> None:
    target = tmp_path / "out.mp4"
    process = start_cli("--input", str(SPEED_CLIP), "--no-display", "--output", str(target))
    err = interrupt_when_written(tmp_path, process, signal.SIGHUP, timeout=60)
    assert process.returncode == 129, err
    line = [text for text in err.splitlines() if text.startswith("interrupted:")]
    assert line, err
    done = int(line[0].split("holds the ")[1].split()[0])
    assert 0 < done < 618 and frame_count(tmp_path / "out.partial.mp4") == done
    assert [p.name for p in tmp_path.iterdir()] == ["out.partial.mp4"], "no hidden temporary file left"


def test_three_digit_colours_are_accepted(tmp_path) -> None:
    assert cli.parse_args(["--color", "#0b4"]).color == "#00bb44"
    assert cli.parse_args(["--color", "FA0"]).color == "#FFAA00"
    out = tmp_path / "o.png"
    result = run_cli("--input", str(PORTRAIT), "--effect", "color", "--color", "#0b4", "--no-display",
                     "--output", str(out))
    assert result.returncode == 0, result.stderr
    corner = cv2.imread(str(out))[:20, :20].reshape(-1, 3)  # the portraits' top-left corner is background
    assert np.abs(np.median(corner, axis=0) - (0x44, 0xBB, 0x00)).max() <= 2
