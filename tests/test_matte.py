"""Matte refinement on synthetic frames whose right answer is known (real-image quality: test_quality_selfie)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from privacy_filter.render.guided import guided_filter
from privacy_filter.render.matte import MatteRefiner, work_grid

H, W = 480, 640
EDGE_X = 301  # the person is everything right of this column


def textured_frame(seed: int = 0) -> np.ndarray:
    """A noisy grey-ish frame with a bright 'person' right of EDGE_X (a real, sharp image edge)."""
    rng = np.random.default_rng(seed)
    frame = rng.integers(30, 60, (H, W, 3), dtype=np.uint8)
    frame[:, EDGE_X:] = rng.integers(180, 210, (H, W - EDGE_X, 3), dtype=np.uint8)
    return frame


def coarse_step(grid: tuple[int, int] = (144, 256), offset_px: int = 0) -> np.ndarray:
    """The person seen by a low-resolution model: a soft step near EDGE_X (``offset_px`` off) on a coarse grid."""
    w = grid[1]
    alpha = np.zeros(grid, np.float32)
    alpha[:, round((EDGE_X + offset_px) * w / W):] = 1.0
    return cv2.blur(alpha, (3, 3))  # the model's soft edge


def crossing_columns(alpha: np.ndarray) -> np.ndarray:
    """Per row, the first column where alpha reaches 0.5."""
    return np.argmax(alpha >= 0.5, axis=1)


def test_output_contract_for_any_input_grid() -> None:
    refiner = MatteRefiner()
    frame = textured_frame()
    for grid in ((144, 256), (256, 256), (5, 7), (H, W)):
        alpha = np.random.default_rng(1).random(grid, dtype=np.float32)
        out = refiner.refine(alpha, frame)
        assert out.shape == (H, W) and out.dtype == np.float32
        assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_constant_matte_stays_constant_on_a_textured_frame(value: float) -> None:
    out = MatteRefiner().refine(np.full((144, 256), value, np.float32), textured_frame())
    assert np.allclose(out, value, atol=1e-4)


def soft_edge_width(alpha: np.ndarray) -> float:
    """Mean width in px of the ramp between 0.1 and 0.9 along a row."""
    return np.count_nonzero((alpha > 0.1) & (alpha < 0.9)) / alpha.shape[0]


@pytest.mark.parametrize(("passes", "max_error_ratio"), [(1, 0.6), (2, 0.5)])
def test_guided_refinement_snaps_a_misplaced_edge_to_the_frame(passes: int, max_error_ratio: float) -> None:
    frame = textured_frame()
    coarse = coarse_step(offset_px=-5)  # the model's edge is 5 px (2 cells of its grid) off the real one
    bilinear = MatteRefiner(guided=False, temporal=False, sharpen=1.0).refine(coarse, frame).copy()
    refined = MatteRefiner(temporal=False, passes=passes).refine(coarse, frame)
    error_bilinear = np.abs(crossing_columns(bilinear) - EDGE_X).mean()
    error_refined = np.abs(crossing_columns(refined) - EDGE_X).mean()
    assert error_bilinear >= 4
    # One pass (the default, for the time budget) moves the edge about halfway; a second pass all the way.
    assert error_refined < max_error_ratio * error_bilinear


@pytest.mark.parametrize(("passes", "offset_px"), [(1, 0), (2, 0), (2, -5)])
def test_guided_refinement_sharpens_the_edge(passes: int, offset_px: int) -> None:
    # One pass sharpens an edge the model placed right; a misplaced one (offset) only with the second pass.
    frame = textured_frame()
    coarse = coarse_step(offset_px=offset_px)
    bilinear = MatteRefiner(guided=False, temporal=False, sharpen=1.0).refine(coarse, frame).copy()
    refined = MatteRefiner(temporal=False, passes=passes).refine(coarse, frame)
    assert soft_edge_width(bilinear) >= 5
    assert soft_edge_width(refined) < 0.5 * soft_edge_width(bilinear)


def test_a_second_guided_pass_moves_the_edge_closer_than_one() -> None:
    frame, coarse = textured_frame(), coarse_step(offset_px=-5)
    errors = [
        np.abs(crossing_columns(MatteRefiner(temporal=False, passes=p).refine(coarse, frame)) - EDGE_X).mean()
        for p in (1, 2)
    ]
    assert errors[1] < errors[0]


def test_sharpen_keeps_the_half_contour() -> None:
    frame, coarse = textured_frame(), coarse_step()
    soft = MatteRefiner(temporal=False, sharpen=1.0).refine(coarse, frame).copy()
    crisp = MatteRefiner(temporal=False, sharpen=3.0).refine(coarse, frame)
    assert np.array_equal(crossing_columns(soft), crossing_columns(crisp))


def test_guided_filter_keeps_an_edge_present_in_the_guide_and_smooths_flat_areas() -> None:
    guide = np.zeros((60, 80), np.float32)
    guide[:, 40:] = 1.0
    noisy = guide + np.random.default_rng(2).normal(0, 0.05, guide.shape).astype(np.float32)
    out = guided_filter(guide, noisy, radius=4, eps=1e-2)
    assert np.abs(out - guide).mean() < 0.5 * np.abs(noisy - guide).mean()
    assert out[:, 38].max() < 0.2 and out[:, 41].min() > 0.8


def test_work_grid_keeps_aspect_and_never_upscales() -> None:
    assert work_grid((480, 640), 320) == (320, 240)
    assert work_grid((100, 120), 320) == (120, 100)
    # Integer factors only (INTER_AREA's fast path), at least 0.7 x work_size^2 grid pixels whatever the shape:
    # 4:3 and 3:4 frames as before, wide frames no longer on a coarser grid (160x90 and 170x96 before).
    assert work_grid((480, 640), 160) == (160, 120)
    assert work_grid((800, 600), 160) == (120, 160)
    assert work_grid((720, 1280), 160) == (182, 102)
    assert work_grid((480, 854), 160) == (213, 120)
    for shape in ((480, 640), (720, 1280), (480, 854), (1080, 1920), (800, 600)):
        w, h = work_grid(shape, 160)
        assert w * h >= 0.7 * 160 * 160 and abs(w / h - shape[1] / shape[0]) < 0.05


def test_temporal_smoothing_steadies_a_jittering_matte_on_a_still_frame() -> None:
    """The model's typical flicker on a still scene: the edge wobbles and a false blob blinks."""
    frame = textured_frame()
    rng = np.random.default_rng(3)
    coarse = []
    for _ in range(12):
        alpha = coarse_step(offset_px=int(rng.integers(-8, 9)))
        if rng.random() < 0.5:
            alpha[20:50, 30:60] = 0.8  # a blinking false positive in the background
        coarse.append(alpha)

    def flicker(refiner: MatteRefiner) -> float:
        outs = [refiner.refine(c, frame).copy() for c in coarse]
        return float(np.mean([np.abs(a - b).mean() for a, b in zip(outs[1:], outs[:-1], strict=True)]))

    unsmoothed = flicker(MatteRefiner(temporal=False))
    assert unsmoothed > 0.005  # the test has flicker to remove
    assert flicker(MatteRefiner()) < 0.5 * unsmoothed


def test_temporal_smoothing_follows_motion_without_a_ghost() -> None:
    """A bright square jumps 200 px: the matte must be at the new place and gone from the old one at once."""
    refiner = MatteRefiner()
    for x in (100, 100, 100, 300):
        frame = np.full((H, W, 3), 40, np.uint8)
        frame[150:300, x:x + 150] = 220
        alpha = np.zeros((H, W), np.float32)
        alpha[150:300, x:x + 150] = 1.0
        out = refiner.refine(alpha, frame)
    assert out[170:280, 320:430].min() > 0.9  # new place
    assert out[170:280, 120:230].max() < 0.1  # old place: no ghost


def test_reset_forgets_the_previous_frames() -> None:
    frame = textured_frame()
    refiner = MatteRefiner()
    refiner.refine(np.zeros((144, 256), np.float32), frame)
    refiner.reset()
    out = refiner.refine(np.ones((144, 256), np.float32), frame)
    assert np.allclose(out, 1.0, atol=1e-4)


def test_frame_size_change_is_handled() -> None:
    refiner = MatteRefiner()
    refiner.refine(coarse_step(), textured_frame())
    small = cv2.resize(textured_frame(), (320, 240))
    out = refiner.refine(coarse_step(), small)
    assert out.shape == (240, 320)


def test_grow_and_feather_widen_and_soften() -> None:
    frame, coarse = textured_frame(), coarse_step()
    base = MatteRefiner(temporal=False).refine(coarse, frame).copy()
    grown = MatteRefiner(temporal=False, grow_px=5).refine(coarse, frame)
    assert (crossing_columns(grown) < crossing_columns(base)).all()
    assert (grown >= base - 1e-6).all()


def test_invalid_still_weight_is_refused() -> None:
    with pytest.raises(ValueError):
        MatteRefiner(still_weight=0.0)


@pytest.mark.parametrize("guide", ["color", "grey"])
def test_a_grey_frame_is_refined_too(guide: str) -> None:
    frame = cv2.cvtColor(textured_frame(), cv2.COLOR_BGR2GRAY)  # HxW uint8
    out = MatteRefiner(guide=guide, temporal=False, passes=2).refine(coarse_step(offset_px=-5), frame)
    assert out.shape == (H, W)
    assert np.abs(crossing_columns(out) - EDGE_X).mean() < 2.0  # bilinear: 6 px off


def test_grey_guide_also_snaps_the_edge() -> None:
    out = MatteRefiner(guide="grey", temporal=False, passes=2).refine(coarse_step(offset_px=-5), textured_frame())
    assert np.abs(crossing_columns(out) - EDGE_X).mean() < 2.0  # bilinear: 6 px off


def test_invalid_guide_is_refused() -> None:
    with pytest.raises(ValueError):
        MatteRefiner(guide="rgb")


@pytest.mark.parametrize("dropped", [False, True])
def test_a_dropped_person_is_hidden_at_once_and_a_rise_still_fades_in(dropped: bool) -> None:
    """Hide fast, show slowly: on a still frame, the person right of EDGE_X was kept for a few frames, then
    the selection drops them. Marked as dropped, their alpha falls to 0 on that frame; unmarked (plain EMA)
    it takes several frames. Kept again, they fade back in (the rise is not hurried)."""
    frame = textured_frame()
    person = coarse_step()
    nobody = np.zeros_like(person)
    refiner = MatteRefiner()
    for _ in range(4):
        refiner.refine(person, frame)
    out = refiner.refine(nobody, frame, person if dropped else None)
    inside = out[100:400, 350:600]
    if not dropped:
        assert inside.min() > 0.5  # the plain EMA still shows them: what hide-fast removes
        return
    assert inside.max() < 0.05
    back = refiner.refine(person, frame, None)[100:400, 350:600]
    assert back.max() < 0.5  # kept again: the rise fades in, not at once


def test_dropped_only_lowers_alpha() -> None:
    """A dropped map over the kept person (a wrong map) never raises alpha and never hides a rise."""
    frame = textured_frame()
    refiner = MatteRefiner()
    refiner.refine(np.zeros((144, 256), np.float32), frame)
    rising = refiner.refine(coarse_step(), frame, np.ones((144, 256), np.float32)).copy()
    plain = MatteRefiner()
    plain.refine(np.zeros((144, 256), np.float32), frame)
    assert np.allclose(rising, plain.refine(coarse_step(), frame), atol=1e-6)
