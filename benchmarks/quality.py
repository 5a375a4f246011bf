"""Mask quality you can measure: run a segmenter + our selection and refinement over images/clips with truth.

    python -m benchmarks.quality                       # all sets in ../shared/eval, selfie backend
    python -m benchmarks.quality --sets eg1800_portrait_test --limit 40
    python -m benchmarks.quality path/to/my_set        # any folder with images/ + masks/ (same names)
    python -m benchmarks.quality --worst 12 --sheet worst.png   # contact sheet: input | our matte | truth
    python -m benchmarks.quality --backend mask-rcnn   # needs the real weights; says so and skips otherwise

A set is a folder with ``images/<name>.jpg`` and ``masks/<name>.png`` (0 = background, 255 = person); a set
whose ``images/`` holds sub-folders is a set of clips (``images/<clip>/<frame>.jpg``, frames in name order).
If the set has ``instances/<name>.png`` (uint8 ids, 1 = largest person), the "main person" (id 1) is the truth
when only the user is kept, and the images with several people also get the "only you" table.

Printed per set (markdown), for the RAW model output (bilinear upsampling only, no refinement, everyone kept)
and for OURS (selection + refinement as configured by the flags):
IoU mean and median (alpha > 0.5), boundary F (Perazzi et al.) at 1 % and 0.3 % of the image diagonal (truth
cleaned of specks < 100 px), mean absolute alpha error, flicker for clips (mean |a_t - a_t-1| where the truth
does not change), and the ms per frame of selection + refinement. Then the refinement's speed on the 640x480
webcam clip and at 1280x720.
"""

from __future__ import annotations

import argparse
import heapq
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from benchmarks import metrics
from privacy_filter.errors import UserError
from privacy_filter.people.selection import KEEP_CHOICES, UserSelector, split_people
from privacy_filter.person import Person
from privacy_filter.pipeline import dropped_people
from privacy_filter.render.matte import GUIDES, MatteRefiner

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SETS = ("eg1800_portrait_test", "humanseg_vikramshenoy", "coco128seg_person", "davis2016_person")
SPEED_CLIP = Path("videos") / "asl_webcam_concat.mp4"
PASSER_BY_SET = "eg1800_portrait_test"
SPECK_PX = 100  # eg1800 masks carry 1-50 px islands at hair fringes (eval/SOURCES.md): not real contours
BIG_MAIN = 0.05  # "webcam-like": the main person fills at least this share of the frame
TIGHT_TOLERANCE = 0.003  # of the diagonal: 2.4 px at 640x480, where edge refinement shows


def shared_dir() -> Path:
    """The shared data folder: $PRIVACY_FILTER_SHARED, else ../shared next to the repository."""
    return Path(os.environ.get("PRIVACY_FILTER_SHARED", REPO.parent / "shared"))


# --- data -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One image with its truth mask (and, if the set has them, its person instance ids)."""

    name: str
    image: Path
    mask: Path
    instances: Path | None = None


@dataclass
class EvalSet:
    """A set of still images or of clips (each clip a list of consecutive frames)."""

    name: str
    clips: list[list[Sample]]
    is_video: bool

    @property
    def count(self) -> int:
        return sum(len(clip) for clip in self.clips)


def _sample(root: Path, image: Path) -> Sample | None:
    relative = image.relative_to(root / "images").with_suffix(".png")
    mask = root / "masks" / relative
    if not mask.is_file():
        return None
    instances = root / "instances" / relative
    return Sample(str(relative.with_suffix("")), image, mask, instances if instances.is_file() else None)


def load_set(root: Path, limit: int | None = None) -> EvalSet:
    """Read a set folder (images/ + masks/, optionally clips in sub-folders). ``limit``: images per set or
    frames per clip. Raises UserError if the folder has no image with a mask."""
    images_dir = root / "images"
    if not images_dir.is_dir() or not (root / "masks").is_dir():
        raise UserError(f"{root} is not an eval set: it needs images/ and masks/ folders")
    clip_dirs = sorted(p for p in images_dir.iterdir() if p.is_dir())
    groups = [sorted(_images(d)) for d in clip_dirs] if clip_dirs else [sorted(_images(images_dir))]
    clips = []
    for group in groups:
        samples = [s for s in (_sample(root, image) for image in group) if s is not None]
        if limit:
            samples = samples[:limit]
        if samples:
            clips.append(samples)
    if not clips:
        raise UserError(f"{root} has no image with a matching mask in masks/")
    return EvalSet(root.name, clips, is_video=bool(clip_dirs))


def _images(folder: Path) -> Iterator[Path]:
    return (p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp"))


def _read(sample: Sample) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    frame = cv2.imread(str(sample.image), cv2.IMREAD_COLOR)
    truth = cv2.imread(str(sample.mask), cv2.IMREAD_GRAYSCALE)
    if frame is None or truth is None:
        raise UserError(f"cannot read {sample.image} or {sample.mask}")
    if truth.shape != frame.shape[:2]:
        raise UserError(f"{sample.mask} is {truth.shape}, its image {frame.shape[:2]}")
    instances = cv2.imread(str(sample.instances), cv2.IMREAD_GRAYSCALE) if sample.instances else None
    return frame, truth > 127, instances


# --- backends ---------------------------------------------------------------------------------------------


class SelfieBackend:
    """The selfie model: one probability map for everybody, cut into connected regions."""

    def __init__(self, model_selection: int) -> None:
        from privacy_filter.segment.selfie import SelfieSegmenter

        self.name = f"selfie (model_selection={model_selection})"
        self.segmenter = SelfieSegmenter(model_selection)

    def find(self, frame: np.ndarray) -> tuple[list[Person], tuple[int, int], np.ndarray]:
        """frame -> (people, grid (h, w) of their masks, raw keep-all map on that grid)."""
        probability = self.segmenter.process(frame)
        return split_people(probability), probability.shape[:2], probability


class MaskRCNNBackend:
    """The seed's Mask R-CNN: person instances with masks on the frame grid, cut at ``threshold`` as the seed."""

    def __init__(self, model_dir: Path, threshold: float) -> None:
        from privacy_filter.segment.mask_rcnn import MaskRCNNSegmenter

        self.name = "mask-rcnn"
        self.segmenter = MaskRCNNSegmenter(model_dir)
        self.threshold = threshold

    def find(self, frame: np.ndarray) -> tuple[list[Person], tuple[int, int], np.ndarray]:
        grid = frame.shape[:2]
        soft = self.segmenter.process(frame)
        people = [Person(p.score, p.box, (p.mask > self.threshold).astype(np.float32)) for p in soft]
        raw = np.maximum.reduce([p.mask for p in soft]) if soft else np.zeros(grid, np.float32)
        return people, grid, raw


def default_mask_rcnn_dir() -> Path:
    env = os.environ.get("PRIVACY_FILTER_MASK_RCNN_DIR")
    return Path(env) if env else REPO / "mask-rcnn-coco"


# --- scoring ----------------------------------------------------------------------------------------------


@dataclass
class Scores:
    """Per-frame scores of one method on one set, plus pooled flicker terms."""

    iou: list[float] = field(default_factory=list)
    bf: list[float] = field(default_factory=list)
    bf_tight: list[float] = field(default_factory=list)
    mae: list[float] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)
    flicker_sum: float = 0.0
    flicker_count: int = 0

    def add(self, alpha: np.ndarray, truth: np.ndarray, clean_truth: np.ndarray, ms: float) -> None:
        self.iou.append(metrics.iou(alpha, truth))
        diagonal = float(np.hypot(*truth.shape))
        self.bf.append(metrics.boundary_f(alpha, clean_truth))
        self.bf_tight.append(metrics.boundary_f(alpha, clean_truth, TIGHT_TOLERANCE * diagonal))
        self.mae.append(metrics.mean_abs_error(alpha, truth))
        self.ms.append(ms)

    def add_flicker(self, previous: np.ndarray, alpha: np.ndarray, truth_prev: np.ndarray,
                    truth: np.ndarray) -> None:
        total, count = metrics.flicker_terms(previous, alpha, truth_prev, truth)
        self.flicker_sum += total
        self.flicker_count += count

    @property
    def flicker(self) -> float | None:
        return self.flicker_sum / self.flicker_count if self.flicker_count else None


@dataclass
class OnlyYou:
    """"Only you" scores on images with several annotated people (instances 1 = the main person)."""

    hidden: list[float] = field(default_factory=list)
    user_iou: list[float] = field(default_factory=list)
    hidden_px: int = 0
    others_px: int = 0

    def add(self, alpha: np.ndarray, instances: np.ndarray) -> None:
        others = instances >= 2
        shown = alpha > 0.5
        n_others = int(np.count_nonzero(others))
        n_hidden = n_others - int(np.count_nonzero(shown & others))
        self.hidden.append(n_hidden / n_others if n_others else 1.0)
        self.hidden_px += n_hidden
        self.others_px += n_others
        self.user_iou.append(metrics.iou(shown, instances == 1))


@dataclass
class Worst:
    """Keeps the ``k`` frames with the lowest IoU of ours, as small thumbnails for the contact sheet."""

    k: int
    heap: list[tuple[float, int, str, np.ndarray]] = field(default_factory=list)
    counter: int = 0

    def offer(self, score: float, label: str, frame: np.ndarray, alpha: np.ndarray, truth: np.ndarray) -> None:
        if self.k <= 0:
            return
        self.counter += 1
        # A min-heap on -IoU: its top is the best of the kept worst, the one a worse frame replaces.
        if len(self.heap) >= self.k and -score <= self.heap[0][0]:
            return
        tile = contact_row(frame, alpha, truth, f"{label}  IoU {score:.3f}")
        item = (-score, self.counter, label, tile)
        if len(self.heap) < self.k:
            heapq.heappush(self.heap, item)
        else:
            heapq.heapreplace(self.heap, item)

    def sheet(self) -> np.ndarray | None:
        rows = [tile for _, _, _, tile in sorted(self.heap, key=lambda item: -item[0])]
        if not rows:
            return None
        width = max(row.shape[1] for row in rows)
        return np.vstack([cv2.copyMakeBorder(r, 0, 0, 0, width - r.shape[1], cv2.BORDER_CONSTANT) for r in rows])


def contact_row(frame: np.ndarray, alpha: np.ndarray, truth: np.ndarray, label: str,
                height: int = 180) -> np.ndarray:
    """One contact-sheet row: input | our matte | truth, each ``height`` px high, labelled."""
    scale = height / frame.shape[0]
    size = (max(1, round(frame.shape[1] * scale)), height)
    tiles = [
        cv2.resize(frame, size, interpolation=cv2.INTER_AREA),
        cv2.cvtColor(cv2.resize((alpha * 255).astype(np.uint8), size, interpolation=cv2.INTER_AREA),
                     cv2.COLOR_GRAY2BGR),
        cv2.cvtColor(cv2.resize(truth.astype(np.uint8) * 255, size, interpolation=cv2.INTER_AREA),
                     cv2.COLOR_GRAY2BGR),
    ]
    row = np.hstack([cv2.copyMakeBorder(t, 2, 2, 2, 2, cv2.BORDER_CONSTANT, value=(40, 40, 40)) for t in tiles])
    cv2.putText(row, label, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(row, label, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 255, 255), 1, cv2.LINE_AA)
    return row


@dataclass
class SetResult:
    name: str
    truth: str
    frames: int
    raw: Scores
    ours: Scores
    only_you_raw: OnlyYou
    only_you: OnlyYou
    only_you_big_raw: OnlyYou = field(default_factory=OnlyYou)
    only_you_big: OnlyYou = field(default_factory=OnlyYou)


def evaluate_set(eval_set: EvalSet, backend, keep: str, refiner_kwargs: dict, worst: Worst) -> SetResult:
    """Run RAW and OURS over every frame of a set. Stateful parts are reset per still image and per clip."""
    refiner = MatteRefiner(**refiner_kwargs)
    raw, ours = Scores(), Scores()
    only_you_raw, only_you = OnlyYou(), OnlyYou()
    big_raw, big = OnlyYou(), OnlyYou()
    main_only = keep == "user" and any(s.instances is not None for clip in eval_set.clips for s in clip)
    for clip in eval_set.clips:
        for still in [[s] for s in clip] if not eval_set.is_video else [clip]:
            selector = UserSelector(keep)
            refiner.reset()
            previous: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
            for sample in still:
                frame, truth, instances = _read(sample)
                if main_only and instances is not None:
                    truth = instances == 1
                clean = metrics.remove_specks(truth, SPECK_PX)
                people, grid, raw_small = backend.find(frame)
                t0 = time.perf_counter()
                raw_alpha = cv2.resize(raw_small, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_LINEAR)
                t1 = time.perf_counter()
                kept = selector.select(people, grid)
                our_alpha = refiner.refine(kept, frame, dropped_people(people, kept)).copy()
                t2 = time.perf_counter()
                raw.add(raw_alpha, truth, clean, (t1 - t0) * 1000)
                ours.add(our_alpha, truth, clean, (t2 - t1) * 1000)
                if previous is not None:
                    raw.add_flicker(previous[0], raw_alpha, previous[2], truth)
                    ours.add_flicker(previous[1], our_alpha, previous[2], truth)
                previous = (raw_alpha, our_alpha, truth)
                if instances is not None and instances.max() >= 2:
                    only_you_raw.add(raw_alpha, instances)
                    only_you.add(our_alpha, instances)
                    if np.count_nonzero(instances == 1) >= BIG_MAIN * instances.size:
                        big_raw.add(raw_alpha, instances)
                        big.add(our_alpha, instances)
                worst.offer(ours.iou[-1], f"{eval_set.name}/{sample.name}", frame, our_alpha, truth)
    truth_name = "main person (instances==1)" if main_only else "all people (masks/)"
    return SetResult(eval_set.name, truth_name, eval_set.count, raw, ours, only_you_raw, only_you, big_raw, big)


# --- smoothing per clip (issue 13) ---------------------------------------------------------------------------


def clip_scores(backend, clip: list[Sample], keep: str, refiner_kwargs: dict) -> dict[str, tuple[float, float, float]]:
    """One clip, three mattes: the raw map (bilinear), ours without and with temporal smoothing.

    -> {method: (IoU mean, BF@1% mean, flicker)}; flicker as ``metrics.flicker`` (pixels whose truth is unchanged).
    """
    refiners = {"ours, no smoothing": MatteRefiner(**{**refiner_kwargs, "temporal": False}),
                "ours": MatteRefiner(**{**refiner_kwargs, "temporal": True})}
    selectors = {name: UserSelector(keep) for name in refiners}
    scores: dict[str, list] = {name: [[], [], 0.0, 0] for name in ("raw", *refiners)}
    previous: dict[str, np.ndarray] = {}
    previous_truth = None
    for sample in clip:
        frame, truth, _ = _read(sample)
        people, grid, raw_small = backend.find(frame)
        mattes = {"raw": cv2.resize(raw_small, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_LINEAR)}
        for name, refiner in refiners.items():
            kept = selectors[name].select(people, grid)
            mattes[name] = refiner.refine(kept, frame, dropped_people(people, kept)).copy()
        for name, alpha in mattes.items():
            entry = scores[name]
            entry[0].append(metrics.iou(alpha, truth))
            entry[1].append(metrics.boundary_f(alpha, truth))
            if previous_truth is not None:
                total, count = metrics.flicker_terms(previous[name], alpha, previous_truth, truth)
                entry[2] += total
                entry[3] += count
        previous, previous_truth = mattes, truth
    return {name: (float(np.mean(e[0])), float(np.mean(e[1])), e[2] / max(1, e[3])) for name, e in scores.items()}


def per_clip_table(backend, eval_set: EvalSet, keep: str, refiner_kwargs: dict) -> list[str]:
    """Markdown: per clip, IoU / BF@1% / flicker of raw, ours without and with smoothing; the issue-13 verdict
    (smoothing never below raw in IoU or BF on any clip, flicker <= 50 % of raw)."""
    lines = ["| clip | frames | raw IoU | ours IoU (no smoothing) | raw BF@1% | ours BF@1% (no smoothing) | "
             "raw flicker | ours flicker (no smoothing) | ours flicker / raw |",
             "|---|---|---|---|---|---|---|---|---|"]
    losses = []
    for clip in eval_set.clips:
        name = clip[0].name.split("/")[0]
        r = clip_scores(backend, clip, keep, refiner_kwargs)
        raw, ours, still = r["raw"], r["ours"], r["ours, no smoothing"]
        lines.append(f"| {name} | {len(clip)} | {raw[0]:.3f} | {ours[0]:.3f} ({still[0]:.3f}) | {raw[1]:.3f} | "
                     f"{ours[1]:.3f} ({still[1]:.3f}) | {raw[2]:.5f} | {ours[2]:.5f} ({still[2]:.5f}) | "
                     f"{ours[2] / raw[2]:.0%} |")
        if ours[0] < raw[0] or ours[1] < raw[1] or ours[2] > 0.5 * raw[2]:
            losses.append(name)
    lines += ["", "Target (issue 13): on every clip ours >= raw in IoU and BF@1 %, flicker <= 50 % of raw: "
              + ("met." if not losses else f"NOT met on {', '.join(losses)}.")]
    return lines


# --- speed ------------------------------------------------------------------------------------------------


def time_refinement(clip: Path, refiner_kwargs: dict, frames: int, model_selection: int) -> list[str]:
    """ms per refine() on real webcam frames at 640x480 and the same frames upscaled to 1280x720, with
    OpenCV's default threads and with one; and the flicker on still pixels of the clip (no truth needed)."""
    from privacy_filter.segment.selfie import SelfieSegmenter

    capture = cv2.VideoCapture(str(clip))
    images = []
    while len(images) < frames:
        ok, frame = capture.read()
        if not ok:
            break
        images.append(frame)
    capture.release()
    if not images:
        return [f"(speed skipped: cannot read {clip})"]
    segmenter = SelfieSegmenter(model_selection)
    coarse = [segmenter.process(f).copy() for f in images]
    threads = cv2.getNumThreads()
    lines = ["| frame | OpenCV threads | bilinear only (ms) | ours: refine() mean (ms) | median | p95 |",
             "|---|---|---|---|---|---|"]
    try:
        for size in ((640, 480), (1280, 720)):
            scaled = [f if f.shape[1::-1] == size else cv2.resize(f, size) for f in images]
            for n_threads in dict.fromkeys((threads, 1)):
                cv2.setNumThreads(n_threads)
                bilinear, refine = _time_once(scaled, coarse, size, refiner_kwargs)
                lines.append(f"| {size[0]}x{size[1]} | {n_threads} | {np.mean(bilinear):.2f} | "
                             f"{np.mean(refine):.2f} | {np.median(refine):.2f} | {np.percentile(refine, 95):.2f} |")
    finally:
        cv2.setNumThreads(threads)
    raw, ours = still_flicker(images, coarse, refiner_kwargs)
    lines += ["", f"Flicker on still pixels of the webcam clip (no truth: pixels whose grey level moved < "
              f"{STILL_LEVELS} between frames; {len(images)} frames at 640x480): raw {raw:.5f}, ours {ours:.5f} "
              f"({ours / raw:.0%} of raw)."]
    return lines


def _time_once(frames: list[np.ndarray], coarse: list[np.ndarray], size: tuple[int, int],
               refiner_kwargs: dict) -> tuple[list[float], list[float]]:
    refiner = MatteRefiner(**refiner_kwargs)
    bilinear: list[float] = []
    refine: list[float] = []
    for _ in range(2):  # the first pass warms caches and buffers
        bilinear.clear()
        refine.clear()
        refiner.reset()
        for frame, alpha in zip(frames, coarse, strict=True):
            t0 = time.perf_counter()
            cv2.resize(alpha, size, interpolation=cv2.INTER_LINEAR)
            t1 = time.perf_counter()
            refiner.refine(alpha, frame)
            t2 = time.perf_counter()
            bilinear.append((t1 - t0) * 1000)
            refine.append((t2 - t1) * 1000)
    return bilinear, refine


STILL_LEVELS = 3  # of 255: below this a pixel's change is sensor noise, the scene did not move there


def still_flicker(frames: list[np.ndarray], coarse: list[np.ndarray], refiner_kwargs: dict) -> tuple[float, float]:
    """Mean |a_t - a_t-1| of raw (bilinear) and our mattes over pixels where the frame itself stood still."""
    refiner, selector = MatteRefiner(**refiner_kwargs), UserSelector()
    sums, count = [0.0, 0.0], 0
    previous = None
    for frame, probability in zip(frames, coarse, strict=True):
        height, width = frame.shape[:2]
        grey = cv2.GaussianBlur(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), (3, 3), 0).astype(np.int16)
        raw = cv2.resize(probability, (width, height), interpolation=cv2.INTER_LINEAR)
        ours = refiner.refine(selector.select(split_people(probability), probability.shape[:2]), frame).copy()
        if previous is not None:
            still = np.abs(grey - previous[0]) < STILL_LEVELS
            count += int(np.count_nonzero(still))
            sums[0] += float(np.abs(raw - previous[1])[still].sum(dtype=np.float64))
            sums[1] += float(np.abs(ours - previous[2])[still].sum(dtype=np.float64))
        previous = (grey, raw, ours)
    return sums[0] / max(1, count), sums[1] / max(1, count)


# --- the README's edge picture -----------------------------------------------------------------------------

EDGE_FRAME = 80  # of asl_webcam_concat.mp4: dark hair and an orange hood against a white wall
EDGE_CROP = (236, 84, 176, 176)  # x, y, w, h in the 640x480 frame: hair, cheek, hood, shoulder


def edge_picture(clip: Path, out: Path, frame_index: int = EDGE_FRAME,
                 crop: tuple[int, int, int, int] = EDGE_CROP, zoom: int = 2,
                 colour: tuple[int, int, int] = (150, 110, 40)) -> int:
    """Write a before/after crop: the bilinear-upsampled model output cut at 0.5 (left) vs our matte (right),
    each composited over a flat ``colour`` (BGR; a flat background shows the edge, a blur would hide it),
    with the mattes below. Returns the PNG's size in bytes.

    The selector and refiner run over the 15 frames before ``frame_index`` first, so their state is as in use.
    """
    from privacy_filter.segment.selfie import SelfieSegmenter

    segmenter, refiner, selector = SelfieSegmenter(1), MatteRefiner(), UserSelector()
    capture = cv2.VideoCapture(str(clip))
    start = max(0, frame_index - 15)
    capture.set(cv2.CAP_PROP_POS_FRAMES, start)
    frame = probability = ours = None
    for _ in range(frame_index - start + 1):
        ok, frame = capture.read()
        if not ok:
            raise UserError(f"cannot read frame {frame_index} of {clip}")
        probability = segmenter.process(frame)
        ours = refiner.refine(selector.select(split_people(probability), probability.shape[:2]), frame)
    capture.release()
    height, width = frame.shape[:2]
    hard = (cv2.resize(probability, (width, height), interpolation=cv2.INTER_LINEAR) > 0.5).astype(np.float32)
    x, y, w, h = crop
    sharp = frame[y:y + h, x:x + w].astype(np.float32)
    flat = np.empty_like(sharp)
    flat[:] = colour
    columns = []
    for alpha, label in ((hard, "before: bilinear upsampling, cut at 0.5"), (ours, "after: refined matte")):
        a = alpha[y:y + h, x:x + w, None]
        composite = (a * sharp + (1 - a) * flat + 0.5).astype(np.uint8)
        matte = cv2.cvtColor((a[..., 0] * 255 + 0.5).astype(np.uint8), cv2.COLOR_GRAY2BGR)
        column = cv2.resize(np.vstack([composite, matte]), None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
        header = np.full((28, column.shape[1], 3), 255, np.uint8)
        cv2.putText(header, label, (6, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        columns.append(np.vstack([header, column]))
    gap = np.full((columns[0].shape[0], 6, 3), 255, np.uint8)
    picture = np.hstack([columns[0], gap, columns[1]])
    out.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(".png", picture, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise UserError(f"cannot encode {out}")
    out.write_bytes(data.tobytes())
    return len(data)


# --- report -----------------------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def quality_table(results: Sequence[SetResult]) -> list[str]:
    lines = [
        "| set | frames | truth | method | IoU mean | IoU median | BF@1% | BF@0.3% | MAE | flicker | ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for method, s in (("raw", r.raw), ("ours", r.ours)):
            lines.append(
                f"| {r.name} | {r.frames} | {r.truth} | {method} | {np.mean(s.iou):.4f} | {np.median(s.iou):.4f} | "
                f"{np.mean(s.bf):.4f} | {np.mean(s.bf_tight):.4f} | {np.mean(s.mae):.4f} | "
                f"{_fmt(s.flicker, 5)} | {np.mean(s.ms):.2f} |"
            )
    return lines


def only_you_table(rows: Sequence[tuple[str, OnlyYou, OnlyYou]]) -> list[str]:
    """rows: (label, raw scores, our scores)."""
    lines = [
        "| images | n | method | others hidden: mean | pooled | user IoU mean | median "
        + "| share with hidden >= 0.9 and user IoU >= 0.9 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, raw, ours in rows:
        for method, o in (("raw (keep all)", raw), ("ours", ours)):
            if not o.hidden:
                continue
            both = np.mean([(h >= 0.9) and (u >= 0.9) for h, u in zip(o.hidden, o.user_iou, strict=True)])
            lines.append(
                f"| {label} | {len(o.hidden)} | {method} | {np.mean(o.hidden):.3f} | "
                f"{o.hidden_px / max(1, o.others_px):.3f} | {np.mean(o.user_iou):.3f} | "
                f"{np.median(o.user_iou):.3f} | {both:.2f} |"
            )
    return lines if len(lines) > 2 else []


# --- "only you" with a passer-by: real portraits, a real person cut out and walked behind the user -------


def passer_by_frame(user: np.ndarray, user_mask: np.ndarray, other: np.ndarray, other_mask: np.ndarray,
                    x: int, scale: float, top: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``other``'s person (cut out by its mask, scaled) pasted behind the user, left edge at ``x``, top edge at
    ``top`` (None: standing on the bottom edge).

    user, other: HxWx3 uint8 BGR; masks: HxW bool. Returns (frame HxWx3 uint8 BGR, instances HxW uint8:
    1 = user, 2 = passer-by where seen, 0 = room).
    """
    height, width = user_mask.shape
    ys, xs = np.nonzero(other_mask)
    y1, y2, x1, x2 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    size = (max(1, round((x2 - x1) * scale)), max(1, round((y2 - y1) * scale)))
    person = cv2.resize(other[y1:y2, x1:x2], size, interpolation=cv2.INTER_AREA)
    cut = cv2.resize(other_mask[y1:y2, x1:x2].astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    frame, instances = user.copy(), user_mask.astype(np.uint8)
    top = max(0, height - size[1]) if top is None else top
    bottom = min(height, top + size[1])
    left, right = max(0, x), min(width, x + size[0])
    if right <= left or bottom <= top:
        return frame, instances
    region = (slice(top, bottom), slice(left, right))
    seen = cut[: bottom - top, left - x : right - x] & ~user_mask[region]
    frame[region][seen] = person[: bottom - top, left - x : right - x][seen]
    instances[region][seen] = 2
    return frame, instances


def passer_by_walks(backend, portraits: Path, walks: int, keep: str, refiner_kwargs: dict,
                    frames: int = 30, scale: float = 0.6) -> tuple[OnlyYou, OnlyYou, int, int]:
    """Walk the person of portrait 2i+1 behind the user of portrait 2i, left to right in ``frames`` frames.

    Returns (raw scores, our scores, frames scored, frames where ours showed the passer-by instead of the user).
    Frames where less than 0.5 % of the image is passer-by are not scored (entering, leaving).
    """
    images = sorted((portraits / "images").glob("*.jpg"))[: 2 * walks]
    raw_scores, our_scores, scored, switched = OnlyYou(), OnlyYou(), 0, 0
    for user_path, other_path in zip(images[::2], images[1::2], strict=False):
        user, user_mask, _ = _read(_sample(portraits, user_path))
        other, other_mask, _ = _read(_sample(portraits, other_path))
        width = user.shape[1]
        walker_width = round(np.ptp(np.nonzero(other_mask)[1]) * scale)
        selector, refiner = UserSelector(keep), MatteRefiner(**refiner_kwargs)
        for step in range(frames):
            x = round(-walker_width + step * (width + walker_width) / (frames - 1))
            frame, instances = passer_by_frame(user, user_mask, other, other_mask, x, scale)
            people, grid, raw_small = backend.find(frame)
            ours = refiner.refine(selector.select(people, grid), frame)
            if np.count_nonzero(instances == 2) < 0.005 * instances.size:
                continue
            raw = cv2.resize(raw_small, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_LINEAR)
            raw_scores.add(raw, instances)
            our_scores.add(ours, instances)
            scored += 1
            shown = ours > 0.5
            switched += bool(shown[instances == 2].mean() > 0.5 and shown[instances == 1].mean() < 0.5)
    return raw_scores, our_scores, scored, switched


# --- the lone user is kept whole (no truth needed) ------------------------------------------------------------

LONE_USER_CLIPS = (Path("videos") / "asl_webcam_concat.mp4", Path("videos") / "head-pose-face-detection-male.mp4")


def user_cut(people: list, grid: tuple[int, int], kept: np.ndarray) -> float:
    """Share of all people's core (p > 0.5 on the model grid) that ``kept`` (hxw alpha of who stays sharp)
    hides. On a clip with one person in view this is the part of the user wrongly hidden."""
    if not people:
        return 0.0
    everyone = np.maximum.reduce([p.mask for p in people]) > 0.5
    total = np.count_nonzero(everyone)
    return float(np.count_nonzero(everyone & (kept <= 0.5)) / total) if total else 0.0


def lone_user_cut(find, clip: Path, keep: str = "user") -> np.ndarray:
    """user_cut per frame of a one-person clip, the selector running in order. find(frame) -> (people, grid)."""
    capture = cv2.VideoCapture(str(clip))
    selector, cuts = UserSelector(keep), []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        people, grid = find(frame)[:2]
        cuts.append(user_cut(people, grid, selector.select(people, grid)))
    capture.release()
    return np.array(cuts)


# --- command line -----------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quality", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="*", type=Path, help="extra sets: folders with images/ and masks/")
    parser.add_argument("--sets", default=",".join(DEFAULT_SETS),
                        help="comma-separated set names under <shared>/eval ('' for none; default: %(default)s)")
    parser.add_argument("--limit", type=int, default=None, help="at most N images per set / frames per clip")
    parser.add_argument("--backend", nargs="+", choices=("selfie", "mask-rcnn"), default=["selfie"])
    parser.add_argument("--model-selection", type=int, choices=(0, 1), default=1,
                        help="selfie model: 0 general 256x256, 1 landscape 256x144 (default 1)")
    parser.add_argument("--mask-rcnn-dir", type=Path, default=None,
                        help="Mask R-CNN folder (default $PRIVACY_FILTER_MASK_RCNN_DIR or mask-rcnn-coco/)")
    parser.add_argument("--threshold", type=float, default=0.3, help="Mask R-CNN mask cut (seed: 0.3)")
    parser.add_argument("--keep", choices=KEEP_CHOICES, default="user", help="who stays sharp in OURS")
    refine = parser.add_argument_group("refinement (default: MatteRefiner's defaults)")
    refine.add_argument("--no-guided", dest="guided", action="store_false", default=None)
    refine.add_argument("--no-temporal", dest="temporal", action="store_false", default=None)
    refine.add_argument("--guide", choices=GUIDES, default=None)
    for flag, kind in (("work-size", int), ("radius", int), ("eps", float), ("passes", int), ("pass-sharpen", float),
                       ("sharpen", float), ("still-weight", float), ("motion-gain", float), ("grow-px", int),
                       ("feather-px", int)):
        refine.add_argument(f"--{flag}", type=kind, default=None)
    parser.add_argument("--worst", type=int, default=0, help="keep the K frames with the lowest IoU of ours")
    parser.add_argument("--sheet", type=Path, default=None, help="write the worst frames' contact sheet PNG here")
    parser.add_argument("--edge-picture", type=Path, default=None,
                        help="only write the README's before/after edge crop (from the CC BY 4.0 webcam clip) here")
    parser.add_argument("--walks", type=int, default=10,
                        help="passer-by walks behind portrait users for 'only you' (0 = skip; default %(default)s)")
    parser.add_argument("--speed-frames", type=int, default=300,
                        help="frames of the webcam clip to time refine() on (0 = skip; default %(default)s)")
    return parser.parse_args(argv)


def refiner_kwargs(args: argparse.Namespace) -> dict:
    names = ("guided", "guide", "work_size", "radius", "eps", "passes", "pass_sharpen", "sharpen", "temporal",
             "still_weight", "motion_gain", "grow_px", "feather_px")
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def make_backends(args: argparse.Namespace) -> list:
    backends = []
    for name in args.backend:
        if name == "selfie":
            backends.append(SelfieBackend(args.model_selection))
            continue
        model_dir = args.mask_rcnn_dir or default_mask_rcnn_dir()
        try:
            backends.append(MaskRCNNBackend(model_dir, args.threshold))
        except UserError as exc:
            print(f"mask-rcnn: skipped, the real weights are not available ({exc})\n")
    return backends


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worst and not args.sheet:
        args.sheet = Path("quality_worst.png")
    if args.sheet and not args.worst:
        args.worst = 12
    kwargs = refiner_kwargs(args)
    if args.edge_picture:
        size = edge_picture(shared_dir() / "eval" / SPEED_CLIP, args.edge_picture)
        print(f"wrote {args.edge_picture} ({size // 1024} KB)")
        return 0
    try:
        eval_root = shared_dir() / "eval"
        roots = [eval_root / name for name in args.sets.split(",") if name] + list(args.folders)
        sets = [load_set(root, args.limit) for root in roots]
        backends = make_backends(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    command = "python -m benchmarks.quality " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"`{command.strip()}`  (refiner: MatteRefiner({', '.join(f'{k}={v}' for k, v in kwargs.items())}), "
          f"keep={args.keep})\n")
    worst = Worst(args.worst)
    for backend in backends if sets or args.walks > 0 else []:
        started = time.perf_counter()
        results = [evaluate_set(s, backend, args.keep, kwargs, worst) for s in sets]
        print(f"### {backend.name}: raw model vs ours ({time.perf_counter() - started:.0f} s)\n")
        print("\n".join(quality_table(results)) + "\n")
        rows = []
        for r in results:
            rows.append((f"{r.name}, >1 person", r.only_you_raw, r.only_you))
            rows.append((f"{r.name}, >1 person, main >= {BIG_MAIN:.0%} of frame", r.only_you_big_raw, r.only_you_big))
        walks = None
        if args.walks > 0 and (shared_dir() / "eval" / PASSER_BY_SET).is_dir():
            walks = passer_by_walks(backend, shared_dir() / "eval" / PASSER_BY_SET, args.walks, args.keep, kwargs)
            rows.append((f"{PASSER_BY_SET} + passer-by walking behind ({args.walks} walks)", walks[0], walks[1]))
        only_you = only_you_table(rows)
        if only_you:
            print("Only you (truth: the main person = instances==1 in COCO, the portrait's person in the "
                  "walks; others = every other annotated or pasted person):\n")
            print("\n".join(only_you) + "\n")
        if walks is not None:
            print(f"Passer-by walks: {walks[2]} frames scored, in {walks[3]} of them ours showed the passer-by "
                  "instead of the user.\n")
        lone = [(clip, lone_user_cut(backend.find, shared_dir() / "eval" / clip, args.keep))
                for clip in LONE_USER_CLIPS if (shared_dir() / "eval" / clip).is_file()]
        if lone:
            print("The user kept whole (one person in view, no truth: the share of the person the selection "
                  "hides; should be 0):\n\n| clip | frames | mean hidden | frames with > 5 % hidden | max |\n"
                  "|---|---|---|---|---|")
            for clip, cuts in lone:
                print(f"| {clip.name} | {len(cuts)} | {cuts.mean():.4f} | {int((cuts > 0.05).sum())} | "
                      f"{cuts.max(initial=0.0):.3f} |")
            print()
        for result_set in (s for s in sets if s.is_video):
            print(f"Per clip of {result_set.name}: raw model vs ours, without and with temporal smoothing:\n")
            print("\n".join(per_clip_table(backend, result_set, args.keep, kwargs)) + "\n")
    if args.speed_frames > 0:
        clip = shared_dir() / "eval" / SPEED_CLIP
        print(f"### Refinement speed ({args.speed_frames} frames of {SPEED_CLIP.name}, "
              f"{cv2.getNumThreads()} OpenCV threads)\n")
        print("\n".join(time_refinement(clip, kwargs, args.speed_frames, args.model_selection)) + "\n")
    sheet = worst.sheet()
    if args.sheet and sheet is not None:
        cv2.imwrite(str(args.sheet), sheet)
        print(f"worst {len(worst.heap)} frames (input | our matte | truth): {args.sheet}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
