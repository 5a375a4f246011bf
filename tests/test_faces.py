"""The face detector (people/faces.py, people/anchors.py) on real portraits and the three-person clip."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import EVAL, PORTRAITS, needs_eval

from privacy_filter.people.anchors import Detections, iou, ssd_anchors, weighted_nms
from privacy_filter.people.faces import FaceDetector
from privacy_filter.segment.runtime import LITERT, OPENCV

THREE_PEOPLE = EVAL / "videos" / "face-demographics-walking-and-pause.mp4"


def test_anchor_counts_match_the_models_outputs():
    assert ssd_anchors(128, (8, 16, 16, 16)).shape == (896, 2)
    assert ssd_anchors(192, (4,), 1).shape == (2304, 2)
    assert ssd_anchors(224, (8, 16, 32, 32, 32)).shape == (2254, 2)
    first = ssd_anchors(128, (8, 16, 16, 16))
    assert first[0].tolist() == [0.5 / 16, 0.5 / 16] and first[1].tolist() == [0.5 / 16, 0.5 / 16]
    assert first[2].tolist() == [1.5 / 16, 0.5 / 16]


def test_weighted_nms_merges_a_cluster_and_keeps_apart_ones():
    boxes = np.array([[0, 0, 1, 1], [0.1, 0, 1.1, 1], [3, 3, 4, 4]], np.float32)
    keypoints = np.zeros((3, 6, 2), np.float32)
    merged = weighted_nms(Detections(boxes, keypoints, np.array([0.9, 0.6, 0.7], np.float32)))
    assert len(merged.scores) == 2
    assert merged.scores.tolist() == pytest.approx([0.9, 0.7])
    assert merged.boxes[0][0] == pytest.approx(0.1 * 0.6 / 1.5)  # score-weighted mean of the cluster
    assert iou(boxes[0], boxes[2:]).tolist() == [0.0]


def _portraits(count: int):
    for image_path in sorted((PORTRAITS / "images").glob("*.jpg"))[:count]:
        mask = cv2.imread(str(PORTRAITS / "masks" / (image_path.stem + ".png")), cv2.IMREAD_GRAYSCALE)
        yield cv2.imread(str(image_path)), mask


@needs_eval
@pytest.mark.parametrize("model", ["full", "short"])
def test_finds_the_face_of_each_portrait_on_the_person(model):
    detector = FaceDetector(model)
    found = 0
    portraits = list(_portraits(20))
    for frame, mask in portraits:
        faces = detector.detect(frame)
        if not faces:
            continue
        found += 1
        best = faces[0]
        x, y = (int(v) for v in best.keypoints[2])  # the nose tip lies on the person
        assert mask[y, x] > 127
        assert 0.05 * frame.shape[1] < best.width < 0.9 * frame.shape[1]
    assert found >= 18, f"faces found in {found} of {len(portraits)} portraits"


@needs_eval
def test_three_people_side_by_side_are_three_faces_left_to_right():
    capture = cv2.VideoCapture(str(THREE_PEOPLE))
    for _ in range(20):
        ok, frame = capture.read()
    assert ok
    faces = FaceDetector("full").detect(frame)
    assert len(faces) == 3
    centres = sorted(face.centre[0] for face in faces)
    width = frame.shape[1]
    assert centres[0] < width / 3 < centres[1] < 2 * width / 3 < centres[2]


@needs_eval
def test_both_runtimes_find_the_same_faces():
    frame, _ = next(_portraits(1))
    # Same file, two runtimes: boxes agree within 1 pixel on an 800-pixel portrait, scores within 0.01.
    a = FaceDetector("full", runtime=LITERT).detect(frame)
    b = FaceDetector("full", runtime=OPENCV).detect(frame)
    assert len(a) == len(b) == 1
    assert np.abs(np.array(a[0].box) - np.array(b[0].box)).max() < 1.0
    assert abs(a[0].score - b[0].score) < 0.01


def test_a_blank_frame_has_no_face():
    assert FaceDetector("full").detect(np.full((480, 640, 3), 128, np.uint8)) == []
