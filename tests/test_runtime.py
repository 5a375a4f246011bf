"""The model runtime (privacy_filter.segment.runtime): LiteRT and the cv2.dnn fallback agree on real frames, the
fallback really runs the program end to end, and a runtime or file that does not load is handled.

Tolerance of the agreement test: both runtimes compute in float32 but with different kernels (XNNPACK's
fused, re-ordered convolutions against OpenCV's), so sums are added in another order and rounding differs;
the difference grows with the network's depth and with the size of its activations (pose_landmark's mask
logits reach ~1800). Measured on these frames: at most 9e-5 on the selfie probabilities, 2.3e-4 on the face
detectors' logits, 6.5e-4 of the output's largest value on pose_landmark_full's mask logits. The bar,
|LiteRT - cv2.dnn| <= 2e-3 * max(1, max |output|), is 3x above the worst of those and far below what any
decision reads (a probability cut at 0.5, a score logit), while a wrong layout, colour order, scale or a
missing operator moves outputs by the order of their whole range and fails it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import PORTRAITS, REPO, SHARED, SPEED_CLIP, needs_eval, run_cli

from privacy_filter.errors import ModelError
from privacy_filter.segment import runtime
from privacy_filter.segment.runtime import LITERT, OPENCV, TFLiteModel

RELATIVE_TOLERANCE = 2e-3
PEOPLE = SHARED / "models" / "people"
SELFIE = REPO / "models"

needs_litert = pytest.mark.skipif(runtime._litert_interpreter() is None, reason="ai-edge-litert is not installed")

# (file, input range): the selfie and pose-landmark models take RGB in [0, 1], the face detectors [-1, 1].
MODELS = [
    (SELFIE / "selfie_segmentation.tflite", (0.0, 1.0)),
    (SELFIE / "selfie_segmentation_landscape.tflite", (0.0, 1.0)),
    (PEOPLE / "face_detection_short_range.tflite", (-1.0, 1.0)),
    (PEOPLE / "face_detection_full_range_dense.tflite", (-1.0, 1.0)),
    (PEOPLE / "pose_landmark_lite.tflite", (0.0, 1.0)),
    (PEOPLE / "pose_landmark_full.tflite", (0.0, 1.0)),
]


def real_frames() -> dict[str, np.ndarray]:
    """A portrait of the eg1800 test set and frame 80 of the webcam clip (BGR uint8)."""
    portrait = cv2.imread(str(sorted((PORTRAITS / "images").glob("*.jpg"))[0]))
    capture = cv2.VideoCapture(str(SPEED_CLIP))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 80)
    ok, webcam = capture.read()
    capture.release()
    assert portrait is not None and ok
    return {"eg1800 portrait": portrait, "webcam clip frame 80": webcam}


def model_input(frame: np.ndarray, size: tuple[int, int], value_range: tuple[float, float]) -> np.ndarray:
    """frame: HxWx3 uint8 BGR -> 1xhxwx3 float32 RGB scaled to value_range, (w, h) = size."""
    rgb = cv2.cvtColor(cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)
    low, high = value_range
    return (rgb.astype(np.float32) / 255.0 * (high - low) + low)[np.newaxis]


@needs_eval
@needs_litert
@pytest.mark.parametrize("path, value_range", MODELS, ids=[path.stem for path, _ in MODELS])
def test_litert_and_opencv_agree_on_real_frames(path: Path, value_range: tuple[float, float]) -> None:
    if not path.is_file():
        pytest.skip(f"{path} not found")
    lite = TFLiteModel(path, runtime=LITERT)
    dnn = TFLiteModel(path, runtime=OPENCV)
    assert (lite.runtime, dnn.runtime) == (LITERT, OPENCV)
    assert lite.input_size == dnn.input_size
    assert lite.output_names == dnn.output_names  # same names, same order
    for label, frame in real_frames().items():
        x = model_input(frame, lite.input_size, value_range)
        ours, theirs = lite.run(x), dnn.run(x)
        for name in lite.output_names:
            a, b = ours[name], theirs[name]
            assert a.shape == b.shape, f"{path.name} {name}: {a.shape} vs {b.shape}"
            scale = max(1.0, float(np.abs(a).max()))
            worst = float(np.abs(a - b).max())
            assert worst <= RELATIVE_TOLERANCE * scale, f"{path.name} {name} on the {label}: {worst} of {scale}"


@needs_eval
@needs_litert
def test_selfie_maps_of_both_runtimes_give_the_same_person() -> None:
    """What the agreement means for the product: the person cut at 0.5 is the same on (almost) every pixel."""
    from privacy_filter.segment.selfie import SelfieSegmenter

    for selection in (0, 1):
        lite = SelfieSegmenter(model_selection=selection, runtime=LITERT)
        dnn = SelfieSegmenter(model_selection=selection, runtime=OPENCV)
        for frame in real_frames().values():
            a, b = lite.process(frame) > 0.5, dnn.process(frame) > 0.5
            assert a.mean() > 0.05  # there is a person in both frames
            assert (a != b).mean() < 1e-3


def test_a_file_neither_runtime_loads_is_one_model_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.tflite"
    bad.write_bytes(b"not a flatbuffer " * 64)
    with pytest.raises(ModelError) as caught:
        TFLiteModel(bad)
    message = str(caught.value)
    assert "\n" not in message and str(bad) in message
    if runtime._litert_interpreter() is not None:
        assert LITERT in message and OPENCV in message  # both were tried, both reasons given
    with pytest.raises(ModelError, match=OPENCV):
        TFLiteModel(bad, runtime=OPENCV)


@needs_eval
def test_a_file_only_litert_loads_falls_back_or_says_why() -> None:
    """pose_detection.tflite uses DENSIFY, which cv2.dnn lacks: LiteRT loads it; cv2.dnn alone refuses it."""
    path = PEOPLE / "pose_detection.tflite"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    with pytest.raises(ModelError, match="DENSIFY"):
        TFLiteModel(path, runtime=OPENCV)
    if runtime._litert_interpreter() is not None:
        assert TFLiteModel(path).runtime == LITERT


def test_forcing_the_fallback_by_environment(monkeypatch) -> None:
    monkeypatch.setenv(runtime.RUNTIME_ENV, "cv2")
    assert runtime.available_runtime() == OPENCV
    model = TFLiteModel(SELFIE / "selfie_segmentation_landscape.tflite")
    assert model.runtime == OPENCV and model.input_size == (256, 144)
    assert model.describe().startswith(OPENCV)


def _broken_litert(folder: Path) -> dict[str, str]:
    """An environment in which ``import ai_edge_litert`` fails, as on a platform without its wheel."""
    package = folder / "ai_edge_litert"
    package.mkdir()
    (package / "__init__.py").write_text('raise ImportError("no ai-edge-litert wheel for this platform")\n')
    path = os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path}


def test_a_broken_litert_import_falls_back_to_opencv(tmp_path: Path) -> None:
    env = {**os.environ, **_broken_litert(tmp_path)}
    env.pop(runtime.RUNTIME_ENV, None)
    code = ("from privacy_filter.segment.runtime import available_runtime, TFLiteModel; "
            "m = TFLiteModel('models/selfie_segmentation_landscape.tflite'); print(available_runtime(), m.runtime)")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["cv2.dnn", "cv2.dnn"]


@needs_eval
@pytest.mark.parametrize("how", ["PRIVACY_FILTER_RUNTIME=cv2", "ai_edge_litert import broken"])
def test_the_program_runs_end_to_end_on_the_fallback(tmp_path: Path, how: str) -> None:
    """The CLI on a real portrait and a real clip, on cv2.dnn: same matte as the default runtime."""
    portrait = sorted((PORTRAITS / "images").glob("*.jpg"))[3]
    fallback = {"PRIVACY_FILTER_RUNTIME": "cv2"} if how.startswith("PRIVACY") else _broken_litert(tmp_path)
    mattes = {}
    for name, env in (("default", {"PRIVACY_FILTER_RUNTIME": ""}), ("fallback", fallback)):
        out, matte = tmp_path / f"{name}.png", tmp_path / f"{name}-matte.png"
        result = run_cli("--input", str(portrait), "--output", str(out), "--mask-output", str(matte),
                         "--no-display", env=env)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr and "INFO:" not in result.stderr, result.stderr
        mattes[name] = cv2.imread(str(matte), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255
    assert mattes["fallback"].mean() > 0.1  # the portrait's person is kept
    assert np.abs(mattes["fallback"] - mattes["default"]).mean() < 0.005
    clip = tmp_path / "clip.mp4"
    result = run_cli("--input", str(SPEED_CLIP), "--output", str(clip), "--no-display", env=fallback, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "wrote 618 frames" in result.stderr


@needs_eval
def test_the_model_line_names_the_runtime(monkeypatch) -> None:
    from privacy_filter.app import build, cli
    from privacy_filter.concurrent.overlap import overlap
    from privacy_filter.io.sources import open_source

    args = cli.parse_args(["--no-display"])
    expected = LITERT if runtime.available_runtime() == LITERT else OPENCV
    processor = build.build_processor(args)
    assert build.describe_models(processor.finder).startswith("selfie landscape 256x144 on " + expected)
    source = overlap(open_source(str(SPEED_CLIP), 0).start(), processor, realtime=False)  # as the loop sees it
    try:
        assert expected in build.describe_models(processor.finder)
    finally:
        source.stop()
        processor.close()
    monkeypatch.setenv(runtime.RUNTIME_ENV, "cv2")
    assert " on cv2.dnn, " in build.describe_models(build.build_processor(args).finder)


@needs_eval
@pytest.mark.parametrize("forced", [False, True], ids=["default runtime", "PRIVACY_FILTER_RUNTIME=cv2"])
def test_the_window_says_which_runtime_runs(monkeypatch, capsys, forced: bool) -> None:
    """The startup line (when the window opens) and the f overlay name the runtime actually in use."""
    from faultkit import FakeWindow

    from privacy_filter.app import loop, session
    from privacy_filter.app import main as app

    if forced:
        monkeypatch.setenv(runtime.RUNTIME_ENV, "cv2")
    else:
        monkeypatch.delenv(runtime.RUNTIME_ENV, raising=False)
    expected = runtime.available_runtime()

    class PressF(FakeWindow):
        def key(self, wait_ms: int = 1) -> int:
            if self.keys_asked == 0:
                self.keys_asked += 1
                return ord("f")  # the FPS overlay on, from the first picture on
            return super().key(wait_ms)

    drawn: list[list[str]] = []
    real_draw = loop.draw_lines

    def draw_lines(frame, lines, *rest, **kwargs):
        drawn.append(list(lines))
        return real_draw(frame, drawn[-1], *rest, **kwargs)

    monkeypatch.setattr(app, "check_display", lambda: None)
    monkeypatch.setattr(session, "PreviewWindow", lambda title: PressF(title, quit_after=4))
    monkeypatch.setattr(loop, "draw_lines", draw_lines)
    portrait = sorted((PORTRAITS / "images").glob("*.jpg"))[0]
    status = app.main(["--input", str(portrait)])
    err = capsys.readouterr().err
    assert status == 0, err
    model_lines = [line for line in err.splitlines() if line.startswith("Model: ")]
    assert len(model_lines) == 1 and model_lines[0].startswith(f"Model: selfie landscape 256x144 on {expected}, "), err
    assert drawn and all(any(f" on {expected}, " in line for line in lines) for lines in drawn), drawn
