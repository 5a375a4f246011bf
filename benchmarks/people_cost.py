"""What the people stage as the program builds it costs a frame, against the stage before bodies (issue 24 item 4).

``python -m benchmarks.people_cost [--repeats 7]``. Two inputs: the one-person webcam clip (all its frames) and
the three-person clip played forth and back (people close together all the time). Three finders, each reset and
run over the whole input once per repeat, taking turns (the order flips each repeat), so the machine's load hits
them alike:

* selfie regions: the segmenter alone (``SelfiePeople``);
* before bodies: faces and pose masks, the stage before issue 24 (the "today" of its +0.5 CPU-ms budget);
* the program's default: ``app.build.build_finder`` with the default flags (MoveNet, the face floor, the gated
  silhouette prior): exactly what ``instance_segmentation.py`` runs.

Printed: process CPU-ms a frame (median and range over repeats) and the default's extra over "before bodies",
repeat by repeat. A difference of two noisy sums is noisy on a shared machine, so the table also counts each
model's runs and their median CPU-ms a run: the models' share of the extra is then runs x cost, which load
does not change, and the rest (numpy/OpenCV work of the stage) is the remainder. Every figure is CPU time
(all threads) of find(), which includes the deferred model runs (nobody calls ``after_handoff`` here).
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from benchmarks.machine import cpu_class, cpu_model, load, shared_dir
from benchmarks.only_you import THREE_PEOPLE_CLIP, clip_frames
from benchmarks.separation import LONE_USER_CLIPS
from privacy_filter.app import build, cli
from privacy_filter.people.bodies import BodyMasker
from privacy_filter.people.faces import FaceDetector
from privacy_filter.people.stage import EDGE_SCORE, FacePeople
from privacy_filter.pipeline import SelfiePeople
from privacy_filter.segment import runtime
from privacy_filter.segment.selfie import SelfieSegmenter

BEFORE, DEFAULT, REGIONS = "before bodies (faces + pose masks)", "the program's default", "selfie regions"


class ModelClock:
    """Counts each model file's runs and their CPU time, per finder being timed (wraps ``TFLiteModel.run``)."""

    def __init__(self) -> None:
        self.finder = ""
        self.runs: dict[tuple[str, str], list[float]] = defaultdict(list)
        original = runtime.TFLiteModel.run
        clock = self

        def run(model, *args, **kwargs):
            start = time.process_time()
            out = original(model, *args, **kwargs)
            clock.runs[(clock.finder, Path(model.path).stem)].append((time.process_time() - start) * 1000)
            return out

        runtime.TFLiteModel.run = run  # (this process only: a benchmark, not the program)


def finders() -> dict[str, Callable]:
    segmenter = SelfieSegmenter()
    before = FacePeople(SelfiePeople(segmenter), FaceDetector("full", min_score=EDGE_SCORE), bodies=BodyMasker())
    default = build.build_finder(cli.parse_args(["--no-display"]))
    return {REGIONS: SelfiePeople(segmenter).find, BEFORE: before.find, DEFAULT: default.find}


def time_them(frames: list[np.ndarray], found: dict[str, Callable], repeats: int, clock: ModelClock
              ) -> dict[str, list[float]]:
    """{finder: [CPU-ms a frame, one per repeat]}; the clock counts the model runs of the last repeat only."""
    cpu: dict[str, list[float]] = {name: [] for name in found}
    for repeat in range(repeats):
        order = list(found.items())
        for name, find in order[::-1] if repeat % 2 else order:
            reset = getattr(getattr(find, "__self__", None), "reset", None)
            if reset is not None:
                reset()
            clock.finder = name if repeat == repeats - 1 else ""
            start = time.process_time()
            for frame in frames:
                find(frame)
            cpu[name].append((time.process_time() - start) * 1000 / len(frames))
    return cpu


def report(title: str, frames: int, cpu: dict[str, list[float]], clock: ModelClock) -> list[str]:
    lines = [f"\n### {title} ({frames} frames a repeat)\n", "| finder | CPU-ms a frame: median (min-max) |",
             "|---|---|"]
    for name, values in cpu.items():
        lines.append(f"| {name} | {np.median(values):.2f} ({min(values):.2f}-{max(values):.2f}) |")
    extra = np.array(cpu[DEFAULT]) - np.array(cpu[BEFORE])
    lines.append(f"\nThe default's extra over \"{BEFORE}\", repeat by repeat: "
                 + ", ".join(f"{value:+.2f}" for value in extra) + f"; median **{np.median(extra):+.2f}** CPU-ms")
    lines += ["", "| model | runs (before / default) | CPU-ms a run, median | extra runs x that, CPU-ms a frame |",
              "|---|---|---|---|"]
    models = sorted({model for (_, model) in clock.runs})
    modelled = 0.0
    for model in models:
        ran = {name: clock.runs.get((name, model), []) for name in (BEFORE, DEFAULT)}
        each = float(np.median(ran[DEFAULT] + ran[BEFORE]))
        share = (len(ran[DEFAULT]) - len(ran[BEFORE])) * each / frames  # (extra runs x a run's median cost)
        modelled += share
        lines.append(f"| {model} | {len(ran[BEFORE])} / {len(ran[DEFAULT])} | {each:.1f} | {share:+.2f} |")
    rest = float(np.median(extra)) - modelled
    lines.append(f"\nModels' share of the extra (the last repeat's runs): {modelled:+.2f} CPU-ms a frame; the rest "
                 f"(the stage's own numpy/OpenCV work: the median extra minus that): {rest:+.2f}.")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="runs of each finder over each input (median)")
    args = parser.parse_args()
    cv2.setNumThreads(runtime.PIPELINE_OPENCV_THREADS)  # as the pipeline runs the stage
    eval_root = shared_dir() / "eval"
    clock = ModelClock()
    found = finders()
    print(f"# {cpu_model()}, {cpu_class()}; load at start {load()}")
    lone = clip_frames(eval_root / LONE_USER_CLIPS[0])
    three = clip_frames(eval_root / THREE_PEOPLE_CLIP)
    three = (three + three[::-1]) * 4
    for title, frames in ((f"One person: {LONE_USER_CLIPS[0].name}", lone),
                          (f"Three people close together: {THREE_PEOPLE_CLIP.name}, forth and back", three)):
        clock.runs.clear()
        cpu = time_them(frames, found, args.repeats, clock)
        print("\n".join(report(title, len(frames), cpu, clock)), flush=True)
    print(f"\n# load at end {load()}")


if __name__ == "__main__":
    main()
