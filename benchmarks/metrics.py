"""Quality metrics for person mattes against ground-truth masks (pure functions, no state).

Array contract: ``alpha`` is HxW float32 in [0, 1] (a matte; thresholded at 0.5 where a binary mask is
needed), ``truth`` is HxW bool or uint8 (non-zero = person). Both on the same grid.

* ``iou``: intersection over union of the binary masks.
* ``boundary_f``: the contour accuracy F of Perazzi et al., *A Benchmark Dataset and Evaluation Methodology
  for Video Object Segmentation* (DAVIS, CVPR 2016): precision and recall of the predicted boundary
  pixels against the true ones, each counted as matched when within ``tolerance`` pixels of the other
  boundary; the tolerance defaults to 1 % of the image diagonal.
* ``mean_abs_error``: mean |alpha - truth| over all pixels (truth as 0/1).
* ``flicker``: mean |a_t - a_{t-1}| over the pixels whose truth did not change between the two frames,
  i.e. matte changes the scene does not explain.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

# Perazzi et al. use a tolerance proportional to the image diagonal; 1 % is a few pixels wider than
# DAVIS's 0.8 % and forgives the 1-3 px jitter of hand-drawn masks.
DEFAULT_TOLERANCE_FRACTION = 0.01

_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def binarize(alpha: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """alpha: HxW float in [0, 1] (or bool / uint8 0-255 mask) -> HxW bool (person)."""
    if alpha.dtype == bool:
        return alpha
    if alpha.dtype == np.uint8:
        return alpha > 127
    return alpha > threshold


def iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """IoU of two masks (any of bool, uint8 0/255, float matte at 0.5). Two empty masks score 1."""
    p, t = binarize(pred), binarize(truth)
    union = np.count_nonzero(p | t)
    if union == 0:
        return 1.0
    return np.count_nonzero(p & t) / union


def mean_abs_error(alpha: np.ndarray, truth: np.ndarray) -> float:
    """Mean |alpha - truth| with alpha: HxW float in [0, 1], truth: HxW mask (person = 1)."""
    t = binarize(truth).astype(np.float32)
    return float(np.mean(np.abs(alpha.astype(np.float32, copy=False) - t)))


def remove_specks(mask: np.ndarray, min_area: int) -> np.ndarray:
    """Drop connected person islands and fill background holes smaller than ``min_area`` pixels.

    mask: HxW (bool / uint8 / float matte) -> HxW bool. Used on noisy ground truth (eg1800 hair
    fringes carry tens of 1-50 px islands), which would otherwise add boundary pixels nobody can match.
    """
    m = binarize(mask)
    if min_area <= 1:
        return m
    out = m.copy()
    for value in (True, False):
        _, labels, stats, _ = cv2.connectedComponentsWithStats(
            (out == value).astype(np.uint8), connectivity=8
        )
        small = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] < min_area)
        small = small[small > 0]  # label 0 is "not value"
        if small.size:
            out[np.isin(labels, small)] = not value
    return out


def boundary(mask: np.ndarray) -> np.ndarray:
    """HxW bool mask -> HxW bool, the one-pixel inner contour (mask minus its 4-connected erosion).

    The image border does not count as a contour: a person cut off by the frame has no edge there.
    """
    m = binarize(mask).astype(np.uint8)
    eroded = cv2.erode(m, _CROSS, borderType=cv2.BORDER_REPLICATE)
    return (m - eroded).astype(bool)


def boundary_precision_recall(
    pred: np.ndarray, truth: np.ndarray, tolerance: float | None = None
) -> tuple[float, float]:
    """(precision, recall) of the predicted contour against the true one within ``tolerance`` px.

    tolerance: pixels; ``None`` = 1 % of the image diagonal. An empty contour on both sides is a
    perfect match (1, 1); an empty one on one side only scores 0 for the side that has nothing.
    """
    if tolerance is None:
        tolerance = DEFAULT_TOLERANCE_FRACTION * float(np.hypot(*truth.shape[:2]))
    pb, tb = boundary(pred), boundary(truth)
    n_pred, n_true = np.count_nonzero(pb), np.count_nonzero(tb)
    if n_pred == 0 and n_true == 0:
        return 1.0, 1.0
    if n_pred == 0 or n_true == 0:
        return (0.0 if n_pred else 1.0), (0.0 if n_true else 1.0)
    # Distance of every pixel to the nearest contour pixel of the other mask.
    dist_to_true = cv2.distanceTransform((~tb).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    dist_to_pred = cv2.distanceTransform((~pb).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    precision = np.count_nonzero(dist_to_true[pb] <= tolerance) / n_pred
    recall = np.count_nonzero(dist_to_pred[tb] <= tolerance) / n_true
    return float(precision), float(recall)


def boundary_f(pred: np.ndarray, truth: np.ndarray, tolerance: float | None = None) -> float:
    """Boundary F-measure (Perazzi et al. 2016) of two masks, in [0, 1]; see ``boundary_precision_recall``."""
    precision, recall = boundary_precision_recall(pred, truth, tolerance)
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def flicker_terms(
    alpha_prev: np.ndarray, alpha: np.ndarray, truth_prev: np.ndarray, truth: np.ndarray
) -> tuple[float, int]:
    """(sum of |alpha - alpha_prev| over pixels whose truth is unchanged, number of those pixels)."""
    stable = binarize(truth_prev) == binarize(truth)
    diff = np.abs(alpha.astype(np.float32, copy=False) - alpha_prev.astype(np.float32, copy=False))
    return float(diff[stable].sum(dtype=np.float64)), int(np.count_nonzero(stable))


def flicker(alphas: Iterable[np.ndarray], truths: Iterable[np.ndarray]) -> float:
    """Mean |a_t - a_{t-1}| over all consecutive frame pairs and all pixels whose truth is unchanged.

    alphas: HxW float mattes of consecutive frames; truths: their HxW masks. Pooled over pixels (a pair
    with more stable pixels weighs more). 0 for fewer than two frames.
    """
    total, count = 0.0, 0
    prev_alpha = prev_truth = None
    for alpha, truth in zip(alphas, truths, strict=True):
        if prev_alpha is not None:
            s, n = flicker_terms(prev_alpha, alpha, prev_truth, truth)
            total += s
            count += n
        prev_alpha, prev_truth = alpha, truth
    return total / count if count else 0.0
