"""--skip-existing (issue 15): re-running a folder continues where it stopped; existing outputs are left alone.

Real clips from ../shared through the real command line.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import needs_eval, run_cli
from faultkit import clip_frames, read_video, write_video

pytestmark = needs_eval


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    frames = clip_frames(12)
    return {name: write_video(folder / f"{name}.avi", frames[i:] + frames[:i]) for i, name in enumerate("abc")}


def state(path: Path) -> tuple[int, bytes]:
    return path.stat().st_mtime_ns, path.read_bytes()


def skipped_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("skipped: ")]


def test_a_rerun_of_a_folder_continues_where_it_stopped(clips, tmp_path) -> None:
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    for name in "ab":
        (inputs / f"{name}.avi").write_bytes(clips[name].read_bytes())
    first = run_cli("--input", str(inputs), "--output", str(out), "--no-display")
    assert first.returncode == 0, first.stderr
    before = {name: state(out / f"{name}.avi") for name in "ab"}
    (inputs / "c.avi").write_bytes(clips["c"].read_bytes())  # a new file since (or one the first run never reached)

    again = run_cli("--input", str(inputs), "--output", str(out), "--no-display", "--skip-existing")
    assert again.returncode == 0, again.stderr
    assert len(skipped_lines(again.stderr)) == 2, again.stderr
    assert all("exists" in line for line in skipped_lines(again.stderr))
    assert {name: state(out / f"{name}.avi") for name in "ab"} == before, "finished outputs are not touched"
    assert len(read_video(out / "c.avi")) == 12, "the rest is done"

    done = run_cli("--input", str(inputs), "--output", str(out), "--no-display", "--skip-existing")
    assert done.returncode == 0 and "nothing to do" in done.stderr and len(skipped_lines(done.stderr)) == 3


def test_one_input_with_its_output_there_is_skipped_and_a_missing_matte_is_made(clips, tmp_path) -> None:
    out = tmp_path / "a.mp4"
    first = run_cli("--input", str(clips["a"]), "--output", str(tmp_path / "first.mp4"), "--no-display")
    assert first.returncode == 0, first.stderr
    (tmp_path / "first.mp4").rename(out)
    before = state(out)
    result = run_cli("--input", str(clips["a"]), "--output", str(out), "--no-display", "--skip-existing")
    assert result.returncode == 0, result.stderr
    assert len(skipped_lines(result.stderr)) == 1 and state(out) == before
    matte = tmp_path / "a-matte.mp4"
    result = run_cli("--input", str(clips["a"]), "--output", str(out), "--mask-output", str(matte), "--no-display",
                     "--skip-existing")
    assert result.returncode == 0, result.stderr
    assert state(out) == before and len(read_video(matte)) == 12, "only what is missing is written"


def test_skip_existing_and_overwrite_contradict_each_other(clips, tmp_path) -> None:
    result = run_cli("--input", str(clips["a"]), "--output", str(tmp_path / "o.mp4"), "--no-display",
                     "--skip-existing", "--overwrite")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--skip-existing and --overwrite" in lines[0]


def test_a_broken_file_under_the_output_name_is_not_taken_for_a_result(clips, tmp_path) -> None:
    out = tmp_path / "o.mp4"
    out.write_text("not a video")
    result = run_cli("--input", str(clips["a"]), "--output", str(out), "--no-display", "--skip-existing")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("privacy-filter: error:")]
    assert errors == [f"privacy-filter: error: --output {out} exists but does not read back as a video; "
                      "remove it to filter its input again"]
    assert out.read_text() == "not a video", "nothing the user had is lost"
