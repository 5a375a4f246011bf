"""What ``benchmarks.quality`` scores: the raw model ("raw") and the program's own per-frame filter ("ours").

RAW is the segmenter's keep-all map, bilinear to the frame (no selection, no refinement). OURS is the
``FrameProcessor`` that ``instance_segmentation.py --input CLIP --mask-output MATTE --no-display`` runs, built
by the program's own builder (``privacy_filter.app.build.build_processor``) from flags parsed by the program's
own parser, so that every default (the people stage with its faces, pose masks and MoveNet bodies, the
selection, the matte, the hide-at-once of dropped people and face floors, the scene-cut restart) is the
program's and the harness cannot drift from it. Before this, the harness assembled a pipeline of its own
(selfie regions -> UserSelector -> MatteRefiner, no people stage): on DAVIS breakdance it scored 0.18 where the
program's written matte scores 0.31 (benchmarks/RESULTS.md, "The harness scores what the CLI does").
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import cv2
import numpy as np

from benchmarks.evalsets import REPO
from privacy_filter.app import cli
from privacy_filter.app.build import build_processor
from privacy_filter.people.selection import split_people
from privacy_filter.person import Person
from privacy_filter.pipeline import FrameProcessor
from privacy_filter.render.matte import MatteRefiner

# Any file name will do (nothing is opened): the flags are parsed only for their defaults. A name with a "/"
# is never looked up among the cameras' names (``io.cameras.camera_input``).
_INPUT = "clips/clip.mp4"


def cli_args(backend_flags: list[str], keep: str = "user") -> argparse.Namespace:
    """The flags of ``instance_segmentation.py --input CLIP --mask-output MATTE --no-display`` with the given
    backend flags and ``--keep``, parsed by the program's parser (every other flag at the program's default;
    --width: a file's native size)."""
    return cli.parse_args(["--input", _INPUT, "--mask-output", "matte.mp4", "--no-display", "--keep", keep,
                           *backend_flags])


def cli_processor(backend_flags: list[str], keep: str = "user", refiner_kwargs: dict | None = None
                  ) -> FrameProcessor:
    """The program's per-frame filter for those flags (``cli_args``), as ``app.build.build_processor`` builds
    it for the CLI. ``refiner_kwargs``: the harness's own refinement flags (--no-temporal, --radius...), which
    replace the program's ``MatteRefiner()`` (empty: the program's, untouched).

    process(frame).alpha is the matte the program writes to --mask-output (before the file's 8-bit H.264
    coding, which moves a frame's IoU by <= 0.0007: benchmarks/RESULTS.md). Privacy is off here only to skip
    the background effect, which the matte does not depend on (``FrameProcessor._alpha`` runs either way).
    """
    processor = build_processor(cli_args(backend_flags, keep))
    if refiner_kwargs:
        processor.refiner = MatteRefiner(**refiner_kwargs)
    processor.privacy = False
    return processor


def new_input(processor: FrameProcessor) -> FrameProcessor:
    """Start ``processor`` afresh, as the program does for each input file (``app.main.run_batch`` resets the
    matte and the tracked user, ``concurrent.overlap`` the people stage's faces): a still image or a clip is
    one input. Returns the processor."""
    processor.refiner.reset()
    processor.selector.reset()
    reset = getattr(processor.finder, "reset", None)
    if reset is not None:
        reset()
    return processor


def upsampled(raw: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """The raw map (hxw float32) bilinear to the frame's HxW: the RAW method."""
    return cv2.resize(raw, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_LINEAR)


class SelfieBackend:
    """The selfie model: one probability map for everybody, cut into connected regions."""

    def __init__(self, model_selection: int) -> None:
        from privacy_filter.segment.selfie import SelfieSegmenter

        self.name = f"selfie (model_selection={model_selection})"
        self.segmenter = SelfieSegmenter(model_selection)
        self.flags = ["--backend", "selfie", "--model-selection", str(model_selection)]

    def find(self, frame: np.ndarray) -> tuple[list[Person], tuple[int, int], np.ndarray]:
        """frame -> (people, grid (h, w) of their masks, raw keep-all map on that grid)."""
        probability = self.segmenter.process(frame)
        return split_people(probability), probability.shape[:2], probability

    def processor(self, keep: str = "user", refiner_kwargs: dict | None = None) -> FrameProcessor:
        """OURS: the program's filter with this model (``cli_processor``)."""
        return cli_processor(self.flags, keep, refiner_kwargs)


class MaskRCNNBackend:
    """The seed's Mask R-CNN: person instances with masks on the frame grid, cut at ``threshold`` as the seed."""

    def __init__(self, model_dir: Path, threshold: float) -> None:
        from privacy_filter.segment.mask_rcnn import MaskRCNNSegmenter

        self.name = "mask-rcnn"
        self.segmenter = MaskRCNNSegmenter(model_dir)
        self.threshold = threshold
        self.flags = ["--backend", "mask-rcnn", "--mask-rcnn", str(model_dir), "--threshold", str(threshold)]

    def find(self, frame: np.ndarray) -> tuple[list[Person], tuple[int, int], np.ndarray]:
        grid = frame.shape[:2]
        soft = self.segmenter.process(frame)
        people = [Person(p.score, p.box, (p.mask > self.threshold).astype(np.float32)) for p in soft]
        raw = np.maximum.reduce([p.mask for p in soft]) if soft else np.zeros(grid, np.float32)
        return people, grid, raw

    def processor(self, keep: str = "user", refiner_kwargs: dict | None = None) -> FrameProcessor:
        return cli_processor(self.flags, keep, refiner_kwargs)


def default_mask_rcnn_dir() -> Path:
    env = os.environ.get("PRIVACY_FILTER_MASK_RCNN_DIR")
    return Path(env) if env else REPO / "mask-rcnn-coco"
