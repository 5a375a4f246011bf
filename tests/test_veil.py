"""The face veil (render/veil.py) and where the pipeline applies it: only inside the hidden faces' boxes, never
over the user's face, never into a constant background (colour, picture), and a face veiled keeps no features."""

from __future__ import annotations

from typing import ClassVar

import cv2
import numpy as np

from privacy_filter.pipeline import FrameProcessor
from privacy_filter.render.effects import make_effect
from privacy_filter.render.veil import pixel_box, veil_faces


def _texture(height: int = 240, width: int = 320, seed: int = 0) -> np.ndarray:
    """HxWx3 uint8 BGR: a fine random texture (every pixel differs from its neighbours)."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_the_veil_writes_only_inside_its_box_and_leaves_no_detail_in_its_core() -> None:
    image = _texture()
    before = image.copy()
    box = (0.25, 0.25, 0.75, 0.75)
    out = veil_faces(image, [box])
    assert out is image  # in place: the background is the caller's own
    x0, y0, x1, y1 = pixel_box(box, image.shape)
    outside = np.ones(image.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(image[outside], before[outside])
    core = image[y0 + 30:y1 - 30, x0 + 40:x1 - 40].astype(np.float32)
    # The core is the box's means enlarged from 3x3: a smooth ramp, none of the texture's pixel-to-pixel detail.
    assert np.abs(np.diff(core, axis=1)).max() <= 3
    assert np.abs(cv2.Laplacian(before[y0:y1, x0:x1], cv2.CV_32F)).mean() > 50


def test_the_veil_is_feathered_and_spares_the_users_face() -> None:
    image = _texture()
    before = image.copy()
    box, spare = (0.2, 0.2, 0.8, 0.8), (0.4, 0.4, 0.6, 0.6)
    veil_faces(image, [box], [spare])
    a0, b0, a1, b1 = pixel_box(spare, image.shape)
    assert np.array_equal(image[b0:b1, a0:a1], before[b0:b1, a0:a1])
    x0, y0, _, _ = pixel_box(box, image.shape)
    # At the box's edge the weight is ~0: the first column is (nearly) the background as it was.
    edge = np.abs(image[y0 + 60, x0].astype(int) - before[y0 + 60, x0].astype(int))
    assert edge.max() <= 16


def test_boxes_off_the_frame_or_empty_change_nothing() -> None:
    image = _texture()
    before = image.copy()
    veil_faces(image, [(1.2, 0.1, 1.5, 0.3), (-0.5, -0.5, -0.1, -0.1), (0.5, 0.5, 0.5, 0.6)])
    assert np.array_equal(image, before)


class _Faces:
    """A selector stand-in: keeps the whole frame's left half, knows one hidden face on the right."""

    hidden_faces: ClassVar[list] = [(0.6, 0.2, 0.9, 0.7)]
    spared_faces: ClassVar[list] = []
    released = None
    floor = None

    def select(self, people, grid):
        alpha = np.zeros(grid, np.float32)
        alpha[:, : grid[1] // 2] = 1.0
        return alpha

    def reset(self) -> None:
        pass


class _Finder:
    def find(self, frame):
        return [], (frame.shape[0] // 4, frame.shape[1] // 4)


def test_the_pipeline_veils_the_blurred_background_but_not_a_constant_one() -> None:
    frame = _texture(480, 640, seed=1)
    blur = FrameProcessor(finder=_Finder(), effect=make_effect("blur"), selector=_Faces())  # type: ignore[arg-type]
    veiled = blur.process(frame).output
    blur.veil = False
    plain = blur.process(frame).output
    x0, y0, x1, y1 = pixel_box(_Faces.hidden_faces[0], frame.shape)
    assert not np.array_equal(veiled[y0:y1, x0:x1], plain[y0:y1, x0:x1])
    assert np.array_equal(veiled[:, :300], plain[:, :300])  # the kept half and the room: as before
    effect = make_effect("color", color="#102030")
    colour = FrameProcessor(finder=_Finder(), effect=effect, selector=_Faces())  # type: ignore[arg-type]
    cached = effect(frame).copy()
    out = colour.process(frame).output
    assert np.array_equal(effect(frame), cached)  # the cached colour background was not written into
    assert np.array_equal(out[y0:y1, x0:x1], cached[y0:y1, x0:x1])
