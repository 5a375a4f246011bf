"""A finished file stays finished (issue 22): a result that is not the whole input (interrupted, the input cut
short or stalled) goes to ``STEM.partial.EXT`` beside the output, never over the user's file; an interrupted
run exits as shells report a signal; --skip-existing finishes what is not complete.

Real clips from ../shared (cut as an interrupted copy leaves them), real signals to the real program.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EVAL, PORTRAITS, REPO, SPEED_CLIP, needs_eval, run_cli
from faultkit import (
    StallingPipe,
    clip_frames,
    error_lines,
    interrupt_when_written,
    read_video,
    signal_self_on_frame,
    start_cli,
    truncate,
    write_video,
)

from privacy_filter.app import main as app

pytestmark = needs_eval

SHORT_CLIP = EVAL / "videos" / "face-demographics-walking-and-pause.mp4"  # 41 frames, 480x270, 12.5 fps
PORTRAIT = PORTRAITS / "images" / "00002.jpg"
PROGRESS = re.compile(r"^\d+(/\d+)? frames ")  # the progress meter's lines


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ours(stderr: str) -> list[str]:
    """The lines the program printed, without the progress meter."""
    return [line for line in error_lines(stderr) if not PROGRESS.match(line)]



@pytest.fixture(scope="module")
def clip62(tmp_path_factory) -> Path:
    """62 frames of the real clip at 320x240, as an AVI whose header counts them."""
    return write_video(tmp_path_factory.mktemp("clips") / "talk.avi", clip_frames(62))


# --- items 1 and 2: --overwrite and a signal, or a truncated input ------------------------------------------


@pytest.mark.required_in_ci
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_with_overwrite_keeps_the_old_file_and_the_partial_beside_it(tmp_path, signum) -> None:
    keep = tmp_path / "keep.mp4"
    shutil.copy(SHORT_CLIP, keep)  # yesterday's complete result
    before = digest(keep)
    process = start_cli("--input", str(SPEED_CLIP), "-o", str(keep), "--no-display", "--overwrite")
    err = interrupt_when_written(tmp_path, process, signum, timeout=60)
    assert process.returncode == 128 + signum, err  # 130, 143, 129: `... && upload` stops here
    assert digest(keep) == before, "the complete file is untouched"
    partial = tmp_path / "keep.partial.mp4"
    [line] = [text for text in ours(err) if text.startswith("interrupted")]
    done = int(line.split("holds the ")[1].split()[0])
    assert line == f"interrupted: {partial} holds the {done} frames done so far; {keep} is left as it was"
    assert 0 < done < 618 and len(read_video(partial)) == done
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.mp4", "keep.partial.mp4"]


@pytest.mark.required_in_ci
def test_a_truncated_input_with_overwrite_keeps_the_old_file(tmp_path, clip62) -> None:
    keep = tmp_path / "keep.mp4"
    shutil.copy(SHORT_CLIP, keep)
    before = digest(keep)
    cut = truncate(clip62, tmp_path / "cut.avi", 0.5)
    result = run_cli("--input", str(cut), "-o", str(keep), "--no-display", "--overwrite")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    [line] = ours(result.stderr)
    done = int(line.split("ended after ")[1].split()[0])
    partial = tmp_path / "keep.partial.mp4"
    assert line == (f"privacy-filter: error: {cut} ended after {done} of its 62 frames: the file is truncated or "
                    f"corrupt; {partial} holds the {done} frames done before; {keep} is left as it was")
    assert digest(keep) == before and 0 < done < 62 and len(read_video(partial)) == done


def test_a_second_interrupted_run_does_not_replace_the_first_partial(monkeypatch, capsys, tmp_path, clip62) -> None:
    out = tmp_path / "o.mp4"
    for number, frame in enumerate((20, 10), 1):
        monkeypatch.undo()
        signal_self_on_frame(monkeypatch, frame)
        assert app.main(["--input", str(clip62), "--no-display", "-o", str(out)]) == 130
        expected = tmp_path / ("o.partial.mp4" if number == 1 else "o.partial-2.mp4")
        assert f"interrupted: {expected} holds the {frame - 1} frames done so far; {out} is written only by a " \
               "run that reaches the end" in capsys.readouterr().err
    assert len(read_video(tmp_path / "o.partial.mp4")) == 19 and len(read_video(tmp_path / "o.partial-2.mp4")) == 9
    assert not out.exists()


# --- item 3: --skip-existing finishes what is not complete ---------------------------------------------------


@pytest.mark.required_in_ci
def test_skip_existing_after_an_interrupted_batch_finishes_it(monkeypatch, capsys, tmp_path, clip62) -> None:
    inputs, results = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    for name in ("a", "b"):
        shutil.copy(clip62, inputs / f"{name}.avi")
    signal_self_on_frame(monkeypatch, 62 + 30)  # half-way through b
    assert app.main(["--input", str(inputs), "--no-display", "-o", str(results)]) == 130
    capsys.readouterr()
    assert sorted(p.name for p in results.iterdir()) == ["a.avi", "b.partial.avi"]
    monkeypatch.undo()
    assert app.main(["--input", str(inputs), "--no-display", "-o", str(results), "--skip-existing"]) == 0
    err = capsys.readouterr().err
    assert f"skipped: {results / 'a.avi'} exists" in err and "b.avi" not in "".join(
        line for line in err.splitlines() if line.startswith("skipped"))
    assert len(read_video(results / "a.avi")) == 62 and len(read_video(results / "b.avi")) == 62


@pytest.mark.required_in_ci
def test_skip_existing_redoes_an_old_partial_under_the_name(capsys, tmp_path, clip62) -> None:
    """An interrupted run of an older version left 20 of the input's 62 frames under the output's name."""
    out = tmp_path / "o.avi"
    write_video(out, clip_frames(20))
    assert app.main(["--input", str(clip62), "--no-display", "-o", str(out), "--skip-existing"]) == 0
    err = capsys.readouterr().err
    assert (f"not complete: {out} (it holds 20 of its input's 62 frames); filtering {clip62} again (the file is "
            "replaced once the new one is complete)") in err
    assert len(read_video(out)) == 62


@pytest.mark.required_in_ci
def test_skip_existing_redoes_a_truncated_output(capsys, tmp_path, clip62) -> None:
    """A copy cut short: its header announces 62 frames, fewer are there."""
    out = tmp_path / "o.mp4"
    assert app.main(["--input", str(clip62), "--no-display", "-o", str(tmp_path / "whole.mp4")]) == 0
    truncate(tmp_path / "whole.mp4", out, 0.35)
    capsys.readouterr()
    assert app.main(["--input", str(clip62), "--no-display", "-o", str(out), "--skip-existing"]) == 0
    err = capsys.readouterr().err
    assert f"not complete: {out} (its header announces 62 frames but it holds " in err, err
    assert len(read_video(out)) == 62


def test_skip_existing_still_skips_a_complete_output(capsys, tmp_path, clip62) -> None:
    out = tmp_path / "o.mp4"
    assert app.main(["--input", str(clip62), "--no-display", "-o", str(out)]) == 0
    before = digest(out)
    assert app.main(["--input", str(clip62), "--no-display", "-o", str(out), "--skip-existing"]) == 0
    assert "nothing to do" in capsys.readouterr().err and digest(out) == before



# --- item 4: an image and its matte, both or neither -------------------------------------------------------


@pytest.mark.required_in_ci
def test_an_image_and_its_matte_on_a_full_disk_are_both_refused(tmp_path) -> None:
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) not available")
    folder = tmp_path / "small"
    folder.mkdir()
    image, matte = folder / "me.png", folder / "me-matte.png"
    # 2 MB: past the 1 MB free-space check; the picture at 3000 px wide (several MB as PNG) does not fit, its
    # matte (black and white, ~0.1 MB) would. What the folder holds at the end is listed inside the namespace.
    script = ('mount -t tmpfs -o size=2m tmpfs "$0" || exit 99; "$@"; status=$?; '
              'echo "left:$(ls -A "$0" | tr "\\n" " ")"; exit $status')
    namespace = ["-m"] if os.geteuid() == 0 else ["-r", "-m"]
    command = ["unshare", *namespace, "sh", "-c", script, str(folder), sys.executable,
               str(REPO / "instance_segmentation.py"), "--input", str(PORTRAIT), "--no-display", "--width", "3000",
               "--output", str(image), "--mask-output", str(matte)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    if result.returncode == 99 or "Operation not permitted" in result.stderr:
        pytest.skip(f"cannot mount a private tmpfs here: {result.stderr.strip()}")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert ours(result.stderr) == [f"privacy-filter: error: cannot write image {image} (is the disk full?)"]
    left = result.stdout.strip().splitlines()[-1]
    assert left.strip() == "left:", f"neither file (a matte alone would make a re-run refuse): {left}"


# --- item 5: a dangling symlink as --output ----------------------------------------------------------------


@pytest.mark.required_in_ci
def test_a_dangling_symlink_as_output_is_refused_before_any_frame(tmp_path) -> None:
    link = tmp_path / "out.mp4"
    link.symlink_to(tmp_path / "gone.mp4")
    result = run_cli("--input", str(SHORT_CLIP), "--no-display", "-o", str(link))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert ours(result.stderr) == [f"privacy-filter: error: --output {link} already exists (a link to "
                                   f"{tmp_path / 'gone.mp4'}, which is missing); pass --overwrite to replace it"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"] and link.is_symlink(), "nothing written"
    result = run_cli("--input", str(SHORT_CLIP), "--no-display", "-o", str(link), "--overwrite")
    assert result.returncode == 0, result.stderr
    assert not link.is_symlink() and len(read_video(link)) == 41, "--overwrite replaces the link itself"


# --- item 7: a pipe that stalls mid-stream -------------------------------------------------------------------


@pytest.mark.required_in_ci
def test_a_pipe_that_stalls_mid_stream_ends_with_one_line_keeping_the_frames(tmp_path) -> None:
    pipe = StallingPipe(tmp_path, clip_frames(15))
    out = tmp_path / "o.mp4"
    try:
        process = start_cli("--input", str(pipe.path), "--no-display", "-o", str(out))
        try:
            _, err = process.communicate(timeout=60)  # the 10 s time-out, and the start-up
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    finally:
        pipe.release()
    assert process.returncode == 1 and "Traceback" not in err, err
    partial = tmp_path / "o.partial.mp4"
    assert ours(err) == [f"privacy-filter: error: {pipe.path} gave no new frame for 10 s (a pipe or stream that "
                         f"stalled?); {partial} holds the 15 frames done before; {out} is written only by a run "
                         "that reaches the end"]
    assert len(read_video(partial)) == 15
