"""Quality metrics (pure functions) on synthetic masks whose right answers are known by construction."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks import metrics

H, W = 60, 80


def rect(y1: int, x1: int, y2: int, x2: int, shape: tuple[int, int] = (H, W)) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[y1:y2, x1:x2] = True
    return mask


def test_iou_known_values() -> None:
    a = rect(0, 0, 10, 10)
    assert metrics.iou(a, a) == 1.0
    assert metrics.iou(a, rect(20, 20, 30, 30)) == 0.0
    # 10x10 and 10x20 sharing 100 px: 100 / 200
    assert metrics.iou(a, rect(0, 0, 10, 20)) == pytest.approx(0.5)
    assert metrics.iou(np.zeros((H, W), bool), np.zeros((H, W), bool)) == 1.0


def test_iou_thresholds_float_alpha_at_half_and_uint8_masks_at_127() -> None:
    alpha = np.zeros((H, W), np.float32)
    alpha[:, :40] = 0.51  # counts as person
    alpha[:, 40:] = 0.49  # does not
    truth = (rect(0, 0, H, 40) * 255).astype(np.uint8)
    assert metrics.iou(alpha, truth) == 1.0


def test_mean_abs_error() -> None:
    alpha = np.full((H, W), 0.25, np.float32)
    truth = rect(0, 0, H, W // 2)  # half ones: |0.25-1| and |0.25-0| averaged
    assert metrics.mean_abs_error(alpha, truth) == pytest.approx((0.75 + 0.25) / 2)


def test_boundary_is_inner_contour_and_ignores_the_image_border() -> None:
    contour = metrics.boundary(rect(10, 10, 20, 30))
    assert np.count_nonzero(contour) == 2 * 10 + 2 * 20 - 4
    assert not metrics.boundary(np.ones((H, W), bool)).any()
    # A person cut by the left border has no contour along it.
    assert not metrics.boundary(rect(10, 0, 20, 30))[11:19, 0].any()


def test_boundary_f_perfect_shifted_and_far() -> None:
    truth = rect(10, 10, 50, 60)
    assert metrics.boundary_f(truth, truth) == 1.0
    shifted = rect(12, 12, 52, 62)
    assert metrics.boundary_f(shifted, truth, tolerance=3) == 1.0
    assert metrics.boundary_f(shifted, truth, tolerance=1) < 0.2
    assert metrics.boundary_f(np.zeros((H, W), bool), truth) == 0.0
    empty = np.zeros((H, W), bool)
    assert metrics.boundary_f(empty, empty) == 1.0


def test_boundary_precision_recall_asymmetry() -> None:
    truth = rect(10, 10, 30, 30)
    pred = truth | rect(40, 60, 50, 75)  # the true person plus a far false blob
    precision, recall = metrics.boundary_precision_recall(pred, truth, tolerance=2)
    assert recall == 1.0
    assert 0.3 < precision < 0.8


def test_default_tolerance_is_one_percent_of_the_diagonal() -> None:
    big = (600, 800)  # diagonal 1000 -> 10 px
    truth = rect(100, 100, 500, 700, big)
    assert metrics.boundary_f(rect(107, 107, 507, 707, big), truth) == 1.0  # corners 9.9 px away
    too_far = rect(112, 100, 512, 700, big)  # top and bottom edges 12 px away
    assert metrics.boundary_f(too_far, truth) < 0.7
    assert metrics.boundary_f(too_far, truth, tolerance=12) == 1.0


def test_remove_specks_drops_islands_and_fills_holes_but_keeps_the_person() -> None:
    mask = rect(10, 10, 50, 50)
    mask[30, 30] = False  # 1 px hole
    mask[2:4, 60:62] = True  # 4 px island
    clean = metrics.remove_specks(mask, min_area=10)
    assert np.array_equal(clean, rect(10, 10, 50, 50))
    assert np.array_equal(metrics.remove_specks(mask, min_area=1), mask)


def test_flicker_counts_only_pixels_whose_truth_is_stable() -> None:
    truth = [rect(10, 10, 30, 30), rect(10, 10, 30, 40)]  # the person grew by 10x20 px
    follows = [t.astype(np.float32) for t in truth]
    assert metrics.flicker(follows, truth) == 0.0  # every change is explained by the truth
    jitter = [np.zeros((H, W), np.float32), np.zeros((H, W), np.float32)]
    jitter[1][50:55, 0:10] = 1.0  # 50 px flip far from the person
    stable = H * W - 10 * 20
    assert metrics.flicker(jitter, truth) == pytest.approx(50 / stable)
    assert metrics.flicker(jitter[:1], truth[:1]) == 0.0


boxes = st.tuples(st.integers(0, H - 2), st.integers(0, W - 2), st.integers(1, H), st.integers(1, W))


@settings(max_examples=60, deadline=None)  # seed and database: the profile in tests/conftest.py (derandomised)
@given(boxes, boxes)
def test_iou_and_boundary_f_are_symmetric_and_bounded(a: tuple, b: tuple) -> None:
    ma, mb = rect(*a), rect(*b)
    for score in (metrics.iou, metrics.boundary_f):
        value = score(ma, mb)
        assert 0.0 <= value <= 1.0
        assert value == pytest.approx(score(mb, ma))
        assert score(ma, ma) == 1.0
