"""MoveNet MultiPose: the bundled fp32 file against quantised variants (issue 24, item 4), in one process.

    python -m benchmarks.movenet_variants VARIANT.tflite [...] [--runs 200] [--repeats 3] [--no-agreement]

The variants come from ``tools/quantize_movenet.py`` (ai-edge-quantizer, outside the product). Reported:

* speed: ms per inference at 1 LiteRT thread, the models interleaved run by run (one frame, each model in
  turn, the order rotated every run) so that other load on the box falls on all alike; ``--repeats`` blocks of
  ``--runs`` runs, median and p90 per block; with XNNPack (LiteRT's default) and without it
  (``BUILTIN_WITHOUT_DEFAULT_DELEGATES``: LiteRT's own kernels);
* load: seconds to open the file and run once, and the process's RSS growth, each model in a fresh process;
* agreement with fp32 on real frames: eg1800 portraits, COCO person photos, and benchmarks.only_you's touching
  and walk-behind scene frames (tune half): people found (score >= multipose.MIN_SCORE) by each, matched by box
  IoU >= 0.5; for matched people the keypoint distance in model-input pixels (256 across) over the keypoints
  fp32 is sure of (score >= 0.2), and the person score difference.

Separation (others hidden, user IoU, frames with the user cut) is ``benchmarks.only_you`` run with
PRIVACY_FILTER_MOVENET=VARIANT.tflite, compared with a run without it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from benchmarks.evalsets import _read, _sample, shared_dir
from benchmarks.separation import PASSER_BY_SET, passer_by_frame
from privacy_filter.people.multipose import MIN_SCORE, MODEL, decode, letterbox_int
from privacy_filter.people.skeletons import box_iou
from privacy_filter.segment.models import BUNDLED_MODELS_DIR

FP32 = BUNDLED_MODELS_DIR / MODEL
MATCH_IOU = 0.5
SURE = 0.2  # keypoints fp32 scores at least this count in the distance


def interpreter(path: Path, xnnpack: bool = True):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kind = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    model = Interpreter(model_path=str(path), num_threads=1, experimental_op_resolver_type=kind)
    model.allocate_tensors()
    return model


def infer(model, tensor: np.ndarray) -> np.ndarray:
    """1x256x256x3 int32 -> 6x56 float32 (an int8 output is dequantised with the file's scale)."""
    model.set_tensor(model.get_input_details()[0]["index"], tensor)
    model.invoke()
    detail = model.get_output_details()[0]
    out = model.get_tensor(detail["index"])
    if out.dtype != np.float32:
        scale, zero = detail["quantization"]
        out = (out.astype(np.float32) - zero) * scale
    return out.reshape(-1, 56)


# --- speed -----------------------------------------------------------------------------------------------------


def speed(paths: list[Path], tensor: np.ndarray, runs: int, repeats: int, xnnpack: bool) -> dict[str, list]:
    """{file name: [(median ms, p90 ms) per repeat]}: all models interleaved, order rotated each run."""
    models = [interpreter(p, xnnpack) for p in paths]
    for model in models:  # warm up
        for _ in range(3):
            infer(model, tensor)
    out: dict[str, list] = {p.name: [] for p in paths}
    for _ in range(repeats):
        times: list[list[float]] = [[] for _ in paths]
        for run in range(runs):
            for k in range(len(paths)):
                i = (k + run) % len(paths)
                start = time.perf_counter()
                infer(models[i], tensor)
                times[i].append((time.perf_counter() - start) * 1000)
        for path, t in zip(paths, times, strict=True):
            out[path.name].append((float(np.median(t)), float(np.percentile(t, 90))))
    return out


# --- load time and memory: each model in a fresh process -------------------------------------------------------


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def load_child(path: str, xnnpack: bool) -> None:
    tensor = np.zeros((1, 256, 256, 3), np.int32)
    from ai_edge_litert.interpreter import Interpreter  # noqa: F401  (imported before the baseline RSS)

    before = _rss_kib()
    start = time.perf_counter()
    model = interpreter(Path(path), xnnpack)
    infer(model, tensor)
    seconds = time.perf_counter() - start
    print(json.dumps({"load_s": seconds, "rss_mib": (_rss_kib() - before) / 1024}))


def load_costs(path: Path, xnnpack: bool, times: int = 3) -> tuple[float, float]:
    """(median seconds to load and run once, median RSS growth MiB) over ``times`` fresh processes."""
    rows = []
    for _ in range(times):
        out = subprocess.run([sys.executable, "-m", "benchmarks.movenet_variants", "--load-child", str(path)]
                             + ([] if xnnpack else ["--no-xnnpack"]), capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return (float(np.median([r["load_s"] for r in rows])), float(np.median([r["rss_mib"] for r in rows])))


# --- agreement on real frames ----------------------------------------------------------------------------------


def frame_sets(eval_root: Path, pairs: int = 5, every: int = 3) -> dict[str, Iterator[np.ndarray]]:
    from benchmarks.only_you import SCENES, portrait_pairs, scene_frames

    portraits = eval_root / PASSER_BY_SET

    def stills(folder: Path) -> Iterator[np.ndarray]:
        for path in sorted(folder.glob("*.jpg")):
            image = cv2.imread(str(path))
            if image is not None:
                yield image

    def touching() -> Iterator[np.ndarray]:
        images = portrait_pairs(portraits, pairs, "tune")
        for scene in SCENES:
            for k, (a, b) in enumerate(zip(images[::2], images[1::2], strict=False)):
                user, user_mask, _ = _read(_sample(portraits, a))
                other, other_mask, _ = _read(_sample(portraits, b))
                frames = scene_frames(user, user_mask, other, other_mask, scene, from_left=k % 2 == 0)
                for n, (frame, _) in enumerate(frames):
                    if n % every == 0:
                        yield frame

    def walks(frames: int = 30, scale: float = 0.6) -> Iterator[np.ndarray]:
        images = portrait_pairs(portraits, pairs, "tune")
        for a, b in zip(images[::2], images[1::2], strict=False):
            user, user_mask, _ = _read(_sample(portraits, a))
            other, other_mask, _ = _read(_sample(portraits, b))
            width = user.shape[1]
            walker = round(np.ptp(np.nonzero(other_mask)[1]) * scale)
            for k in range(0, frames, every):
                x = round(-walker + k * (width + walker) / (frames - 1))
                yield passer_by_frame(user, user_mask, other, other_mask, x, scale)[0]

    return {
        "eg1800 portraits": stills(portraits / "images"),
        "COCO person photos": stills(eval_root / "coco128seg_person" / "images"),
        "touching + peek-in scenes": touching(),
        "walk-behind scenes": walks(),
    }


class Agreement:
    """One variant against fp32 over a set of frames."""

    def __init__(self) -> None:
        self.frames = self.found_ref = self.found = self.matched = 0
        self.distances: list[float] = []
        self.score_diffs: list[float] = []

    def add(self, ref_rows: np.ndarray, rows: np.ndarray, frame_hw: tuple[int, int]) -> None:
        longer = max(frame_hw)
        ref, got = decode(ref_rows, frame_hw, MIN_SCORE), decode(rows, frame_hw, MIN_SCORE)
        self.frames += 1
        self.found_ref += len(ref)
        self.found += len(got)
        free = list(range(len(got)))
        for body in ref:  # best first: greedy by box IoU
            best = max(free, key=lambda j: box_iou(body.box, got[j].box), default=None)
            if best is None or box_iou(body.box, got[best].box) < MATCH_IOU:
                continue
            free.remove(best)
            self.matched += 1
            other = got[best]
            sure = body.keypoint_scores >= SURE
            gap = np.linalg.norm(body.keypoints[sure] - other.keypoints[sure], axis=1) * 256 / longer
            self.distances += gap.tolist()
            self.score_diffs.append(abs(other.score - body.score))

    def row(self) -> str:
        d = np.asarray(self.distances or [np.nan])
        s = np.asarray(self.score_diffs or [np.nan])
        return (f"{self.frames} | {self.found_ref} / {self.found} / {self.matched} | {np.mean(d):.2f} / "
                f"{np.percentile(d, 95):.2f} / {np.max(d):.1f} | {np.mean(s):.3f} / {np.max(s):.3f}")


def agreement(paths: list[Path], eval_root: Path) -> list[str]:
    ref_model = interpreter(FP32)
    models = {p.name: interpreter(p) for p in paths}
    lines = ["| frames | variant | n | people fp32 / variant / matched | keypoint px (256 across) mean / p95 / max "
             "| person score diff mean / max |", "|---|---|---|---|---|---|"]
    for set_name, frames in frame_sets(eval_root).items():
        scores = {name: Agreement() for name in models}
        for frame in frames:
            tensor = letterbox_int(frame)
            ref = infer(ref_model, tensor)
            for name, model in models.items():
                scores[name].add(ref, infer(model, tensor), frame.shape[:2])
        lines += [f"| {set_name} | {name} | {a.row()} |" for name, a in scores.items()]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="*", type=Path)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--runs-off", type=int, default=None, help="runs without XNNPack (default: --runs)")
    parser.add_argument("--xnnpack", choices=("on", "off", "both"), default="both")
    parser.add_argument("--no-agreement", action="store_true")
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--no-load", action="store_true")
    parser.add_argument("--no-xnnpack", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--load-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.load_child:
        load_child(str(args.load_child), not args.no_xnnpack)
        return 0
    for path in args.variants:
        if not path.is_file():
            parser.error(f"no such file: {path}")
    paths = [FP32, *args.variants]
    eval_root = shared_dir() / "eval"
    flags = Path("/proc/cpuinfo").read_text()
    cpu = "AVX-512" if " avx512f" in flags else "AVX2" if " avx2" in flags else "no AVX2"
    print(f"CPU class: {cpu}{' (VNNI)' if 'avx512_vnni' in flags else ''}; load {Path('/proc/loadavg').read_text()}")
    for path in paths:
        print(f"{path.name}: {path.stat().st_size / 2**20:.1f} MiB")
    if not args.no_agreement:
        print("\n".join(agreement(args.variants, eval_root)), flush=True)
    if not args.no_load:
        print("\n| file | XNNPack | load + first run s | RSS growth MiB |\n|---|---|---|---|")
        for xnnpack in (True, False):
            for path in paths:
                seconds, mib = load_costs(path, xnnpack)
                print(f"| {path.name} | {'on' if xnnpack else 'off'} | {seconds:.3f} | {mib:.0f} |", flush=True)
    if not args.no_speed:
        frame = cv2.imread(str(sorted((eval_root / "coco128seg_person" / "images").glob("*.jpg"))[0]))
        tensor = letterbox_int(frame)
        for xnnpack in {"on": (True,), "off": (False,), "both": (True, False)}[args.xnnpack]:
            runs = args.runs if xnnpack or args.runs_off is None else args.runs_off
            table = speed(paths, tensor, runs, args.repeats, xnnpack)
            print(f"\nspeed, XNNPack {'on' if xnnpack else 'off'}, 1 thread, {runs} interleaved runs x "
                  f"{args.repeats}: median / p90 ms per repeat; ratio of medians to fp32")
            base = [m for m, _ in table[FP32.name]]
            for name, rows in table.items():
                cells = ", ".join(f"{m:.1f} / {p:.1f}" for m, p in rows)
                ratios = ", ".join(f"{m / b:.2f}" for (m, _), b in zip(rows, base, strict=True))
                print(f"| {name} | {cells} | x {ratios} |", flush=True)
    print(f"load after: {Path('/proc/loadavg').read_text()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
