"""The bundled selfie segmenter on real portraits with hand-made ground truth (../shared/eval)."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest
from conftest import PORTRAITS, SHARED, needs_eval

from privacy_filter.errors import ModelError
from privacy_filter.segment.models import BUNDLED_MODELS_DIR, SELFIE_MODELS, sha256_of
from privacy_filter.segment.selfie import MODEL_FILES, SelfieSegmenter

# Measured on the first 40 eg1800 test portraits (benchmarks/RESULTS.md): mean IoU 0.95 for both variants.
# The bar sits a little below so that a real regression (wrong colour order, scaling, orientation) fails.
MEAN_IOU_BAR = 0.92


def _portraits(count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    names = sorted((PORTRAITS / "images").glob("*.jpg"))[:count]
    pairs = []
    for image_path in names:
        image = cv2.imread(str(image_path))
        truth = cv2.imread(str(PORTRAITS / "masks" / f"{image_path.stem}.png"), cv2.IMREAD_GRAYSCALE) > 127
        pairs.append((image, truth))
    return pairs


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.logical_and(a, b).sum() / max(1, np.logical_or(a, b).sum()))


def test_bundled_models_are_the_published_files():
    for name, (sha256, _size) in SELFIE_MODELS.items():
        assert sha256_of(BUNDLED_MODELS_DIR / name) == sha256
        shared = SHARED / "models" / "selfie_segmentation" / name
        if shared.is_file():
            assert sha256_of(shared) == sha256


@needs_eval
@pytest.mark.parametrize("model_selection", [0, 1])
def test_person_iou_on_real_portraits(model_selection):
    segmenter = SelfieSegmenter(model_selection=model_selection)
    width, height = segmenter.output_size
    ious = []
    for image, truth in _portraits(40):
        probability = segmenter.process(image)
        assert probability.shape == (height, width) and probability.dtype == np.float32
        assert probability.min() >= 0.0 and probability.max() <= 1.0
        full = cv2.resize(probability, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
        ious.append(_iou(full > 0.5, truth))
    assert np.mean(ious) >= MEAN_IOU_BAR, f"mean IoU {np.mean(ious):.3f} over {len(ious)} portraits"


@needs_eval
def test_empty_scene_has_no_person():
    # A flat grey frame holds nobody: the map must say so (a constant 0.5 output would pass the IoU test
    # on portraits that fill most of the frame, but not this).
    probability = SelfieSegmenter().process(np.full((480, 640, 3), 128, np.uint8))
    assert (probability > 0.5).mean() < 0.01


def test_corrupt_model_is_refused(tmp_path):
    for name in MODEL_FILES.values():
        shutil.copy(BUNDLED_MODELS_DIR / name, tmp_path / name)
    target = tmp_path / MODEL_FILES[1]
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="corrupt"):
        SelfieSegmenter(model_selection=1, model_dir=tmp_path)
    SelfieSegmenter(model_selection=0, model_dir=tmp_path)  # the intact one still loads


def test_missing_model_is_refused(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        SelfieSegmenter(model_dir=tmp_path)
