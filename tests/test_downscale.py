"""Shrinking frames fast (privacy_filter/downscale.py), as the camera reader (--width) and the face detector do:
close to OpenCV's INTER_AREA on real frames, at the requested size."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import EVAL, PORTRAITS, needs_eval

from privacy_filter.io.capture import resize_to_width
from privacy_filter.render.downscale import shrink


def _clip_frame() -> np.ndarray:
    capture = cv2.VideoCapture(str(EVAL / "videos" / "asl_webcam_concat.mp4"))
    for _ in range(30):
        ok, frame = capture.read()
        assert ok
    capture.release()
    return frame


def _mean_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


@needs_eval
@pytest.mark.parametrize("size", [(640, 480), (1280, 720), (1920, 1080), (3840, 2160)])
def test_the_face_detectors_shrink_is_close_to_area_resizing(size):
    """The face detector's input (192 wide; max_ratio 8: 4K takes the pyrDown step) stays within a grey level
    of INTER_AREA on average on a real frame, at the requested size."""
    frame = cv2.resize(_clip_frame(), size, interpolation=cv2.INTER_CUBIC)
    target = (192, round(192 * size[1] / size[0]))
    fast = shrink(frame, target, max_ratio=8.0)
    area = cv2.resize(frame, target, interpolation=cv2.INTER_AREA)
    assert fast.shape == area.shape == (target[1], target[0], 3) and fast.dtype == np.uint8
    assert _mean_difference(fast, area) < 1.0


@needs_eval
@pytest.mark.parametrize("size", [(640, 480), (1280, 720), (1920, 1080)])
def test_the_camera_width_is_close_to_area_resizing(size):
    """A camera frame at --width 600 (the window's default): within half a grey level of imutils' INTER_AREA on
    average, on a webcam frame and on a portrait photo, with the height rounded down as imutils does."""
    portrait = cv2.imread(str(sorted((PORTRAITS / "images").glob("*.jpg"))[0]))
    for picture in (_clip_frame(), portrait):
        frame = cv2.resize(picture, size, interpolation=cv2.INTER_CUBIC)
        height = int(size[1] * 600 / size[0])
        out = resize_to_width(frame, 600)
        assert out.shape == (height, 600, 3) and out.dtype == np.uint8
        assert _mean_difference(out, cv2.resize(frame, (600, height), interpolation=cv2.INTER_AREA)) < 0.5


@needs_eval
def test_a_large_photo_is_halved_first_and_stays_close():
    """A photo over twice max_ratio times the target (4000 px wide -> 600) goes through cv2.pyrDown first."""
    photo = cv2.resize(cv2.imread(str(sorted((PORTRAITS / "images").glob("*.jpg"))[1])), (4000, 3000),
                       interpolation=cv2.INTER_CUBIC)
    out = resize_to_width(photo, 600)
    assert out.shape == (450, 600, 3)
    assert _mean_difference(out, cv2.resize(photo, (600, 450), interpolation=cv2.INTER_AREA)) < 1.0


def test_under_twice_the_size_is_one_bilinear_step():
    """Pure function on a synthetic picture: a small ratio is one INTER_LINEAR resize."""
    rng = np.random.default_rng(19)
    picture = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    np.testing.assert_array_equal(shrink(picture, (192, 128)),
                                  cv2.resize(picture, (192, 128), interpolation=cv2.INTER_LINEAR))
    strip = rng.integers(0, 256, (2, 4000, 3), dtype=np.uint8)  # the 4000x2 strip of --width's checks
    assert shrink(strip, (1000, 1)).shape == (1, 1000, 3)
