"""Cameras by what they are (issue 23): --list-cameras, and --input as a device path or part of a name.

The listing runs on a stand-in /sys/class/video4linux tree (these machines have no camera); the program's own
--list-cameras and --input /dev/videoN run for real, where there is none.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import run_cli

from privacy_filter.io.cameras import AmbiguousCamera, Camera, camera_input, capture_sizes, linux_cameras

HAVE_CAMERAS = Path("/sys/class/video4linux").is_dir() and any(Path("/sys/class/video4linux").iterdir())


def node(folder: Path, name: str, label: str, index: int = 0) -> Path:
    folder.mkdir(parents=True)
    (folder / "name").write_text(label + "\n")
    (folder / "index").write_text(f"{index}\n")
    return folder


@pytest.fixture
def sysfs(tmp_path) -> Path:
    """A laptop camera (a picture node and its metadata node), a USB camera and the v4l2loopback device."""
    classes = tmp_path / "class" / "video4linux"
    classes.mkdir(parents=True)
    for number, label, index in ((0, "Integrated Camera: Integrated C", 0), (1, "Integrated Camera: Integrated C", 1),
                                 (2, "HD Pro Webcam C920", 0)):
        os.symlink(node(tmp_path / "devices" / "pci" / f"video{number}", f"video{number}", label, index),
                   classes / f"video{number}")
    os.symlink(node(tmp_path / "devices" / "virtual" / "video4linux" / "video10", "video10", "PrivacyFilter"),
               classes / "video10")
    (classes / "not-a-node").mkdir()
    return classes


def test_lists_picture_nodes_with_names_and_marks_the_virtual_camera(sysfs, tmp_path) -> None:
    cameras = linux_cameras(sysfs, dev=tmp_path / "dev")
    assert [(c.index, c.device, c.name, c.virtual) for c in cameras] == [
        (0, str(tmp_path / "dev" / "video0"), "Integrated Camera: Integrated C", False),
        (2, str(tmp_path / "dev" / "video2"), "HD Pro Webcam C920", False),
        (10, str(tmp_path / "dev" / "video10"), "PrivacyFilter", True),
    ], "the metadata node (index 1) is left out"
    assert cameras[0].line().split() == ["0", str(tmp_path / "dev" / "video0"), "Integrated", "Camera:",
                                         "Integrated", "C", "(sizes", "not", "reported)"]
    assert "(virtual camera)" in cameras[2].line()


def test_a_camera_line_gives_its_sizes_largest_first() -> None:
    line = Camera(2, "/dev/video2", "HD Pro Webcam C920", [(1920, 1080), (1280, 720), (640, 480)]).line()
    assert line == "  2  /dev/video2    HD Pro Webcam C920 (1920x1080, 1280x720, 640x480)"


def test_sizes_of_something_that_is_no_device(tmp_path) -> None:
    plain = tmp_path / "video0"
    plain.write_bytes(b"")
    assert capture_sizes(str(plain)) == (None, [])
    assert capture_sizes(str(tmp_path / "missing")) == (None, [])


def test_input_by_device_path_link_or_name(sysfs, tmp_path) -> None:
    cameras = linux_cameras(sysfs, dev=tmp_path / "dev")
    assert camera_input("/dev/video2", cameras) == "2"
    by_id = tmp_path / "usb-046d_HD_Pro_Webcam_C920-video-index0"
    os.symlink("/dev/video2", by_id)  # as /dev/v4l/by-id/ has them
    assert camera_input(str(by_id), cameras) == "2"
    assert camera_input("c920", cameras) == "2"
    assert camera_input("Integrated", cameras) == "0", "one camera, though it has two nodes"
    assert camera_input("PrivacyFilter", cameras) is None, "the virtual camera is no input"
    assert camera_input("0", cameras) is None and camera_input("talk.mp4", cameras) is None
    cameras.append(Camera(4, "/dev/video4", "HD Pro Webcam C920", []))
    with pytest.raises(AmbiguousCamera, match=r"--input .C920. matches 2 cameras: .*/dev/video4 .*; give the device"):
        camera_input("C920", cameras)


@pytest.mark.skipif(HAVE_CAMERAS, reason="this machine has cameras: the 'none' case cannot be seen")
def test_list_cameras_with_none_says_so_in_one_line() -> None:
    result = run_cli("--list-cameras")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "privacy-filter: error: no camera found (none is plugged in, or your user may not open /dev/video*: "
        "group video)"]


@pytest.mark.skipif(HAVE_CAMERAS, reason="this machine has cameras")
def test_input_as_a_device_path_opens_that_camera() -> None:
    result = run_cli("--input", "/dev/video7", "--no-display", "--virtual-cam")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "camera 7" in lines[0], result.stderr
