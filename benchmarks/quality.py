"""Mask quality you can measure: the raw model and the program's own filter over images/clips with truth.

    python -m benchmarks.quality                       # all sets in ../shared/eval, selfie backend
    python -m benchmarks.quality --sets eg1800_portrait_test --limit 40
    python -m benchmarks.quality path/to/my_set        # any folder with images/ + masks/ (same names)
    python -m benchmarks.quality --worst 12 --sheet worst.png   # contact sheet: input | our matte | truth
    python -m benchmarks.quality --backend mask-rcnn   # needs the real weights; says so and skips otherwise

A set is a folder with ``images/<name>.jpg`` and ``masks/<name>.png`` (0 = background, 255 = person); a set
whose ``images/`` holds sub-folders is a set of clips (``images/<clip>/<frame>.jpg``, frames in name order),
read from the clip's video (``videos/<clip>.mp4``) where the set has one (``--frames``; ``evalsets``).
If the set has ``instances/<name>.png`` (uint8 ids, 1 = largest person), the "main person" (id 1) is the truth
when only the user is kept, and the images with several people also get the "only you" table.

Printed per set (markdown), for the RAW model output (bilinear upsampling only, no refinement, everyone kept)
and for OURS: the matte ``instance_segmentation.py --input CLIP --mask-output MATTE --no-display`` writes, from
the program's own filter built by its own builder (``backends.cli_processor``: people stage, selection,
refinement; the refinement flags below replace the program's ``MatteRefiner()`` only when given), started
afresh for each image and clip as for an input file (``tests/test_agreement.py`` checks the two agree):
IoU mean and median (alpha > 0.5), boundary F (Perazzi et al.) at 1 % and 0.3 % of the image diagonal (truth
cleaned of specks < 100 px), mean absolute alpha error, flicker for clips (mean |a_t - a_t-1| where the truth
does not change), and the ms per frame of selection + refinement. Then the "only you" tables (``separation``),
and the refinement's speed on the 640x480 webcam clip and at 1280x720 (``refinement``).
"""

from __future__ import annotations

import argparse
import heapq
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from benchmarks import metrics
from benchmarks.backends import MaskRCNNBackend, SelfieBackend, default_mask_rcnn_dir, new_input, upsampled
from benchmarks.evalsets import DEFAULT_SETS, EvalSet, Sample, clip_frames, clip_name, clip_video, load_set, shared_dir
from benchmarks.refinement import SPEED_CLIP, edge_picture, time_refinement
from benchmarks.separation import (
    LONE_USER_CLIPS,
    PASSER_BY_SET,
    OnlyYou,
    lone_user_cut,
    only_you_table,
    passer_by_walks,
)
from privacy_filter.errors import UserError
from privacy_filter.people.selection import KEEP_CHOICES
from privacy_filter.render.matte import GUIDES

SPECK_PX = 100  # eg1800 masks carry 1-50 px islands at hair fringes (eval/SOURCES.md): not real contours
BIG_MAIN = 0.05  # "webcam-like": the main person fills at least this share of the frame
TIGHT_TOLERANCE = 0.003  # of the diagonal: 2.4 px at 640x480, where edge refinement shows


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


def evaluate_set(eval_set: EvalSet, backend, keep: str, refiner_kwargs: dict, worst: Worst,
                 frames: str = "video") -> SetResult:
    """Run RAW and OURS over every frame of a set.

    OURS is the program's own filter (``backend.processor``: what ``instance_segmentation.py`` runs), started
    afresh for each still image and each clip, as the program does for each input file. A clip's frames are
    its video's, decoded as the program decodes them, when the set has the video and ``frames`` is "video"
    (``evalsets.clip_frames``); else its images.
    """
    processor = backend.processor(keep, refiner_kwargs)
    raw, ours = Scores(), Scores()
    only_you_raw, only_you = OnlyYou(), OnlyYou()
    big_raw, big = OnlyYou(), OnlyYou()
    main_only = keep == "user" and any(s.instances is not None for clip in eval_set.clips for s in clip)
    for clip in eval_set.clips:
        video = clip_video(eval_set, clip) if frames == "video" else None
        for still in [[s] for s in clip] if not eval_set.is_video else [clip]:
            new_input(processor)
            previous: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
            for sample, frame, truth, instances in clip_frames(still, video):
                if main_only and instances is not None:
                    truth = instances == 1
                clean = metrics.remove_specks(truth, SPECK_PX)
                raw_small = backend.find(frame)[2]
                t0 = time.perf_counter()
                raw_alpha = upsampled(raw_small, frame)
                t1 = time.perf_counter()
                our_alpha = processor.process(frame).alpha.copy()
                raw.add(raw_alpha, truth, clean, (t1 - t0) * 1000)
                ours.add(our_alpha, truth, clean, processor.stage_ms["select"] + processor.stage_ms["refine"])
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
    processor.close()
    truth_name = "main person (instances==1)" if main_only else "all people (masks/)"
    return SetResult(eval_set.name, truth_name, eval_set.count, raw, ours, only_you_raw, only_you, big_raw, big)


# --- smoothing per clip (issue 13) ---------------------------------------------------------------------------


def clip_scores(backend, clip: list[Sample], keep: str, refiner_kwargs: dict, video: Path | None = None
                ) -> dict[str, tuple[float, float, float]]:
    """One clip, three mattes: the raw map (bilinear), ours (the program's filter) without and with temporal
    smoothing. video: the clip's video, whose frames are then scored (``evalsets.clip_frames``); None: its
    images.

    -> {method: (IoU mean, BF@1% mean, flicker)}; flicker as ``metrics.flicker`` (pixels whose truth is unchanged).
    """
    processors = {"ours, no smoothing": backend.processor(keep, {**refiner_kwargs, "temporal": False}),
                  "ours": backend.processor(keep, {**refiner_kwargs, "temporal": True})}
    scores: dict[str, list] = {name: [[], [], 0.0, 0] for name in ("raw", *processors)}
    previous: dict[str, np.ndarray] = {}
    previous_truth = None
    for _, frame, truth, _ in clip_frames(clip, video):
        mattes = {"raw": upsampled(backend.find(frame)[2], frame)}
        for name, processor in processors.items():
            mattes[name] = processor.process(frame).alpha.copy()
        for name, alpha in mattes.items():
            entry = scores[name]
            entry[0].append(metrics.iou(alpha, truth))
            entry[1].append(metrics.boundary_f(alpha, truth))
            if previous_truth is not None:
                total, count = metrics.flicker_terms(previous[name], alpha, previous_truth, truth)
                entry[2] += total
                entry[3] += count
        previous, previous_truth = mattes, truth
    for processor in processors.values():
        processor.close()
    return {name: (float(np.mean(e[0])), float(np.mean(e[1])), e[2] / max(1, e[3])) for name, e in scores.items()}


def per_clip_table(backend, eval_set: EvalSet, keep: str, refiner_kwargs: dict, frames: str = "video") -> list[str]:
    """Markdown: per clip, IoU / BF@1% / flicker of raw, ours without and with smoothing; the issue-13 verdict
    (smoothing never below raw in IoU or BF on any clip, flicker <= 50 % of raw)."""
    lines = ["| clip | frames | raw IoU | ours IoU (no smoothing) | raw BF@1% | ours BF@1% (no smoothing) | "
             "raw flicker | ours flicker (no smoothing) | ours flicker / raw |",
             "|---|---|---|---|---|---|---|---|---|"]
    losses = []
    for clip in eval_set.clips:
        name = clip_name(clip)
        r = clip_scores(backend, clip, keep, refiner_kwargs, clip_video(eval_set, clip) if frames == "video" else None)
        raw, ours, still = r["raw"], r["ours"], r["ours, no smoothing"]
        lines.append(f"| {name} | {len(clip)} | {raw[0]:.3f} | {ours[0]:.3f} ({still[0]:.3f}) | {raw[1]:.3f} | "
                     f"{ours[1]:.3f} ({still[1]:.3f}) | {raw[2]:.5f} | {ours[2]:.5f} ({still[2]:.5f}) | "
                     f"{ours[2] / raw[2]:.0%} |")
        if ours[0] < raw[0] or ours[1] < raw[1] or ours[2] > 0.5 * raw[2]:
            losses.append(name)
    lines += ["", "Target (issue 13): on every clip ours >= raw in IoU and BF@1 %, flicker <= 50 % of raw: "
              + ("met." if not losses else f"NOT met on {', '.join(losses)}.")]
    return lines


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
    parser.add_argument("--frames", choices=("video", "images"), default="video",
                        help="a clip's frames: its video (<set>/videos/<clip>.mp4, what the program filters) where "
                             "the set has one, else the images; or always the images (default: %(default)s)")
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
        results = [evaluate_set(s, backend, args.keep, kwargs, worst, args.frames) for s in sets]
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
        processor = backend.processor(args.keep)  # its finder: the program's people stage, fresh for each clip
        lone = [(clip, lone_user_cut(new_input(processor).finder.find, shared_dir() / "eval" / clip, args.keep))
                for clip in LONE_USER_CLIPS if (shared_dir() / "eval" / clip).is_file()]
        processor.close()
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
            print("\n".join(per_clip_table(backend, result_set, args.keep, kwargs, args.frames)) + "\n")
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
