"""Segmenter: the seed's Mask R-CNN (TensorFlow Inception-v2, COCO), run by OpenCV's dnn module.

One object, one verb, like ``selfie.SelfieSegmenter``::

    segmenter = MaskRCNNSegmenter(Path("mask-rcnn-coco"), confidence=0.5)
    people = segmenter.process(frame)  # frame: HxWx3 uint8 BGR -> list[Person], best score first
    keep = hard_mask(people[0], threshold=0.3)  # HxW bool, the seed's --threshold cut

The model folder holds the seed's three files (see ``mask-rcnn-coco/README.md``); the weights are not in
the repository: ``python instance_segmentation.py --download-mask-rcnn`` fetches them (``download``).

Unlike the selfie model, every person is its own instance: ``Person.mask`` is on the *frame* grid (HxW),
the 15x15 class mask resized into the person's box and zero elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import cv2
import numpy as np

from ..errors import ModelError
from ..person import Person

WEIGHTS_NAME = "frozen_inference_graph.pb"
GRAPH_NAME = "mask_rcnn_inception_v2_coco_2018_01_28.pbtxt"
LABELS_NAME = "object_detection_classes_coco.txt"
# In a checkout: the repository's own mask-rcnn-coco/ (the seed's folder; its labels file is committed there),
# wherever the program is started from. Installed (`pip install .`), there is no such folder beside the package:
# the user's cache folder, which the installed command's --download-mask-rcnn fills.
CHECKOUT_MODEL_DIR = Path(__file__).resolve().parents[2] / "mask-rcnn-coco"


def user_cache_dir(environ: Mapping[str, str] | None = None, platform: str | None = None) -> Path:
    """The per-user cache folder for downloaded models: $XDG_CACHE_HOME/privacy-filter (~/.cache/...) on Linux,
    ~/Library/Caches/privacy-filter on macOS, %LOCALAPPDATA%\\privacy-filter\\Cache on Windows."""
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    home = Path(environ.get("HOME") or Path.home())
    if platform == "win32":
        return Path(environ.get("LOCALAPPDATA") or home / "AppData" / "Local") / "privacy-filter" / "Cache"
    if platform == "darwin":
        return home / "Library" / "Caches" / "privacy-filter"
    return Path(environ.get("XDG_CACHE_HOME") or home / ".cache") / "privacy-filter"


def default_model_dir() -> Path:
    """Where --mask-rcnn points unless given: the checkout's mask-rcnn-coco/, else the user's cache folder."""
    if (CHECKOUT_MODEL_DIR / LABELS_NAME).is_file():  # the labels file is committed there; the model is not
        return CHECKOUT_MODEL_DIR
    return user_cache_dir() / "mask-rcnn-coco"


MODEL_FILES = (WEIGHTS_NAME, GRAPH_NAME, LABELS_NAME)
# detection_out_final: 1x1xNx7 rows [batch, class id, score, x1, y1, x2, y2] (box normalised to [0, 1]);
# detection_masks: Nx90x15x15 sigmoid masks, one channel per class id, spanning each row's box.
OUTPUT_NAMES = ("detection_out_final", "detection_masks")
FETCH_COMMAND = "python instance_segmentation.py --download-mask-rcnn"


def fetch_hint(model_dir: Path) -> str:
    """The command that puts the model files into ``model_dir``, as the user started the program (the installed
    ``privacy-filter`` command, or the script in a checkout)."""
    command = FETCH_COMMAND
    if Path(sys.argv[0]).name == "privacy-filter":
        command = "privacy-filter --download-mask-rcnn"
    if Path(model_dir).resolve() == default_model_dir().resolve():
        return command
    return f"{command} --mask-rcnn {model_dir}"


def load_labels(path: Path) -> list[str]:
    """Class names, line i = class id i (blank lines kept so ids stay aligned, trailing ones dropped)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return [line.strip() for line in lines]


@contextlib.contextmanager
def quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's own log while loading: a failed load prints multi-line C++ traces to stderr,
    and the user must see one line (ours) instead."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(level)


def read_net(weights: Path, graph: Path) -> cv2.dnn.Net:
    """Load the TF graph pair; raises cv2.error if it does not parse.

    OpenCV 5's default engine only returns the graph's final output (``detection_masks``) unless told of
    the others, and the seed asks for both, so ``detection_out_final`` is declared an extra output.
    """
    with quiet_opencv():
        net = cv2.dnn.readNetFromTensorflow(str(weights), str(graph), extraOutputs=[OUTPUT_NAMES[0]])
    if net.empty():
        raise cv2.error("the network is empty")
    return net


def make_blob(frame: np.ndarray) -> np.ndarray:
    """The seed's input: HxWx3 uint8 BGR -> 1x3xHxW float32 RGB, unscaled."""
    # As the seed: no resizing or scaling here, the graph's own preprocessing does that (x 2/255 - 1).
    return cv2.dnn.blobFromImage(frame, swapRB=True, crop=False)


def forward_blob(net: cv2.dnn.Net, blob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The seed's forward pass on a ``make_blob`` blob: (boxes 1x1xNx7, masks NxCx15x15)."""
    net.setInput(blob)
    boxes, masks = net.forward(list(OUTPUT_NAMES))
    return boxes, masks


def run_net(net: cv2.dnn.Net, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The seed's forward pass: (boxes 1x1xNx7, masks NxCx15x15) for a HxWx3 uint8 BGR frame."""
    return forward_blob(net, make_blob(frame))


def parse_detections(
    boxes: np.ndarray,
    masks: np.ndarray,
    frame_size: tuple[int, int],
    confidence: float,
    person_class_id: int,
) -> list[Person]:
    """People among the raw network outputs, best score first.

    boxes: 1x1xNx7 float rows [batch, class id, score, x1, y1, x2, y2], box normalised to [0, 1].
    masks: NxCx15x15 float sigmoid masks (C = 90 for COCO); row i's mask is channel ``class id`` of masks[i],
        spanning row i's box.
    frame_size: (W, H) of the frame the outputs belong to.
    Returns one Person per row of class ``person_class_id`` with score > ``confidence``: box clipped to
    [0, 1]; mask HxW float32 in [0, 1], the class mask resized bilinearly into the box, zero outside.
    Rows with a NaN score or box, and boxes that cover no whole pixel once clipped to the frame, are dropped
    (so are the all-zero rows OpenCV pads its output with, whose class id 0 is "person": their box is empty).
    """
    width, height = int(frame_size[0]), int(frame_size[1])
    rows = np.asarray(boxes, dtype=np.float32).reshape(-1, 7)
    masks = np.asarray(masks)
    if masks.ndim != 4 or masks.shape[0] < len(rows):
        raise ValueError(f"masks of shape {masks.shape} do not match {len(rows)} detections")
    if not 0 <= person_class_id < masks.shape[1]:
        raise ValueError(f"person class id {person_class_id} not among {masks.shape[1]} mask channels")
    with np.errstate(invalid="ignore"):  # NaN scores or boxes compare False and are dropped
        keep = (
            (rows[:, 1] == person_class_id)
            & (rows[:, 2] > confidence)
            & np.isfinite(rows[:, 3:7]).all(axis=1)
        )
    people = []
    for index in np.flatnonzero(keep):
        row = rows[index]
        x1, x2 = sorted(float(x) for x in np.clip(row[[3, 5]], 0.0, 1.0))
        y1, y2 = sorted(float(y) for y in np.clip(row[[4, 6]], 0.0, 1.0))
        # Pixel extent of the box: its edges rounded to the nearest pixel boundary.
        left, right = round(x1 * width), round(x2 * width)
        top, bottom = round(y1 * height), round(y2 * height)
        if right <= left or bottom <= top:
            continue
        small = np.nan_to_num(masks[index, person_class_id].astype(np.float32), nan=0.0)
        mask = np.zeros((height, width), np.float32)
        mask[top:bottom, left:right] = cv2.resize(small, (right - left, bottom - top), interpolation=cv2.INTER_LINEAR)
        np.clip(mask, 0.0, 1.0, out=mask)
        people.append(Person(float(row[2]), (x1, y1, x2, y2), mask))
    people.sort(key=lambda person: person.score, reverse=True)
    return people


def hard_mask(person: Person, threshold: float = 0.3) -> np.ndarray:
    """The seed's cut of a soft mask: mask > threshold (``--threshold``, default 0.3), same grid, bool."""
    return person.mask > threshold


class MaskRCNNSegmenter:
    """People in a frame, each with a score, a box and a soft mask, from the seed's Mask R-CNN.

    model_dir: folder with frozen_inference_graph.pb, the .pbtxt text graph and the COCO labels.
    confidence: minimum detection score (the seed's ``--confidence``, default 0.5).
    process(frame: HxWx3 uint8 BGR) -> list[Person], best score first, masks HxW float32 in [0, 1].
    """

    def __init__(self, model_dir: Path | None = None, confidence: float = 0.5) -> None:
        self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        self.confidence = float(confidence)
        missing = [name for name in MODEL_FILES if not (self.model_dir / name).is_file()]
        if missing:
            raise ModelError(
                f"Mask R-CNN model not found in {self.model_dir}/ (missing {', '.join(missing)}); "
                f"fetch it with: {fetch_hint(self.model_dir)}"
            )
        try:
            self.labels = load_labels(self.model_dir / LABELS_NAME)
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelError(f"cannot read {self.model_dir / LABELS_NAME}: {exc}") from None
        if "person" not in self.labels:
            raise ModelError(f"{self.model_dir / LABELS_NAME} has no 'person' class; "
                             f"restore it with: {fetch_hint(self.model_dir)}")
        self.person_class_id = self.labels.index("person")
        try:
            self._net = read_net(self.model_dir / WEIGHTS_NAME, self.model_dir / GRAPH_NAME)
        except cv2.error as exc:
            raise ModelError(
                f"Mask R-CNN model in {self.model_dir}/ does not load ({opencv_message(exc)}); "
                f"fetch it again with: {fetch_hint(self.model_dir)}"
            ) from None

    def process(self, frame: np.ndarray) -> list[Person]:
        """frame: HxWx3 uint8 BGR -> every person above ``confidence``, best first (masks on the HxW grid)."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 BGR frame, got {frame.shape} {frame.dtype}")
        boxes, masks = self.infer(make_blob(frame))
        height, width = frame.shape[:2]
        return parse_detections(boxes, masks, (width, height), self.confidence, self.person_class_id)

    def infer(self, blob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """blob from ``make_blob`` -> the raw outputs (boxes 1x1xNx7, masks NxCx15x15); ``parse_detections``
        turns them into people. process() in steps, so that a benchmark can time them apart."""
        try:
            return forward_blob(self._net, blob)
        except cv2.error as exc:
            # A weights file that parses but does not fit the text graph only fails here.
            raise ModelError(
                f"Mask R-CNN model in {self.model_dir}/ does not run ({opencv_message(exc)}); "
                f"fetch it again with: {fetch_hint(self.model_dir)}"
            ) from None


def opencv_message(exc: BaseException) -> str:
    """The message proper of an OpenCV error, on one line, without its C++ file, code and function."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    # "OpenCV(5.0.0) /io/.../file.cpp:42: error: (-2:Unspecified error) message in function 'f'"
    message = lines[0].split("error:", 1)[-1]
    message = re.sub(r"^\s*\(-?\d+:[^)]*\)\s*", "", message)
    message = re.split(r"(?:^|\s)in function ", message)[0].strip()
    if not message and len(lines) > 1:  # assertion style: the message is on the "> ..." lines
        message = lines[1].lstrip("> ").strip()
    return message or lines[0]
