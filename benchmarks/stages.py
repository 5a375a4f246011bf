"""Per-stage costs: the default pipeline as the program builds it, the clips prepared at each size, the stage
timers (``Stages``), the timed finders and the stage profiles of ours and the seed."""


from __future__ import annotations

import argparse
import contextlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from benchmarks.machine import KERNEL
from privacy_filter.app import build, cli
from privacy_filter.people.selection import UserSelector, split_people
from privacy_filter.person import Person
from privacy_filter.pipeline import FrameProcessor, InstancePeople, checked_probability
from privacy_filter.render.effects import make_effect
from privacy_filter.render.matte import MatteRefiner
from privacy_filter.segment import runtime
from privacy_filter.segment.mask_rcnn import MaskRCNNSegmenter, make_blob, parse_detections
from privacy_filter.segment.selfie import SelfieSegmenter


def default_args(extra: tuple[str, ...] = ()) -> argparse.Namespace:
    """The program's flags with their defaults (plus ``extra``), as for a headless run on a file."""
    return cli.parse_args(["--no-display", *extra])


def default_processor(extra: tuple[str, ...] = ()) -> FrameProcessor:
    """The whole default filter exactly as the program builds it (``build.build_processor``): whatever stages
    the program gains (the people stage, say) are measured here without touching this file."""
    return build.build_processor(default_args(extra))


# --------------------------------------------------------------------------------------------- clips


def clip_size(path: Path) -> tuple[int, int]:
    capture = cv2.VideoCapture(str(path))
    try:
        return int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        capture.release()


def prepare(path: Path, size: tuple[int, int], folder: Path, limit: int = 0) -> Path:
    """The clip at (W, H) = size: itself if it has that size, else resized and re-encoded (MPEG-4, cached)."""
    if clip_size(path) == size and not limit:
        return path
    target = folder / f"{path.stem}_{size[0]}x{size[1]}_{limit or 'all'}.mp4"
    if target.is_file() and target.stat().st_mtime >= path.stat().st_mtime:
        return target
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    partial = target.with_suffix(".partial.mp4")
    writer = cv2.VideoWriter(str(partial), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    count = 0
    while not limit or count < limit:
        ok, frame = capture.read()
        if not ok:
            break
        writer.write(cv2.resize(frame, size, interpolation=cv2.INTER_AREA if size[0] < frame.shape[1]
                                else cv2.INTER_LINEAR))
        count += 1
    writer.release()
    capture.release()
    os.replace(partial, target)
    return target


def frame_count(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    try:
        return int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    finally:
        capture.release()


# --------------------------------------------------------------------------------------------- stats


@dataclass
class Stages:
    """Milliseconds per frame for each stage."""

    ms: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, value: float) -> None:
        self.ms.setdefault(name, []).append(value)

    def median(self, name: str) -> float:
        values = self.ms.get(name)
        return float(np.median(values)) if values else float("nan")

    def p95(self, name: str) -> float:
        values = self.ms.get(name)
        return float(np.percentile(values, 95)) if values else float("nan")

    def total_median(self, names: tuple[str, ...]) -> float:
        """Median over frames of the per-frame sum of ``names`` (not the sum of medians)."""
        series = [self.ms[name] for name in names if name in self.ms]
        if not series:
            return float("nan")
        return float(np.median(np.sum(np.array(series), axis=0)))

    def total_p95(self, names: tuple[str, ...]) -> float:
        series = [self.ms[name] for name in names if name in self.ms]
        if not series:
            return float("nan")
        return float(np.percentile(np.sum(np.array(series), axis=0), 95))


def fmt(value: float, digits: int = 1) -> str:
    return "-" if value != value else f"{value:.{digits}f}"


# --------------------------------------------------------------------------------------------- timed finders


class TimedSelfie:
    """``pipeline.SelfiePeople`` with preprocessing and inference timed apart (``stage_ms``).

    ``SelfieSegmenter.process`` is ``infer(preprocess(frame))``: the same two calls, timed apart.
    """

    def __init__(self, segmenter: SelfieSegmenter) -> None:
        self.segmenter = segmenter
        self.stage_ms: dict[str, float] = {}

    def probability(self, frame: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        blob = self.segmenter.preprocess(frame)
        t1 = time.perf_counter()
        probability = self.segmenter.infer(blob)
        t2 = time.perf_counter()
        self.stage_ms["preprocess"] = (t1 - t0) * 1000
        self.stage_ms["inference"] = (t2 - t1) * 1000
        return probability

    def find(self, frame: np.ndarray) -> tuple[list[Person], tuple[int, int]]:
        probability = checked_probability(self.probability(frame), self.segmenter.output_size)
        return split_people(probability), probability.shape[:2]


class TimedMaskRCNN:
    """``InstancePeople(MaskRCNNSegmenter)`` with preprocessing and inference timed apart."""

    def __init__(self, segmenter: MaskRCNNSegmenter, threshold: float = 0.3) -> None:
        self.segmenter = segmenter
        self.people = InstancePeople(segmenter, threshold)
        self.stage_ms: dict[str, float] = {}

    def find(self, frame: np.ndarray) -> tuple[list[Person], tuple[int, int]]:
        seg = self.segmenter
        t0 = time.perf_counter()
        blob = make_blob(frame)
        t1 = time.perf_counter()
        boxes, masks = seg.infer(blob)
        t2 = time.perf_counter()
        self.stage_ms["preprocess"] = (t1 - t0) * 1000
        self.stage_ms["inference"] = (t2 - t1) * 1000
        height, width = frame.shape[:2]
        people = parse_detections(boxes, masks, (width, height), seg.confidence, seg.person_class_id)
        hard = [Person(p.score, p.box, (p.mask > self.people.threshold).astype(np.float32)) for p in people]
        return hard, (height, width)


def make_processor(finder: object) -> FrameProcessor:
    """The app's filter with its defaults: keep the user, guided matte, blur 41."""
    return FrameProcessor(finder=finder, effect=make_effect("blur", kernel=KERNEL), selector=UserSelector("user"),
                          refiner=MatteRefiner())


# --------------------------------------------------------------------------------------------- stage profiles


def frames_of(path: Path, limit: int, stages: Stages | None = None) -> Iterator[np.ndarray]:
    """Decode ``path`` on this thread (at most ``limit`` frames), timing each read as 'decode'."""
    capture = cv2.VideoCapture(str(path))
    try:
        count = 0
        while not limit or count < limit:
            start = time.perf_counter()
            ok, frame = capture.read()
            if not ok:
                return
            if stages is not None:
                stages.add("decode", (time.perf_counter() - start) * 1000)
            count += 1
            yield frame
    finally:
        capture.release()


@contextlib.contextmanager
def video_writer(folder: Path, size: tuple[int, int], fps: float = 30.0) -> Iterator[cv2.VideoWriter]:
    path = folder / f"encode_{size[0]}x{size[1]}_{threading.get_ident()}.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    try:
        yield writer
    finally:
        writer.release()
        path.unlink(missing_ok=True)


def profile_ours(path: Path, finder: object, limit: int, folder: Path) -> Stages:
    """Each stage of our pipeline timed alone, sequentially, frame after frame."""
    stages = Stages()
    processor = make_processor(finder)
    with video_writer(folder, clip_size(path)) as writer:
        for frame in frames_of(path, limit, stages):
            result = processor.process(frame)
            if result.failed:
                raise SystemExit(f"benchmark: a frame failed closed ({processor.stage_ms}); see the log")
            ms = processor.stage_ms
            for name in ("preprocess", "inference", "refine", "effect", "blend"):
                stages.add(name, ms[name])
            stages.add("select", ms["segment"] - ms["preprocess"] - ms["inference"] + ms["select"])
            start = time.perf_counter()
            writer.write(result.output)
            stages.add("encode", (time.perf_counter() - start) * 1000)
    return stages


def profile_seed(path: Path, timed: TimedSelfie, limit: int, folder: Path) -> Stages:
    """The seed's way, each step timed: mask resize + threshold as 'refine', full blur as 'effect', paste as
    'blend' (the same work as ``seed_baseline.seed_selfie_composite``, split to be timed)."""
    stages = Stages()
    with video_writer(folder, clip_size(path)) as writer:
        for frame in frames_of(path, limit, stages):
            probability = timed.probability(frame)
            stages.add("preprocess", timed.stage_ms["preprocess"])
            stages.add("inference", timed.stage_ms["inference"])
            height, width = frame.shape[:2]
            t0 = time.perf_counter()
            mask = cv2.resize(probability, (width, height), interpolation=cv2.INTER_NEAREST) > 0.5
            t1 = time.perf_counter()
            output = cv2.GaussianBlur(frame.copy(), (KERNEL, KERNEL), 0)
            t2 = time.perf_counter()
            output[mask] = frame[mask]
            t3 = time.perf_counter()
            writer.write(output)
            t4 = time.perf_counter()
            for name, value in (("refine", t1 - t0), ("effect", t2 - t1), ("blend", t3 - t2), ("encode", t4 - t3)):
                stages.add(name, value * 1000)
    return stages


def runtime_line() -> str:
    return (f"model runtime: {runtime.available_runtime()} (LiteRT threads per model "
            f"runtime.DEFAULT_THREADS={runtime.DEFAULT_THREADS}), OpenCV threads {cv2.getNumThreads()} "
            f"({runtime.PIPELINE_OPENCV_THREADS} while the pipeline overlaps: runtime.PIPELINE_OPENCV_THREADS), "
            f"pipeline: the app's default ({build.describe_models(default_processor().finder)})")
