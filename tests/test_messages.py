"""The small things of issue 22 (item 12), each through the real program: what it says must be true and
readable, and nothing it is told may be ignored in silence.

Real clips and photos from ../shared.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

from conftest import EVAL, PORTRAITS, REPO, needs_eval, run_cli
from faultkit import FakeWindow, error_lines

from privacy_filter.app import loop, session
from privacy_filter.app import main as app

pytestmark = needs_eval

SHORT_CLIP = EVAL / "videos" / "face-demographics-walking-and-pause.mp4"  # 41 frames
PORTRAIT = PORTRAITS / "images" / "00002.jpg"


def test_an_unknown_runtime_is_one_line_and_exit_2(tmp_path) -> None:
    result = run_cli("--input", str(SHORT_CLIP), "--no-display", "-o", str(tmp_path / "o.mp4"),
                     env={"PRIVACY_FILTER_RUNTIME": "tflit"})
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert error_lines(result.stderr) == [
        "instance_segmentation.py: error: PRIVACY_FILTER_RUNTIME='tflit' is not a runtime; use cv2 (OpenCV's "
        "cv2.dnn) or litert, or unset it (see --help)"]
    assert list(tmp_path.iterdir()) == []
    for value in ("cv2", "LiteRT", ""):  # the values it knows still work
        result = run_cli("--input", str(PORTRAIT), "--no-display", "-o", str(tmp_path / f"o{value}.png"),
                         env={"PRIVACY_FILTER_RUNTIME": value})
        assert result.returncode == 0, result.stderr


def test_a_name_that_is_not_utf8_is_printed_as_its_bytes(tmp_path) -> None:
    out = os.fsencode(tmp_path) + b"/out\xfe.png"
    result = subprocess.run([sys.executable, str(REPO / "instance_segmentation.py"), "--input", str(PORTRAIT),
                             "--no-display", "-o", out], cwd=REPO, capture_output=True, timeout=120)
    err = result.stderr.decode("utf-8")
    assert result.returncode == 0, err
    assert os.path.exists(out)
    assert f"wrote 1 frame to {tmp_path}/out\\xfe.png" in err and "\\udc" not in err, err


def test_no_privacy_with_an_output_says_so_in_one_note(tmp_path) -> None:
    out = tmp_path / "o.png"
    result = run_cli("--input", str(PORTRAIT), "--no-display", "--no-privacy", "-o", str(out))
    assert result.returncode == 0, result.stderr
    notes = [line for line in error_lines(result.stderr) if "note:" in line]
    assert notes == [f"privacy-filter: note: --no-privacy: {out} will show the room and everyone in it, "
                     "unfiltered, for the whole run"]
    result = run_cli("--input", str(PORTRAIT), "--no-display", "-o", str(tmp_path / "filtered.png"))
    assert "note:" not in result.stderr, "no note when privacy is on"


def test_a_still_image_title_shows_the_rate_it_is_shown_at(monkeypatch, capsys) -> None:
    """A still image is re-filtered at a steady pace: the title shows that rate, not the time its first frame
    took to filter frozen there (which read "17837 FPS" for a small image). The pace is slowed to 5 a second
    here so that the two cannot be confused."""
    monkeypatch.setattr(loop, "STILL_INTERVAL_S", 0.2)
    FakeWindow.instances.clear()
    monkeypatch.setattr(app, "check_display", lambda: None)
    monkeypatch.setattr(session, "PreviewWindow", lambda title: FakeWindow(title, quit_after=12))
    assert app.main(["--input", str(PORTRAIT)]) == 0, capsys.readouterr().err
    (window,) = FakeWindow.instances
    rates = [float(match.group(1)) for title in window.titles if (match := re.search(r"(\d+) FPS", title))]
    assert len(window.shown) >= 12 and rates, window.titles
    assert 3 <= rates[-1] <= 6, window.titles
