"""Whole program, file to file: does writing (and reading) through PyAV slow the file pipeline? (issue 15)

    git worktree add /tmp/before <commit before PyAV>        # or: git archive <commit> | tar -x -C /tmp/before
    python -m benchmarks.file_io --before /tmp/before --repeats 5

Runs ``python instance_segmentation.py --input CLIP --output OUT.mp4 --no-display`` of the other checkout and of
this one, alternating (so both see the same machine load), and prints one markdown table: median wall seconds
(model loading included), FPS, CPU seconds (user + sys of the child), output size, and the ratio of this
checkout's median to the other's. ``--avx2`` makes OpenCV and numpy dispatch as on an AVX2 CPU (the product's
target) on a machine with AVX-512 (FFmpeg, x264 and LiteRT's XNNPACK still pick their own code paths). Prints
numbers only; no test depends on them.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLIP = REPO.parent / "shared" / "eval" / "videos" / "asl_webcam_concat.mp4"
AVX2_ENV = {  # names as opencv-python 5.0 and numpy 2.4 spell them (check: cv2.getCPUFeaturesLine(), a '?' = off)
    "OPENCV_CPU_DISABLE": "AVX512-SKX,AVX512-COMMON,AVX512-ICL,AVX512-CLX,AVX512-CNL",
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
}


def run_once(checkout: Path, clip: Path, folder: Path, env: dict[str, str]) -> tuple[float, float, int]:
    """(wall s, child CPU s, output bytes) of one whole run."""
    out = folder / "out.mp4"
    out.unlink(missing_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(checkout / "instance_segmentation.py"), "--input", str(clip), "--output", str(out),
         "--no-display"],
        cwd=checkout, capture_output=True, text=True, env={**os.environ, **env},
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"{checkout}: exit {result.returncode}: {result.stderr.strip().splitlines()[-1:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, out.stat().st_size


def frame_count(clip: Path) -> int:
    import av

    with av.open(str(clip)) as container:
        return container.streams.video[0].frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="a checkout of the program to compare with")
    parser.add_argument("--clip", type=Path, default=CLIP)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--avx2", action="store_true", help="dispatch OpenCV and numpy as on an AVX2 CPU")
    args = parser.parse_args()
    env = AVX2_ENV if args.avx2 else {}
    frames = frame_count(args.clip)
    runs: dict[str, list[tuple[float, float, int]]] = {"before": [], "this": []}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.repeats):
            for name, checkout in (("before", args.before), ("this", REPO)):
                runs[name].append(run_once(checkout.resolve(), args.clip, Path(folder), env))
    median = {name: statistics.median(w for w, _, _ in got) for name, got in runs.items()}
    print(f"{args.clip.name}, {frames} frames, {args.repeats} alternating runs each, "
          f"{'AVX2 dispatch' if args.avx2 else 'native dispatch'}, {os.cpu_count()} cores\n")
    print("| program | median wall s | FPS | median CPU s | output MB | all wall s |")
    print("|---|---|---|---|---|---|")
    for name, got in runs.items():
        walls = [w for w, _, _ in got]
        print(f"| {name} | {median[name]:.2f} | {frames / median[name]:.1f} | "
              f"{statistics.median(c for _, c, _ in got):.2f} | {got[-1][2] / 1e6:.2f} | "
              f"{' '.join(f'{w:.1f}' for w in walls)} |")
    print(f"\nthis / before (median wall time): {median['this'] / median['before']:.3f}")


if __name__ == "__main__":
    main()
