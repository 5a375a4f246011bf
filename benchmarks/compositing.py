"""Compositing cost: refine + effect + blend per frame, ours against an earlier commit's code, same run.

    python -m benchmarks.compositing                  # 640x480 and 1280x720, default effect (blur, kernel 81)
    python -m benchmarks.compositing --effect pixelate --frames 120 --repeats 5
    python -m benchmarks.compositing --avx2           # re-runs itself with OpenCV and numpy dispatching as on
                                                      # an AVX2 CPU without AVX-512 (the product's target class)

Frames are the standard webcam clip (``../shared/eval/videos/asl_webcam_concat.mp4``, 640x480; upscaled for
1280x720), their person maps come from the selfie model once, before any timing. Per frame and stage the
two code paths run one after the other (so machine noise hits both alike); printed are medians over all frames
and repeats, and the ratio ours / baseline. The baseline is the same three modules (matte, effects,
compositor) as they were at ``--baseline`` (a commit; default b82998f, before issue 13), loaded from git.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from privacy_filter.render import effects

REPO = Path(__file__).resolve().parent.parent
CLIP = Path("eval") / "videos" / "asl_webcam_concat.mp4"
SIZES = ((640, 480), (1280, 720))
STAGES = ("refine", "effect", "blend")
# OpenCV 5.0 names its AVX-512 dispatch level "AVX512-SKX" (the AVX512_* spellings are "unknown" to it);
# numpy groups AVX-512 as X86_V4 plus two extra levels.
AVX2_ENV = {"OPENCV_CPU_DISABLE": "AVX512-SKX", "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR"}


def shared_dir() -> Path:
    return Path(os.environ.get("PRIVACY_FILTER_SHARED", REPO.parent / "shared"))


def cpu_class() -> str:
    """What OpenCV and numpy dispatch to here, e.g. 'OpenCV AVX2 (AVX-512 off), numpy X86_V3, 2 cores'."""
    line = cv2.getCPUFeaturesLine()
    if "AVX512-SKX?" in line:
        opencv = "AVX2 (AVX-512 off)"
    elif "AVX512" in line:
        opencv = "AVX-512"
    else:
        opencv = "AVX2" if "AVX2" in line else line
    from numpy._core import _multiarray_umath as umath

    found = [name for name, on in umath.__cpu_features__.items() if on and name.startswith("AVX512")]
    disabled = set(os.environ.get("NPY_DISABLE_CPU_FEATURES", "").split())
    numpy_level = "X86_V3 (AVX2)" if "X86_V4" in disabled or not found else "X86_V4 (AVX-512)"
    return f"OpenCV {opencv}, numpy {numpy_level}, {os.cpu_count()} cores"


def load_baseline(commit: str) -> object:
    """The package's matte, effects, compositor and errors modules as of ``commit``, importable as a package."""
    folder = Path(tempfile.mkdtemp(prefix="pf_baseline_"))
    package = folder / "pf_baseline"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in ("matte", "effects", "compositor", "errors", "pyramid"):
        shown = subprocess.run(["git", "-C", str(REPO), "show", f"{commit}:privacy_filter/{name}.py"],
                               capture_output=True, text=True)
        if shown.returncode and name == "pyramid":
            continue  # older commits have no pyramid module
        shown.check_returncode()
        (package / f"{name}.py").write_text(shown.stdout)
    sys.path.insert(0, str(folder))
    return importlib.import_module("pf_baseline")


def read_frames(count: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(shared_dir() / CLIP))
    frames = []
    while len(frames) < count:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    if not frames:
        raise SystemExit(f"privacy-filter: error: cannot read {shared_dir() / CLIP}")
    return frames


def time_path(refiner, effect, takes_alpha: bool, compositor, frame, coarse) -> list[float]:
    """[refine, effect, blend] in CPU ms (process time: all threads) then the same three in wall ms."""
    clocks = (time.process_time, time.perf_counter)
    t0 = [c() for c in clocks]
    alpha = refiner.refine(coarse, frame)
    t1 = [c() for c in clocks]
    background = effect(frame, alpha) if takes_alpha else effect(frame)
    t2 = [c() for c in clocks]
    compositor.blend(frame, background, alpha)
    t3 = [c() for c in clocks]
    return [(b[k] - a[k]) * 1000 for k in range(2) for a, b in ((t0, t1), (t1, t2), (t2, t3))]


def run(args: argparse.Namespace) -> list[str]:
    from privacy_filter.render import compositor, effects, matte
    from privacy_filter.segment.selfie import SelfieSegmenter

    load_baseline(args.baseline)
    old_matte = importlib.import_module("pf_baseline.matte")
    old_effects = importlib.import_module("pf_baseline.effects")
    old_compositor = importlib.import_module("pf_baseline.compositor")
    frames = read_frames(args.frames)
    segmenter = SelfieSegmenter(1)
    coarse = [segmenter.process(f).copy() for f in frames]
    cv2.setNumThreads(args.threads)
    lines = [f"CPU class: {cpu_class()}; OpenCV threads {cv2.getNumThreads()}; {len(frames)} frames x "
             f"{args.repeats} repeats, effect {args.effect} {args.kernel}; baseline = {args.baseline}; "
             f"load average {os.getloadavg()[0]:.1f}",
             "",
             "CPU ms = process CPU time (what the stage costs, not inflated by waiting for a busy core); wall ms = "
             "elapsed. Medians over frames and repeats; the two code paths alternate frame by frame.",
             "",
             "| frame | code | refine | effect | blend | total CPU ms | / baseline | total wall ms | / baseline |",
             "|---|---|---|---|---|---|---|---|---|"]
    for size in SIZES:
        scaled = [f if f.shape[1::-1] == size else cv2.resize(f, size, interpolation=cv2.INTER_LINEAR) for f in frames]
        paths = {
            "baseline": (old_matte.MatteRefiner(), old_effects.make_effect(args.effect, args.kernel),
                         "alpha" in inspect.signature(old_effects.blur).parameters,
                         old_compositor.Compositor()),
            "ours": (matte.MatteRefiner(), effects.make_effect(args.effect, args.kernel), True,
                     compositor.Compositor()),
        }
        times: dict[str, list[list[float]]] = {name: [] for name in paths}
        for repeat in range(args.repeats + 1):  # the first round warms buffers and caches, not counted
            for path in paths.values():
                path[0].reset()
            for frame, probability in zip(scaled, coarse, strict=True):
                for name, path in paths.items():
                    sample = time_path(*path, frame, probability)
                    if repeat:
                        times[name].append(sample)
        totals: dict[str, tuple[float, float]] = {}
        for name in paths:
            samples = np.array(times[name])
            stage = np.median(samples[:, :3], axis=0)
            totals[name] = (float(np.median(samples[:, :3].sum(axis=1))), float(np.median(samples[:, 3:].sum(axis=1))))
            base = totals["baseline"]
            lines.append(f"| {size[0]}x{size[1]} | {name} | {stage[0]:.2f} | {stage[1]:.2f} | {stage[2]:.2f} | "
                         f"{totals[name][0]:.2f} | {totals[name][0] / base[0]:.2f} | {totals[name][1]:.2f} | "
                         f"{totals[name][1] / base[1]:.2f} |")
    return lines


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compositing", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=100, help="frames of the webcam clip (default %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes over them (default %(default)s)")
    parser.add_argument("--effect", default="blur", help="background effect (default %(default)s)")
    parser.add_argument("--kernel", type=int, default=effects.DEFAULT_KERNEL,
                        help="--kernel (default %(default)s, the product's)")
    parser.add_argument("--threads", type=int, default=1,
                        help="OpenCV threads (default %(default)s: on a shared or 2-core box the model's thread "
                             "takes the other core)")
    parser.add_argument("--baseline", default="b82998f", help="commit to compare with (default %(default)s)")
    parser.add_argument("--avx2", action="store_true",
                        help="re-run with OpenCV and numpy limited to AVX2 dispatch (" +
                             " ".join(f"{k}={v!r}" for k, v in AVX2_ENV.items()) + ")")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.avx2 and any(os.environ.get(k) != v for k, v in AVX2_ENV.items()):
        # Dispatch is fixed when the libraries load: start again in a process with the environment set.
        env = dict(os.environ, **AVX2_ENV)
        rest = [a for a in (sys.argv[1:] if argv is None else argv)]
        return subprocess.call([sys.executable, "-m", "benchmarks.compositing", *rest], env=env, cwd=REPO)
    print("\n".join(run(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
