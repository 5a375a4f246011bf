"""MediaPipe's single-shot detectors (BlazeFace, BlazePose detection): anchors, letterbox, decoding, NMS.

Pure functions on numpy arrays, shared by the face and body detectors. The scheme is MediaPipe's
``SsdAnchorsCalculator`` with ``fixed_anchor_size``: each feature-map cell of stride s holds 2 anchors per layer
of that stride, centred on the cell; consecutive layers with the same stride share one grid. The model regresses
each anchor's box centre, size and keypoints in input pixels, relative to the anchor.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..render.downscale import shrink


def ssd_anchors(input_size: int, strides: tuple[int, ...], anchors_per_layer: int = 2) -> np.ndarray:
    """Anchor centres for a square input: Nx2 float32 (x, y) in [0, 1], in the model's output order.

    BlazeFace short range: (128, (8, 16, 16, 16)) -> 896; pose detection: (224, (8, 16, 32, 32, 32)) -> 2254;
    BlazeFace full range: (192, (4,), 1) -> 2304.
    """
    centres = []
    layer = 0
    while layer < len(strides):
        stride = strides[layer]
        same = 1
        while layer + same < len(strides) and strides[layer + same] == stride:
            same += 1
        cells = int(np.ceil(input_size / stride))
        ys, xs = np.mgrid[0:cells, 0:cells].astype(np.float32)
        grid = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], axis=-1).reshape(-1, 1, 2)
        centres.append(np.repeat(grid, anchors_per_layer * same, axis=1).reshape(-1, 2))
        layer += same
    return np.concatenate(centres).astype(np.float32)


@dataclass(frozen=True)
class Letterbox:
    """Where a frame sits inside the model's square input (aspect ratio kept, padded with black)."""

    scale: float  # input pixels per frame pixel
    pad_x: float  # input pixels of padding on the left
    pad_y: float  # ... and on top
    size: int  # the model's input side

    def to_frame(self, points: np.ndarray) -> np.ndarray:
        """...x2 points in normalised input coordinates [0, 1] -> frame pixels."""
        out = np.empty_like(points, dtype=np.float32)
        out[..., 0] = (points[..., 0] * self.size - self.pad_x) / self.scale
        out[..., 1] = (points[..., 1] * self.size - self.pad_y) / self.scale
        return out


def letterbox(frame: np.ndarray, size: int, fast: bool = False) -> tuple[np.ndarray, Letterbox]:
    """frame: HxWx3 uint8 BGR -> (1 x size x size x 3 float32 RGB in [-1, 1], where the frame went).
    fast: shrink the frame with ``downscale.shrink`` (close to, not exactly, ``cv2.INTER_AREA``; ~0.3 ms instead
    of 1.3 ms at 640x480 and 3.4 ms from 1280x720 on one core of a 2-core AVX2 CPU)."""
    height, width = frame.shape[:2]
    scale = size / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    pad_x, pad_y = (size - new_w) // 2, (size - new_h) // 2
    if scale >= 1:
        resized = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    elif fast:
        resized = shrink(frame, (new_w, new_h), max_ratio=8.0)
    else:
        resized = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_AREA)
    canvas = np.zeros((size, size, 3), np.uint8)
    canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB)
    tensor = canvas.astype(np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0)
    return tensor[np.newaxis], Letterbox(scale, pad_x, pad_y, size)


@dataclass
class Detections:
    """N detections in normalised input coordinates: boxes Nx4 (x0, y0, x1, y1), keypoints NxKx2, scores N."""

    boxes: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray


def decode(
    raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray, input_size: int, min_score: float
) -> Detections:
    """Model outputs -> the detections scoring at least ``min_score``.

    raw_boxes: (1x)Nx(4+2K) float32 (centre x, centre y, w, h, then K keypoints, in input pixels relative to the
    anchor); raw_scores: (1x)Nx1 logits; anchors: Nx2 from ``ssd_anchors``.
    """
    raw_boxes = raw_boxes.reshape(anchors.shape[0], -1)
    # MediaPipe clips at +-100; float32 exp overflows past ~88, and +-80 gives the same scores to 1e-34.
    logits = np.clip(raw_scores.reshape(-1), -80.0, 80.0)
    scores = 1.0 / (1.0 + np.exp(-logits))
    keep = scores >= min_score
    raw, anchor, scores = raw_boxes[keep] / np.float32(input_size), anchors[keep], scores[keep]
    centre = raw[:, 0:2] + anchor
    half = raw[:, 2:4] / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    keypoints = raw[:, 4:].reshape(len(raw), (raw_boxes.shape[1] - 4) // 2, 2) + anchor[:, np.newaxis, :]
    return Detections(boxes.astype(np.float32), keypoints.astype(np.float32), scores.astype(np.float32))


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of one x0,y0,x1,y1 box with each of Nx4 boxes -> N float32."""
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return (inter / np.maximum(area + areas - inter, 1e-9)).astype(np.float32)


def weighted_nms(detections: Detections, iou_threshold: float = 0.3) -> Detections:
    """MediaPipe's weighted non-maximum suppression: each cluster of overlapping detections becomes one, its box
    and keypoints the score-weighted mean of the cluster, its score the best one. Best first."""
    order = np.argsort(-detections.scores)
    boxes, keypoints, scores = detections.boxes[order], detections.keypoints[order], detections.scores[order]
    remaining = np.ones(len(scores), bool)
    out_boxes, out_keypoints, out_scores = [], [], []
    for i in range(len(scores)):  # a loop over detections (a handful), not pixels
        if not remaining[i]:
            continue
        cluster = remaining & (iou(boxes[i], boxes) >= iou_threshold)
        cluster[i] = True
        weights = scores[cluster][:, np.newaxis]
        total = weights.sum()
        out_boxes.append((boxes[cluster] * weights).sum(0) / total)
        out_keypoints.append((keypoints[cluster] * weights[:, :, np.newaxis]).sum(0) / total)
        out_scores.append(scores[i])
        remaining &= ~cluster
    if not out_scores:
        return Detections(
            np.zeros((0, 4), np.float32), np.zeros((0, *keypoints.shape[1:]), np.float32), np.zeros(0, np.float32)
        )
    return Detections(
        np.array(out_boxes, np.float32), np.array(out_keypoints, np.float32), np.array(out_scores, np.float32)
    )
