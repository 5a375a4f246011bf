"""Every bad input a user can give, through the real command line in a subprocess.

Each must end with exit status 1 (2 for a bad flag value, as argparse does) and exactly one error line on
stderr: no traceback, and no log lines from OpenCV, FFmpeg, libprotobuf or Qt around it. Outputs are
checked *before* any work: no model is loaded and no frame is read when the output cannot be written.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import mask_rcnn_standin as standin
import pytest
from conftest import REPO, SPEED_CLIP, needs_eval, run_cli
from faultkit import clip_frames, error_lines, read_video, truncate, write_video

from privacy_filter.segment.models import BUNDLED_MODELS_DIR, SELFIE_MODELS

pytestmark = needs_eval

PREFIX = "privacy-filter: error: "


def one_error(result: subprocess.CompletedProcess, status: int = 1) -> str:
    """The single error line of a failed run (asserting it is the only thing printed, bar progress)."""
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in error_lines(result.stderr) if not is_progress(line)]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    assert lines[0].startswith(PREFIX), lines[0]
    return lines[0][len(PREFIX):]


def usage_error(result: subprocess.CompletedProcess) -> str:
    """The answer to a bad flag value: exit 2 and one error line (no usage block, no traceback)."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    assert lines[0].startswith("instance_segmentation.py: error: ")
    return lines[0]


def is_progress(line: str) -> bool:
    return " frames " in line and "FPS" in line


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Bad (and a few good) input files, made once."""
    folder = tmp_path_factory.mktemp("inputs")
    frames = clip_frames(40)
    made = {"clip": write_video(folder / "clip.avi", frames)}
    made["half_avi"] = truncate(made["clip"], folder / "half.avi", 0.5)
    made["cut_mp4"] = truncate(SPEED_CLIP, folder / "cut.mp4", 0.6)
    made["text_mp4"] = folder / "text.mp4"
    made["text_mp4"].write_text("this is not a video\n")
    made["random_mp4"] = folder / "random.mp4"
    made["random_mp4"].write_bytes(os.urandom(20000))
    made["empty_mp4"] = folder / "empty.mp4"
    made["empty_mp4"].write_bytes(b"")
    made["image"] = folder / "person.png"
    cv2.imwrite(str(made["image"]), frames[0])
    made["cut_png"] = truncate(made["image"], folder / "cut.png", 0.4)
    made["text_jpg"] = folder / "text.jpg"
    made["text_jpg"].write_text("not a picture")
    made["folder"] = folder / "videos"
    made["folder"].mkdir()
    shutil.copy(made["clip"], made["folder"] / "a.avi")
    made["empty_folder"] = folder / "nothing"
    made["empty_folder"].mkdir()
    return made


def out(tmp_path: Path, name: str = "out.mp4") -> str:
    return str(tmp_path / name)


# ---------------------------------------------------------------- inputs

def test_nonexistent_input(tmp_path) -> None:
    message = one_error(run_cli("--input", str(tmp_path / "nope.mp4"), "--no-display", "-o", out(tmp_path)))
    assert message == f"input not found: {tmp_path / 'nope.mp4'}"


def test_folder_as_input_needs_an_output_folder(files, tmp_path) -> None:
    # A folder is a batch of inputs (issue 6): without --output DIR it is a clear error, not a crash.
    message = one_error(run_cli("--input", str(files["folder"]), "--no-display"))
    assert "names several inputs" in message and "--output DIR" in message
    message = one_error(run_cli("--input", str(files["folder"]), "--no-display", "-o", out(tmp_path)))
    assert "give a folder for the results" in message
    message = one_error(run_cli("--input", str(files["empty_folder"]), "--no-display", "-o", str(tmp_path)))
    assert message.startswith("no video or image files in")


@pytest.mark.parametrize("name", ["text_mp4", "random_mp4", "empty_mp4", "cut_mp4"])
def test_files_that_are_not_videos(files, tmp_path, name) -> None:
    message = one_error(run_cli("--input", str(files[name]), "--no-display", "-o", out(tmp_path)))
    assert message.startswith(f"cannot read video {files[name]}: not a video FFmpeg can decode")
    assert list(tmp_path.iterdir()) == [], "no output, not even a temporary file"


def test_truncated_video_keeps_the_frames_it_had(files, tmp_path) -> None:
    # Half an AVI still opens: the frames that are there get filtered, and the run says the file is cut.
    result = run_cli("--input", str(files["half_avi"]), "--no-display", "-o", out(tmp_path))
    message = one_error(result)
    assert "ended after" in message and "of its 40 frames: the file is truncated or corrupt" in message
    done = int(message.split("holds the ")[1].split(" frames")[0])
    assert 0 < done < 40
    assert len(read_video(tmp_path / "out.partial.mp4")) == done and not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("name", ["cut_png", "text_jpg"])
def test_image_opencv_cannot_decode(files, tmp_path, name) -> None:
    message = one_error(run_cli("--input", str(files[name]), "--no-display", "-o", out(tmp_path, "o.png")))
    assert message.startswith(f"cannot decode image {files[name]}")


def test_camera_index_with_no_camera(tmp_path) -> None:
    message = one_error(run_cli("--input", "7", "--no-display", "-o", out(tmp_path)))
    assert message == "cannot open camera 7: no camera there, or another program is using it"


# ---------------------------------------------------------------- flag values

@pytest.mark.parametrize(("flag", "value", "says"), [
    ("--kernel", "0", "positive odd number"),
    ("--kernel", "-3", "positive odd number"),
    ("--kernel", "4", "positive odd number"),
    ("--kernel", "100001", "positive odd number up to"),
    ("--kernel", "seven", "whole number"),
    ("--confidence", "1.5", "in [0, 1]"),
    ("--confidence", "-0.1", "in [0, 1]"),
    ("--confidence", "nan", "in [0, 1]"),
    ("--threshold", "2", "in [0, 1]"),
    ("--threshold", "-1", "in [0, 1]"),
    ("--width", "-5", "between 0"),
    ("--width", "wide", "whole number"),
    ("--backend", "yolo", "invalid choice"),
])
def test_bad_flag_values(files, flag, value, says) -> None:
    line = usage_error(run_cli("--input", str(files["image"]), "--no-display", f"{flag}={value}"))
    assert flag in line and says in line


# ---------------------------------------------------------------- outputs: refused before any work

@pytest.mark.parametrize(("target", "says"), [
    ("missing/out.mp4", "folder {tmp}/missing does not exist"),
    ("out.gif", "cannot write a video with extension .gif"),
    ("out", "cannot write a video with extension (none)"),
    ("file.txt/out.mp4", "{tmp}/file.txt is a file, not a folder"),
])
def test_output_refused_before_processing(files, tmp_path, target, says) -> None:
    (tmp_path / "file.txt").write_text("x")
    # A model folder that does not exist: if the output were checked after loading the model, the error
    # would be about the model.
    result = run_cli("--input", str(files["clip"]), "--no-display", "-o", str(tmp_path / target),
                     env={"PRIVACY_FILTER_MODEL_DIR": str(tmp_path / "no-models")})
    assert says.format(tmp=tmp_path) in one_error(result)


def test_output_in_proc_is_refused(files) -> None:
    message = one_error(run_cli("--input", str(files["clip"]), "--no-display", "-o", "/proc/out.mp4"))
    assert message.startswith("--output /proc/out.mp4: folder /proc is not writable")


def test_existing_output_is_not_overwritten(files, tmp_path) -> None:
    target = tmp_path / "out.mp4"
    target.write_bytes(b"my holiday video")
    message = one_error(run_cli("--input", str(files["clip"]), "--no-display", "-o", str(target)))
    assert message == f"--output {target} already exists; pass --overwrite to replace it"
    assert target.read_bytes() == b"my holiday video"
    result = run_cli("--input", str(files["clip"]), "--no-display", "-o", str(target), "--overwrite")
    assert result.returncode == 0, result.stderr
    assert len(read_video(target)) == 40


def in_private_mount(mount_options: str, folder: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the CLI with a fresh tmpfs (``mount_options``) mounted over ``folder``, in a mount namespace of
    its own (nothing outside sees the mount; it vanishes with the process)."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) not available")
    folder.mkdir(exist_ok=True)
    script = 'mount -t tmpfs -o "$0" tmpfs "$1" || exit 99; shift; exec "$@"'
    command = ["unshare", "-m", "sh", "-c", script, mount_options, str(folder),
               sys.executable, str(REPO / "instance_segmentation.py"), *args]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    if result.returncode == 99 or "unshare failed" in result.stderr or "Operation not permitted" in result.stderr:
        pytest.skip(f"cannot mount a private tmpfs here: {result.stderr.strip()}")
    return result


def test_output_on_a_read_only_filesystem(files, tmp_path) -> None:
    folder = tmp_path / "readonly"
    result = in_private_mount("ro,size=1m", folder, "--input", str(files["clip"]), "--no-display",
                              "-o", str(folder / "out.mp4"))
    message = one_error(result)
    assert message.startswith(f"--output {folder}/out.mp4: folder {folder} is not writable")
    assert "Read-only file system" in message


def test_output_on_a_full_disk_is_refused_before_processing(files, tmp_path) -> None:
    folder = tmp_path / "tiny"
    result = in_private_mount("size=64k", folder, "--input", str(files["clip"]), "--no-display",
                              "-o", str(folder / "out.mp4"))
    assert "the disk holding" in one_error(result) and "is full" in one_error(result)


# ---------------------------------------------------------------- models

def test_model_folder_missing(files, tmp_path) -> None:
    result = run_cli("--input", str(files["image"]), "--no-display", "-o", out(tmp_path, "o.png"),
                     env={"PRIVACY_FILTER_MODEL_DIR": str(tmp_path / "no-models")})
    message = one_error(result)
    assert message.startswith("selfie segmentation model not found at")
    assert str(tmp_path / "no-models") in message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("damage", ["truncated", "one byte flipped"])
def test_model_file_corrupted(files, tmp_path, damage) -> None:
    models = tmp_path / "models"
    models.mkdir()
    for name in SELFIE_MODELS:
        shutil.copy(BUNDLED_MODELS_DIR / name, models / name)
    target = models / "selfie_segmentation_landscape.tflite"
    data = bytearray(target.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    result = run_cli("--input", str(files["image"]), "--no-display", "-o", out(tmp_path, "o.png"),
                     env={"PRIVACY_FILTER_MODEL_DIR": str(models)})
    message = one_error(result)
    assert "is corrupt or not the expected file" in message and str(target) in message


def test_copied_models_folder_works(files, tmp_path) -> None:
    # The same variable with intact copies: the checks above fail for the damage, not for the folder.
    models = tmp_path / "models"
    shutil.copytree(BUNDLED_MODELS_DIR, models)
    result = run_cli("--input", str(files["image"]), "--no-display", "-o", out(tmp_path, "o.png"),
                     env={"PRIVACY_FILTER_MODEL_DIR": str(models)})
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def standin_dir(tmp_path_factory) -> Path:
    if not standin.real_pbtxt().is_file():
        pytest.skip(f"real text graph not found at {standin.real_pbtxt()}")
    return standin.cached_standin_dir(tmp_path_factory)


def mask_rcnn_copy(standin_dir: Path, folder: Path) -> Path:
    shutil.copytree(standin_dir, folder)
    return folder


def test_mask_rcnn_folder_missing(files, tmp_path) -> None:
    message = one_error(run_cli("--backend", "mask-rcnn", "-m", str(tmp_path / "nowhere"), "--input",
                                str(files["image"]), "--no-display", "-o", out(tmp_path, "o.png")))
    assert message.startswith(f"Mask R-CNN model not found in {tmp_path / 'nowhere'}/")


@pytest.mark.parametrize("damage", ["weight renamed", "graph cut short", "weights of the wrong shape"])
def test_pbtxt_that_does_not_match_the_graph(files, tmp_path, standin_dir, damage) -> None:
    folder = mask_rcnn_copy(standin_dir, tmp_path / "model")
    graph = folder / standin.PBTXT_NAME
    text = graph.read_text()
    if damage == "weight renamed":
        assert text.count('"Conv/weights"') == 1
        graph.write_text(text.replace('"Conv/weights"', '"Conv/weights_of_another_model"'))
    elif damage == "graph cut short":
        graph.write_text(text[: len(text) // 2])
    else:  # the .pb holds every name, but one tensor has the wrong shape: it only fails when run
        consts = standin.standin_consts(graph)
        consts["Conv/weights"] = consts["Conv/weights"][:, :, :500]
        (folder / "frozen_inference_graph.pb").write_bytes(standin.encode_graph(consts))
    result = run_cli("--backend", "mask-rcnn", "-m", str(folder), "--input", str(files["image"]),
                     "--no-display", "-o", out(tmp_path, "o.png"))
    message = one_error(result)
    assert message.startswith(f"Mask R-CNN model in {folder}/ does not ")
    assert "--download-mask-rcnn" in message
    assert not (tmp_path / "o.png").exists(), "a model that does not run is an error, not a hidden frame"


def test_mask_rcnn_standin_runs(files, tmp_path, standin_dir) -> None:
    # The intact stand-in through the same command: the failures above come from the damage.
    result = run_cli("--backend", "mask-rcnn", "-m", str(standin_dir), "--input", str(files["image"]),
                     "--no-display", "-o", out(tmp_path, "o.png"))
    assert result.returncode == 0, result.stderr


def test_no_display_without_no_display_flag(files, tmp_path) -> None:
    # The default shows a window; with no display that must be one line, not Qt aborting the process.
    env = {key: value for key, value in os.environ.items() if key not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = subprocess.run([sys.executable, str(REPO / "instance_segmentation.py"), "--input",
                             str(files["image"])], cwd=REPO, capture_output=True, text=True, timeout=120, env=env)
    assert "display" in one_error(result)
