"""Bodies without faces: Google's MoveNet MultiPose Lightning, run by LiteRT. One object, one verb::

    bodies = MultiPoseDetector().detect(frame)   # frame: HxWx3 uint8 BGR -> list[Body], best score first

Up to 6 people, each with 17 COCO keypoints, a box and a score: a person seen from the side, from behind or
half hidden is found by their body, where the face detector finds nothing. Input int32 1x256x256x3, RGB 0-255,
letterboxed (aspect kept, padded right/bottom with 0); output float32 1x6x56 (../shared/README.md).
Cost: 31-42 ms at one LiteRT thread on a loaded 2-core AMD EPYC (AVX-512), fp32: the people stage runs it
rarely for a lone user (``stage.FacePeople``). cv2.dnn (the fallback runtime) cannot load it ("Unsupported
operator type ABS"): the constructor then raises ``BodiesUnavailable`` and the stage runs on faces alone.
Another MoveNet file (a quantised variant, ``tools/quantize_movenet.py``) is run by naming it:
``MultiPoseDetector(model_path=...)`` or $PRIVACY_FILTER_MOVENET (``model_file``); such a file that is missing or
does not load is a ModelError, never a silent fall-back to faces.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import ModelError
from ..segment.models import BUNDLED_MODELS_DIR, PEOPLE_MODELS, verified_path
from ..segment.runtime import LITERT, TFLiteModel, available_runtime
from .bodies import BodiesUnavailable
from .bodies import Body as PoseBody

MODEL = "movenet_multipose_lightning_256.tflite"
MODEL_ENV = "PRIVACY_FILTER_MOVENET"  # a MoveNet file to run instead of the bundled one (benchmarks of variants)
SIDE = 256
MIN_SCORE = 0.2  # a person's score to keep (../shared/README.md: 0.15-0.3); at 0.2 it found 32 of 82 slivers
KEYPOINT_SCORE = 0.2  # a keypoint this sure is used to draw its person's skeleton
# pose_landmark's crop from a MoveNet body (``pose_body``), fitted on the TUNE half against MediaPipe's pose
# detector (eg1800 portraits, COCO photos at even positions, the webcam clip; /tmp scratch, RESULTS.md):
TORSO_SURE = 0.3  # both shoulders and both hips this sure: the hip centre and the torso's axis are MoveNet's
REACH = 1.1  # the detector's body radius / the farthest sure keypoint from the hip centre (median 1.06; a bit more
# never cuts the body off the crop)
FACE_TO_HIP = 3.1  # hips out of view: the hip centre this many face widths below the face's centre (eg1800)
FACE_RADIUS = 3.9  # ...and the body radius in face widths (detector: median 3.93, IQR 0.6)
SHOULDER_SIDE = 1.3  # ...shifted sideways by this times the shoulder centre's offset from the face (fit: resid.
# 0.20 face widths against 0.28 unshifted)
HEAD_MATCH = 1.0  # a body whose head keypoints' centre is this close (face widths) to a face is that face's

# COCO keypoint order.
NOSE, LEFT_EYE, RIGHT_EYE, LEFT_EAR, RIGHT_EAR = 0, 1, 2, 3, 4
LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_ELBOW, RIGHT_ELBOW, LEFT_WRIST, RIGHT_WRIST = 5, 6, 7, 8, 9, 10
LEFT_HIP, RIGHT_HIP, LEFT_KNEE, RIGHT_KNEE, LEFT_ANKLE, RIGHT_ANKLE = 11, 12, 13, 14, 15, 16
HEAD = (NOSE, LEFT_EYE, RIGHT_EYE, LEFT_EAR, RIGHT_EAR)


@dataclass(frozen=True)
class Body:
    """One person MoveNet found, in frame pixels.

    keypoints: 17x2 float32 (x, y), COCO order; keypoint_scores: 17 float32 in [0, 1];
    box: (x0, y0, x1, y1) float; score: the person's score in [0, 1].
    """

    keypoints: np.ndarray
    keypoint_scores: np.ndarray
    box: tuple[float, float, float, float]
    score: float

    def seen(self, min_score: float = KEYPOINT_SCORE) -> np.ndarray:
        """17 bools: the keypoints sure enough to draw."""
        return self.keypoint_scores >= min_score


def pose_body(body: Body, face: tuple[float, float, float, float] | None = None) -> PoseBody:
    """The pose detector's answer for this MoveNet body: a ``bodies.Body`` whose ``roi()`` is the crop MediaPipe's
    pose graph gives pose_landmark (hip centre, body radius along the body's axis), without running the detector.

    face: the person's face box (x0, y0, x1, y1, frame pixels), or None (the head keypoints stand in for it).
    With shoulders and hips seen (waist-up and further), the hip centre and the hip -> shoulder axis are
    MoveNet's, the radius REACH x the farthest sure keypoint; with the hips out of view (a head-and-shoulders
    webcam), the crop hangs from the face as the detector's does (FACE_TO_HIP, FACE_RADIUS), turned as the
    shoulder line when both shoulders are sure. The returned box is the face (matched to faces like the
    detector's face-ish box)."""
    points, scores = body.keypoints.astype(np.float64), body.keypoint_scores
    if face is None:
        centre = head_centre(body)
        ears = float(np.hypot(*(points[LEFT_EAR] - points[RIGHT_EAR])))
        width = max(ears * 1.17, 2.5 * float(np.hypot(*(points[LEFT_EYE] - points[RIGHT_EYE]))), 1.0)
        face = (centre[0] - width / 2, centre[1] - width / 2, centre[0] + width / 2, centre[1] + width / 2)
    fx, fy = (face[0] + face[2]) / 2, (face[1] + face[3]) / 2
    width = max(face[2] - face[0], 1.0)
    shoulders = (points[LEFT_SHOULDER] + points[RIGHT_SHOULDER]) / 2
    torso = scores[[LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP]].min() >= TORSO_SURE
    hips = (points[LEFT_HIP] + points[RIGHT_HIP]) / 2
    axis = shoulders - hips
    if torso and np.hypot(*axis) > 0.5 * width:
        up = axis / np.hypot(*axis)
        sure = points[scores >= TORSO_SURE]
        radius = REACH * float(np.hypot(*(sure - hips).T).max())
        centre = hips
    else:
        up = np.array([0.0, -1.0])
        if scores[[LEFT_SHOULDER, RIGHT_SHOULDER]].min() >= TORSO_SURE:
            across = points[LEFT_SHOULDER] - points[RIGHT_SHOULDER]  # the person's left is the image's right
            if np.hypot(*across) > 0.5 * width:
                up = np.array([across[1], -across[0]]) / np.hypot(*across)
                if up @ (np.array([fx, fy]) - shoulders) < 0:
                    up = -up  # seen from behind, the shoulders swap sides: up is still towards the head
        radius = FACE_RADIUS * width
        # The body sits under the shoulders, not always under the face (a head turned or leant to one side):
        # the detector's hip centre follows the shoulder centre's side offset SHOULDER_SIDE-fold (even where
        # MoveNet is unsure of the shoulders, at the frame's edges), at most a face width.
        right = np.array([-up[1], up[0]])
        side = float(np.clip(SHOULDER_SIDE * (shoulders - (fx, fy)) @ right, -width, width))
        centre = np.array([fx, fy]) - up * FACE_TO_HIP * width + right * side
    keypoints = np.array([centre, centre + up * radius, shoulders, shoulders], np.float32)
    return PoseBody((float(face[0]), float(face[1]), float(face[2]), float(face[3])), body.score, keypoints)


def head_centre(body: Body) -> np.ndarray:
    """The head keypoints' centre (x, y), weighted by their scores (seen from behind: the ears)."""
    weights = np.maximum(body.keypoint_scores[list(HEAD)], 1e-3)
    return (body.keypoints[list(HEAD)] * weights[:, None]).sum(0) / weights.sum()


def pose_bodies(bodies: list[Body], faces: list[tuple[float, float, float, float]]) -> list[PoseBody]:
    """The pose crop (``pose_body``) of each face that has a MoveNet body, one whose head is within HEAD_MATCH
    face widths of it, in the faces' order (a face with none is left out: the caller follows its last body or
    runs the pose detector). faces: boxes (x0, y0, x1, y1) in frame pixels."""
    found = []
    for face in faces:
        centre = np.array([(face[0] + face[2]) / 2, (face[1] + face[3]) / 2])
        distance, body = min(((float(np.hypot(*(head_centre(b) - centre))), b) for b in bodies),
                             key=lambda pair: pair[0], default=(np.inf, None))
        if body is not None and distance <= HEAD_MATCH * max(face[2] - face[0], 1.0):
            found.append(pose_body(body, face))
    return found


def decode(output: np.ndarray, frame_hw: tuple[int, int], min_score: float = MIN_SCORE) -> list[Body]:
    """MoveNet's 1x6x56 (or 6x56) float32 output -> bodies in frame pixels, best score first.

    The input was the frame letterboxed into SIDE x SIDE from the top-left corner, so a normalised coordinate
    times the frame's longer side is a frame pixel. Raises ModelError on non-finite values (fail closed)."""
    rows = np.asarray(output, np.float32).reshape(-1, 56)
    if not np.all(np.isfinite(rows)):
        raise ModelError("MoveNet returned non-finite values")
    height, width = frame_hw
    longer = float(max(height, width))
    bodies = []
    for row in rows[np.argsort(-rows[:, 55], kind="stable")]:
        score = float(row[55])
        if score < min_score:
            continue
        points = row[:51].reshape(17, 3)
        keypoints = np.ascontiguousarray(points[:, 1::-1] * longer, dtype=np.float32)  # (y, x) -> (x, y)
        y0, x0, y1, x1 = (float(v) * longer for v in row[51:55])
        box = (max(0.0, x0), max(0.0, y0), min(float(width), x1), min(float(height), y1))
        if box[2] <= box[0] or box[3] <= box[1]:
            continue
        bodies.append(Body(keypoints, np.ascontiguousarray(points[:, 2], dtype=np.float32), box, score))
    return bodies


def letterbox_int(frame: np.ndarray, side: int = SIDE) -> np.ndarray:
    """frame: HxWx3 uint8 BGR -> 1 x side x side x 3 int32 RGB 0-255, the frame scaled to fit from the top-left
    corner (aspect kept), the rest 0."""
    height, width = frame.shape[:2]
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    tensor = np.zeros((1, side, side, 3), np.int32)
    tensor[0, : size[1], : size[0]] = small[..., ::-1]
    return tensor


def model_file(model_dir: str | Path | None = None, model_path: str | Path | None = None) -> Path:
    """The MoveNet file to load: ``model_path``, else $PRIVACY_FILTER_MOVENET, else the bundled file in
    ``model_dir`` (or $PRIVACY_FILTER_MODEL_DIR, or models/) checked against its SHA-256. A file named by the
    first two (a quantised variant, say) is not sha-checked: it is the caller's choice; it must still load
    (else ModelError) and give MoveNet's float32 1x6x56 output (``detect`` raises ModelError on another dtype).
    Raises ModelError (one line) if that file does not exist."""
    chosen = model_path or os.environ.get(MODEL_ENV) or None
    if chosen is not None:
        path = Path(chosen)
        if not path.is_file():
            source = "model_path" if model_path else f"${MODEL_ENV}"
            raise ModelError(f"MoveNet model not found at {path} (from {source})")
        return path
    folder = Path(model_dir or os.environ.get("PRIVACY_FILTER_MODEL_DIR") or BUNDLED_MODELS_DIR)
    return verified_path(folder / MODEL, PEOPLE_MODELS[MODEL], "MoveNet model")


class MultiPoseDetector:
    """detect(frame: HxWx3 uint8 BGR) -> list[Body] in frame pixels (keypoints, box, score), best first."""

    def __init__(self, model_dir: str | Path | None = None, threads: int | None = None,
                 min_score: float = MIN_SCORE, model_path: str | Path | None = None) -> None:
        path = model_file(model_dir, model_path)  # missing/corrupt: ModelError
        named = bool(model_path or os.environ.get(MODEL_ENV))
        kwargs = {} if threads is None else {"threads": threads}
        if available_runtime() != LITERT:  # no LiteRT wheel, or PRIVACY_FILTER_RUNTIME=cv2
            raise BodiesUnavailable(f"cannot load model {path} with cv2.dnn: Unsupported operator type ABS")
        try:
            # LiteRT only: cv2.dnn cannot load the file (ABS), and trying it just to fail costs a second.
            self._model = TFLiteModel(path, runtime=LITERT, **kwargs)
        except ModelError as error:
            if named:  # a file asked for by name: say it does not load, do not fall back to faces only
                raise
            raise BodiesUnavailable(str(error)) from None
        self.min_score = min_score
        self.path, self.named = path, named

    def describe(self) -> str:
        """For the startup line and the ``f`` overlay: "MoveNet MultiPose 256x256 on LiteRT, 1 thread"."""
        variant = f" ({self.path.name})" if self.named else ""
        return f"MoveNet MultiPose {SIDE}x{SIDE}{variant} on {self._model.describe()}"

    def detect(self, frame: np.ndarray) -> list[Body]:
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"detect: expected HxWx3 uint8 BGR, got {frame.shape} {frame.dtype}")
        return self.detect_letterboxed(letterbox_int(frame), frame.shape[:2])

    def detect_letterboxed(self, tensor: np.ndarray, frame_hw: tuple[int, int]) -> list[Body]:
        """``detect`` in two steps: tensor = letterbox_int(frame) (cheap, now), the model on it (later: the
        people stage defers the run to the worker's idle time)."""
        output = next(iter(self._model.run(tensor).values()))
        if output.dtype != np.float32:  # e.g. a fully int8 variant: its raw integers are not coordinates
            raise ModelError(f"MoveNet model {self._model.path} gives {output.dtype} output, not float32")
        return decode(output, frame_hw, self.min_score)
