"""The seed's per-frame work, written the way the seed (PyImageSearch's 2018 ``instance_segmentation.py``)
writes it, so that the benchmark can time it in the same process, on the same frames, as our pipeline.

What makes it the seed's way: a full-frame ``cv2.GaussianBlur`` with the 41x41 kernel, a float mask resized
to the frame (nearest neighbour) and thresholded into a boolean mask, the person pasted back with numpy
boolean indexing, a fresh copy of the frame and fresh arrays every frame, and everything on one thread.

``seed_selfie_frame`` runs that compositing on the *same* selfie model and the same ``cv2.dnn`` call as our
pipeline, so the speed ratio measures our pipeline (compositing, overlap) and not a change of model.
``seed_mask_rcnn_frame`` is the seed's own loop body on its Mask R-CNN (the synchronous loop that the
asynchronous path is compared with).
"""

from __future__ import annotations

import cv2
import numpy as np

from privacy_filter.segment.mask_rcnn import run_net
from privacy_filter.segment.selfie import SelfieSegmenter


def seed_paste(frame: np.ndarray, box: tuple[int, int, int, int], mask: np.ndarray | None, kernel: int) -> np.ndarray:
    """The seed's compositing: blur the whole frame, paste the masked person back in their box.

    frame: HxWx3 uint8 BGR; box: (x1, y1, x2, y2) pixels; mask: bool, the box's size (None: nobody found,
    the frame goes out as it is, as in the seed). Returns a new HxWx3 uint8 array.
    """
    output = frame.copy()
    if mask is None:
        return output
    x1, y1, x2, y2 = box
    roi = frame[y1:y2, x1:x2][mask]
    output = cv2.GaussianBlur(output, (kernel, kernel), 0)
    output[y1:y2, x1:x2][mask] = roi
    return output


def seed_selfie_composite(frame: np.ndarray, probability: np.ndarray, kernel: int = 41,
                          threshold: float = 0.5) -> np.ndarray:
    """The seed's mask handling and compositing applied to a selfie probability map (hxw float32)."""
    height, width = frame.shape[:2]
    mask = cv2.resize(probability, (width, height), interpolation=cv2.INTER_NEAREST)
    mask = mask > threshold
    return seed_paste(frame, (0, 0, width, height), mask, kernel)


def seed_selfie_frame(segmenter: SelfieSegmenter, frame: np.ndarray, kernel: int = 41) -> np.ndarray:
    """One frame the seed's way on the selfie model: frame HxWx3 uint8 BGR -> filtered HxWx3 uint8 BGR."""
    return seed_selfie_composite(frame, segmenter.process(frame), kernel)


def seed_mask_rcnn_frame(net: cv2.dnn.Net, person_class_id: int, frame: np.ndarray, confidence: float = 0.5,
                         threshold: float = 0.3, kernel: int = 41) -> np.ndarray:
    """The seed's loop body on its Mask R-CNN: forward pass, the best-scoring person above ``confidence``,
    its 15x15 mask resized into its box (nearest) and cut at ``threshold``, then ``seed_paste``."""
    height, width = frame.shape[:2]
    boxes, masks = run_net(net, frame)
    order = np.argsort(boxes[0, 0, :, 2])[::-1]
    box, mask = (0, 0, 0, 0), None
    for i in order:
        class_id = int(boxes[0, 0, i, 1])
        if class_id != person_class_id or boxes[0, 0, i, 2] <= confidence:
            continue
        x1, y1, x2, y2 = (boxes[0, 0, i, 3:7] * np.array([width, height, width, height])).astype("int")
        # The seed does not clip boxes to the frame; numpy slicing then silently crops. Clip here so that a
        # box poking out of the frame does not make the pasted mask and the slice disagree in size.
        x1, x2 = np.clip([x1, x2], 0, width)
        y1, y2 = np.clip([y1, y2], 0, height)
        if x2 <= x1 or y2 <= y1:
            continue
        small = masks[i, class_id]
        mask = cv2.resize(small, (int(x2 - x1), int(y2 - y1)), interpolation=cv2.INTER_NEAREST) > threshold
        box = (int(x1), int(y1), int(x2), int(y2))
        break
    return seed_paste(frame, box, mask, kernel)
