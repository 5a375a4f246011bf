"""The compositing shortcuts are exact: shared frame halvings (pyramid.py) and the matte computed only in the box
where it can be > 0 (support.support_box / enlarge_around) give the same bytes as the plain computation."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import SPEED_CLIP, needs_eval
from faultkit import read_video

from privacy_filter.render import effects, guided, matte, support
from privacy_filter.render.pyramid import Halvings, halvings
from privacy_filter.segment.selfie import SelfieSegmenter


@needs_eval
@pytest.mark.parametrize("size", [(640, 480), (1280, 720), (854, 480), (600, 800), (1279, 719)])
def test_the_box_matte_equals_the_whole_frame_matte(size: tuple[int, int], monkeypatch: pytest.MonkeyPatch) -> None:
    frames = [cv2.resize(f, size) for f in read_video(SPEED_CLIP)[:12]]
    segmenter = SelfieSegmenter(1)
    coarse = [segmenter.process(f).copy() for f in frames]
    boxed = matte.MatteRefiner()
    ours = [boxed.refine(p, f).copy() for p, f in zip(coarse, frames, strict=True)]
    # The reference: the same refiner told that the matte may be > 0 anywhere (the computation before the box).
    monkeypatch.setattr(matte, "support_box", lambda planes, sharpen, grid: (0, 0, grid[0], grid[1]))
    whole = matte.MatteRefiner()
    reference = [whole.refine(p, f).copy() for p, f in zip(coarse, frames, strict=True)]
    assert all(np.array_equal(a, b) for a, b in zip(ours, reference, strict=True))
    assert max(float((a > 0).mean()) for a in ours) > 0.1  # the person is there: the test compares real mattes


def test_enlarge_around_equals_the_whole_enlargement_inside_the_box() -> None:
    rng = np.random.default_rng(7)
    for grid, size in [((160, 120), (640, 480)), ((640, 360), (1280, 720)), ((182, 102), (640, 360))]:
        source = rng.standard_normal((grid[1], grid[0])).astype(np.float32)
        whole = cv2.resize(source, size, interpolation=cv2.INTER_LINEAR)
        for _ in range(20):
            x0, x1 = sorted(rng.integers(0, size[0] + 1, 2))
            y0, y1 = sorted(rng.integers(0, size[1] + 1, 2))
            out = np.full((size[1], size[0]), np.nan, np.float32)
            rx0, ry0, rx1, ry1 = support.enlarge_around(source, out, (x0, y0, x1, y1))
            assert 0 <= rx0 <= x0 <= x1 <= rx1 <= size[0] and 0 <= ry0 <= y0 <= y1 <= ry1 <= size[1]
            assert np.array_equal(out[y0:y1, x0:x1], whole[y0:y1, x0:x1])
            assert not np.isnan(out[ry0:ry1, rx0:rx1]).any()  # the whole region is written


def test_an_empty_support_gives_an_all_zero_matte() -> None:
    frame = np.random.default_rng(3).integers(0, 256, (480, 640, 3), np.uint8)
    alpha = matte.MatteRefiner().refine(np.zeros((144, 256), np.float32), frame)
    assert not alpha.any()


@pytest.mark.parametrize("size", [(640, 480), (1280, 720), (854, 480)])
def test_the_matte_is_zero_wherever_the_last_frames_box_was(size: tuple[int, int]) -> None:
    # The refiner zeroes only where its previous box was: a person who moves or leaves leaves nothing behind.
    rng = np.random.default_rng(5)
    frame = rng.integers(0, 256, (size[1], size[0], 3), np.uint8)
    refiner = matte.MatteRefiner(temporal=False)
    for x in (40, 180, 10, 200):
        coarse = np.zeros((144, 256), np.float32)
        coarse[30:120, x : x + 50] = 1.0
        alpha = refiner.refine(coarse, frame)
        expected = matte.MatteRefiner(temporal=False).refine(coarse, frame)
        assert np.array_equal(alpha, expected) and alpha.any()
    assert not refiner.refine(np.zeros((144, 256), np.float32), frame).any()


def test_halvings_are_opencvs_area_halvings() -> None:
    frame = np.random.default_rng(1).integers(0, 256, (481, 643, 3), np.uint8)
    levels = Halvings(frame)
    expected = frame
    for k in range(1, 5):
        expected = cv2.resize(expected, (expected.shape[1] // 2, expected.shape[0] // 2), interpolation=cv2.INTER_AREA)
        assert np.array_equal(levels.level(k), expected)
    assert np.array_equal(levels.shrink((160, 120)), guided.shrink(frame, (160, 120)))


def test_a_frame_changed_in_place_gets_new_halvings() -> None:
    rng = np.random.default_rng(2)
    frame = rng.integers(0, 256, (480, 640, 3), np.uint8)
    first = halvings(frame)
    assert halvings(frame) is first and halvings(frame.copy()) is not first
    frame[:] = rng.integers(0, 256, frame.shape, np.uint8)  # a capture that reuses its buffer
    # The effect must blur this frame's room, not the one the matte saw before the buffer was refilled.
    assert np.array_equal(effects.blur(frame, 81), effects.blur(frame.copy(), 81))
