"""Never cut a lone user (issue 24, item 3): the pose-mask cut with and without its lone-user guard, in one run.

    python -m benchmarks.lone_user --half tune     # tune on this
    python -m benchmarks.lone_user                 # report this (check half)

``main``: the people stage as before (``FacePeople.guard_lone = False``: a region reaching beyond the one face's
pose mask by BODY_OUTSIDE is cut to it, even on a still); ``lone``: the pose mask cuts only with evidence of
someone else (a second face, a second body). Both with MoveNet bodies (the CLI's stage). Rows: the touching
scenes and walk-behind of ``benchmarks.only_you`` (others hidden, user IoU, frames with the user cut), COCO
(main person >= 5 %), the one-person clips (frames with > 5 % of the user hidden), and the eg1800 portraits
through the CLI's own processor (``backends.cli_processor``), with the pose masks off as the reference:
IoU mean, and portraits more than 0.01 IoU worse than with the pose masks off.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from benchmarks import metrics
from benchmarks.backends import SelfieBackend, new_input
from benchmarks.evalsets import shared_dir
from benchmarks.only_you import (
    Method,
    coco_scores,
    lone_user_variants,
    table,
    touching_scenes,
    walk_behind,
)
from benchmarks.separation import LONE_USER_CLIPS, PASSER_BY_SET, user_cut
from privacy_filter.people.selection import UserSelector

WORSE = 0.01  # a portrait this much worse (IoU) than with the pose masks off counts as trimmed


def make_methods() -> tuple:
    from privacy_filter.people.bodies import BodyMasker
    from privacy_filter.people.bodysplit import BodySplit
    from privacy_filter.people.faces import FaceDetector
    from privacy_filter.people.multipose import MultiPoseDetector
    from privacy_filter.people.stage import EDGE_SCORE, FacePeople
    from privacy_filter.pipeline import SelfiePeople
    from privacy_filter.segment.selfie import SelfieSegmenter

    segmenter = SelfieSegmenter(1)
    faces, bodies, movenet = FaceDetector(min_score=EDGE_SCORE), BodyMasker(), MultiPoseDetector()
    regions = SelfiePeople(segmenter)
    stages = {}
    for name, guard in (("main", False), ("lone", True)):
        stage = FacePeople(SelfiePeople(segmenter), faces, bodies=bodies, multipose=BodySplit(movenet))
        stage.guard_lone = guard
        stages[name] = stage

    def raw(frame: np.ndarray) -> np.ndarray:
        return cv2.resize(segmenter.process(frame), (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_LINEAR)

    methods = [Method("keep-all", regions.find, "all", {})]
    methods += [Method(name, stage.find, "user", {}, stage.reset) for name, stage in stages.items()]
    return raw, methods


def lone_user_trims(stage, frames: list[np.ndarray]) -> np.ndarray:
    """Per frame of a one-person clip: the share of the selfie regions given to ``stage`` (a FacePeople) that the
    user selection then hides (``separation.user_cut`` on the stage's input, so the pose-mask trim counts too)."""
    stage.reset()
    selector, cuts, given = UserSelector("user"), [], {}
    base_find = stage.base.find

    def spy(frame: np.ndarray):
        given["people"], grid = base_find(frame)
        return given["people"], grid

    stage.base.find = spy
    try:
        for frame in frames:
            people, grid = stage.find(frame)
            cuts.append(user_cut(given["people"], grid, selector.select(people, grid)))
    finally:
        del stage.base.find
    return np.array(cuts)


def portraits(half: str | None) -> list[str]:
    """eg1800 rows: per half (tune: the first 66 portraits by name, check: the rest), the CLI's processor with the
    pose masks off, main's rule and the guard: IoU mean and the portraits > WORSE below pose-masks-off."""
    root = shared_dir() / "eval" / "eg1800_portrait_test"
    images = sorted((root / "images").glob("*.jpg"))
    backend = SelfieBackend(1)
    processors = {name: backend.processor("user", {}) for name in ("off", "main", "lone")}
    stages: dict[str, Any] = {name: processor.finder for name, processor in processors.items()}  # FacePeople
    stages["off"].bodies = None
    stages["main"].guard_lone = False
    ious: dict[str, list[float]] = {name: [] for name in processors}
    for image in images:
        frame = cv2.imread(str(image))
        mask = cv2.imread(str(root / "masks" / f"{image.stem}.png"), cv2.IMREAD_GRAYSCALE)
        assert frame is not None and mask is not None, image
        truth = np.asarray(mask > 127)
        for name, processor in processors.items():
            alpha = new_input(processor).process(frame).alpha
            assert alpha is not None
            ious[name].append(metrics.iou(alpha, truth))
    lines = ["| eg1800 portraits | pose masks off: IoU | main: IoU | main: > 0.01 worse (worst) "
             "| lone: IoU | lone: > 0.01 worse (worst) |", "|---|---|---|---|---|---|"]
    middle = len(images) // 2
    for label, part in (("tune (first half)", slice(0, middle)), ("check (second half)", slice(middle, None)),
                        (f"all {len(images)}", slice(None))):
        off = np.array(ious["off"][part])
        cells = [f"{off.mean():.4f}"]
        for name in ("main", "lone"):
            got = np.array(ious[name][part])
            worse = off - got
            cells += [f"{got.mean():.4f}", f"{int((worse > WORSE).sum())} ({worse.max():+.3f})"]
        if half is None or half in label or label.startswith("all"):
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for processor in processors.values():
        processor.close()
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.lone_user", description=__doc__.split("\n\n")[0])
    parser.add_argument("--half", choices=("tune", "check"), default="check")
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--walks", type=int, default=10)
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: scenes,coco,lone,eg1800")
    args = parser.parse_args(argv)
    skip = set(args.skip.split(","))
    eval_root = shared_dir() / "eval"
    started = time.perf_counter()
    print(f"`python -m benchmarks.lone_user {' '.join(sys.argv[1:] if argv is None else argv)}`\n", flush=True)
    raw, methods = make_methods()
    if "scenes" not in skip or "coco" not in skip:
        results = {}
        if "scenes" not in skip:
            results = touching_scenes(raw, methods, eval_root / PASSER_BY_SET, args.pairs, args.half)
            if args.walks:
                results["walk-behind"] = walk_behind(raw, methods, eval_root / PASSER_BY_SET, args.walks,
                                                     half=args.half)
        if "coco" not in skip:
            results["COCO, main >= 5 %"] = coco_scores(raw, methods, eval_root / "coco128seg_person", half=args.half)
        print("\n".join(table(results)) + "\n", flush=True)
    if "lone" not in skip:
        print("The one-person clips: frames where more than 5 % (1 %) of the user is hidden, against the selfie "
              "regions the people stage was given (the pose-mask trim included), and the largest share:\n\n"
              "| one-person clip | variant | frames | main | lone |\n|---|---|---|---|---|")
        for clip in LONE_USER_CLIPS:
            if not (eval_root / clip).is_file():
                continue
            for variant, frames in lone_user_variants(eval_root / clip).items():
                cells = []
                for method in methods[1:]:
                    cuts = lone_user_trims(method.find.__self__, frames)
                    over = f"{int((cuts > 0.05).sum())} ({int((cuts > 0.01).sum())})"
                    cells.append(f"{over}, max {cuts.max(initial=0):.3f}")
                print(f"| {clip.name} | {variant} | {len(frames)} | " + " | ".join(cells) + " |", flush=True)
        print()
    if "eg1800" not in skip:
        print("\n".join(portraits(args.half)) + "\n")
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
