"""Which MoveNet file is loaded (issue 24, item 4: quantised variants are measured by naming another file).

The bundled files must be the ones models/NOTICE names (sha256), and a MoveNet file named by
$PRIVACY_FILTER_MOVENET or ``model_path`` that is missing or not a model stops the program with one clear
line, never a silent fall-back to faces only. Real files, the real CLI.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import cv2
import numpy as np
import pytest
from conftest import EVAL, REPO, needs_eval, run_cli
from faultkit import error_lines

from privacy_filter.errors import ModelError
from privacy_filter.people.bodies import BodiesUnavailable
from privacy_filter.people.multipose import MODEL, MODEL_ENV, MultiPoseDetector, model_file
from privacy_filter.segment.models import BUNDLED_MODELS_DIR, PEOPLE_MODELS, SELFIE_MODELS, sha256_of

NOTICE = REPO / "models" / "NOTICE"


def notice_sums() -> dict[str, str]:
    """{file name: sha256} as models/NOTICE lists them (a ``name.tflite`` line, then ``sha256 <hex>``)."""
    sums, name = {}, None
    for line in NOTICE.read_text().splitlines():
        if re.fullmatch(r"\S+\.tflite", line.strip()):
            name = line.strip()
        found = re.search(r"sha256 ([0-9a-f]{64})", line)
        if found and name:
            sums[name] = found.group(1)
            name = None
    return sums


def test_every_bundled_model_matches_the_sha256_in_notice_and_in_the_code() -> None:
    sums = notice_sums()
    bundled = sorted(p.name for p in (REPO / "models").glob("*.tflite"))
    assert sorted(sums) == bundled  # each file listed once, and nothing listed that is not there
    code = {**PEOPLE_MODELS, **{name: entry[0] for name, entry in SELFIE_MODELS.items()}}
    for name in bundled:
        assert sha256_of(REPO / "models" / name) == sums[name] == code[name], name
    assert MODEL in sums


def one_line(error: BaseException) -> str:
    text = str(error)
    assert "\n" not in text
    return text


def test_a_missing_movenet_file_is_one_clear_error(tmp_path, monkeypatch) -> None:
    missing = tmp_path / "no-such.tflite"
    with pytest.raises(ModelError) as raised:
        MultiPoseDetector(model_path=missing)
    assert one_line(raised.value) == f"MoveNet model not found at {missing} (from model_path)"
    monkeypatch.setenv(MODEL_ENV, str(missing))
    with pytest.raises(ModelError) as raised:
        MultiPoseDetector()
    assert one_line(raised.value) == f"MoveNet model not found at {missing} (from ${MODEL_ENV})"


def test_a_named_file_that_is_not_a_model_is_an_error_not_a_fall_back_to_faces(tmp_path) -> None:
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a flatbuffer" * 64)
    with pytest.raises(ModelError) as raised:
        MultiPoseDetector(model_path=junk)
    # Not its subclass BodiesUnavailable: that one lets the people stage run on faces only.
    assert not isinstance(raised.value, BodiesUnavailable)
    assert str(junk) in one_line(raised.value)


def test_without_a_name_the_bundled_file_is_loaded_and_sha_checked(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(MODEL_ENV, raising=False)
    assert model_file() == BUNDLED_MODELS_DIR / MODEL
    damaged = tmp_path / MODEL
    data = bytearray((BUNDLED_MODELS_DIR / MODEL).read_bytes())
    data[len(data) // 2] ^= 1
    damaged.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="is corrupt or not the expected file"):
        model_file(model_dir=tmp_path)


@needs_eval
def test_a_named_copy_of_the_bundled_file_finds_the_same_people(tmp_path) -> None:
    copy = tmp_path / "copy.tflite"
    shutil.copy(BUNDLED_MODELS_DIR / MODEL, copy)
    frame = cv2.imread(str(EVAL / "coco128seg_person" / "images" / "000000000192.jpg"))
    named, bundled = MultiPoseDetector(model_path=copy), MultiPoseDetector()
    assert "(copy.tflite)" in named.describe() and "(" not in bundled.describe()
    a, b = named.detect(frame), bundled.detect(frame)
    assert len(a) == len(b) >= 2
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x.keypoints, y.keypoints) and x.score == y.score


@needs_eval
def test_the_cli_stops_with_one_line_when_the_named_movenet_file_is_missing(tmp_path) -> None:
    missing = tmp_path / "gone.tflite"
    image = EVAL / "coco128seg_person" / "images" / "000000000192.jpg"
    result: subprocess.CompletedProcess = run_cli("--input", str(image), "--no-display",
                                                  "-o", str(tmp_path / "out.png"), env={MODEL_ENV: str(missing)})
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = error_lines(result.stderr)
    assert lines == [f"privacy-filter: error: MoveNet model not found at {missing} (from ${MODEL_ENV})"]
    assert not (tmp_path / "out.png").exists()
