"""Speed you can re-run: ours against the peer people would use instead, latency, and the cost of every stage.

    python -m benchmarks.run                          # the standard clip, 640x480 and 1280x720, ~5 minutes
    python -m benchmarks.run --avx2                   # the same with OpenCV's AVX-512 dispatch disabled
    python -m benchmarks.run --threads-sweep --models # + the thread and selfie-model choices
    python -m benchmarks.run my_clip.mp4 --repeats 5  # any clips
    python -m benchmarks.run --soak                   # + resident memory after 500 and 5000 frames
    python -m benchmarks.run --mask-rcnn mask-rcnn-coco   # Mask R-CNN with the real weights (if you have them)
    python -m benchmarks.run --backends selfie --no-peer  # quick

Headless; prints a header (CPU model, vector extensions, whether OpenCV dispatches AVX-512, the CPU class
every figure belongs to, the model runtime and its threads), then markdown tables, then notes. This file is the
command; what it measures lives beside it: ``machine`` (the header, per-thread CPU), ``stages`` (the default
pipeline, clips, per-stage timers), ``e2e`` (ours, the seed and the peer end to end; latency), ``choices``
(cv2.dnn options, thread sweep, model table, soak, plot).

* **Ours vs the peer**, per frame size, runs taking turns (median of ``--repeats``):
  - *ours* = the program's whole DEFAULT pipeline as ``build.build_processor`` builds it from the default flags
    (so a stage the program gains is measured without touching this file): frames from the app's threaded
    reader (``sources.open_source``), segmentation overlapped on the worker (``concurrent.overlap``), then
    ``FrameProcessor``; no display, no encode;
  - *peer* = MediaPipe's own runtime (``mediapipe`` pip package, ``SelfieSegmentation`` with the same
    model_selection) + a full-frame 41x41 Gaussian + ``np.where``, as Linux-Fake-Background-Webcam
    composites (``benchmarks/peer.py``). mediapipe pins its own protobuf and numpy<2, so it runs as a
    subprocess in its own venv: ``$PRIVACY_FILTER_PEER_PYTHON``, else ``benchmarks/.venv-peer`` (git-ignored),
    created from ``benchmarks/requirements-peer.txt`` when missing (``--no-peer-install`` not to). If it cannot
    be had, its row says why and the rest runs;
  - *seed-style* = the same model and reader, then the seed's compositing on one thread
    (``benchmarks.seed_baseline``);
  - FPS, CPU-ms per frame (process CPU time of all threads / frames), and the ratios ours/peer;
  - **latency**: frames fed at 30 FPS through the camera code path (the clip paced at its slot times inside
    the app's live ``CaptureReader``, ``overlap(realtime=True)``, the processor), ms from a frame becoming
    available to its filtered frame leaving the pipeline, p50 and p95 (after a 1 s warm-up).
* **stage costs** (median / p95 ms per frame) from a separate, sequential pass over the same frames, each
  stage timed alone: decode, preprocess, inference, select, refine, effect (blur 41), blend, encode.
* ``--threads-sweep``: the whole default pipeline under LiteRT threads x OpenCV threads, and with no worker.
* ``--models``: both selfie models on each runtime (inference ms and CPU-ms), and the whole pipeline with each.
* ``--avx2``: re-runs itself with ``OPENCV_CPU_DISABLE`` naming OpenCV's AVX-512 dispatch targets, so an
  AVX-512 box approximates an AVX2 CPU **for OpenCV only**: LiteRT's XNNPACK, numpy and the peer's MediaPipe
  still use AVX-512, so it is an approximation, said in the header. A real AVX2 CPU is the measurement.
* **Mask R-CNN** (real weights if found, else stand-in RANDOM weights generated from the real graph: then the
  masks are meaningless and only the speed counts): the seed's synchronous loop against our asynchronous
  path (model on its worker, every frame composited with the newest mask followed by the selfie map).

The 1280x720 (and plot) sizes are the clip resized (stretched) and re-encoded once as MPEG-4 into a temp
folder; 640x480 is the clip itself (H.264). Timing never goes in tests; this script only prints numbers.
The plot (``--plot``, benchmarks/cost_by_resolution.png) needs matplotlib (requirements-bench.txt).
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from benchmarks.choices import dnn_options, model_table, plot, soak, thread_sweep
from benchmarks.e2e import Run, e2e_mask_async, e2e_mask_seed, e2e_ours, e2e_peer, e2e_seed, latency, peer_python
from benchmarks.machine import (
    AVX512_DISPATCH,
    COMPOSITING,
    REPO,
    SIZES,
    STAGES,
    cpu_class,
    cpu_flags,
    load,
    machine,
    opencv_avx512,
    shared_dir,
    vector_line,
)
from benchmarks.stages import (
    Stages,
    TimedMaskRCNN,
    TimedSelfie,
    default_args,
    default_processor,
    fmt,
    frames_of,
    prepare,
    profile_ours,
    profile_seed,
    runtime_line,
)
from privacy_filter.app import build
from privacy_filter.pipeline import InstancePeople
from privacy_filter.segment.mask_rcnn import MaskRCNNSegmenter
from privacy_filter.segment.selfie import SelfieSegmenter


def standin_model_dir(folder: Path) -> Path:
    """A Mask R-CNN folder with stand-in random weights for the real text graph (tests/mask_rcnn_standin)."""
    import shutil

    sys.path.insert(0, str(REPO / "tests"))
    import mask_rcnn_standin as standin

    target = folder / "mask-rcnn-standin"
    target.mkdir(exist_ok=True)
    source = standin.real_pbtxt().parent
    for name in (standin.PBTXT_NAME, "object_detection_classes_coco.txt"):
        shutil.copy(source / name, target / name)
    weights = target / "frozen_inference_graph.pb"
    if not weights.is_file():
        standin.write_standin_pb(target / standin.PBTXT_NAME, weights)
    return target


def find_mask_rcnn(args: argparse.Namespace, folder: Path) -> tuple[Path | None, bool]:
    """(model folder, real weights?) or (None, False) if neither the real weights nor the graph are here."""
    for candidate in (args.mask_rcnn, REPO / "mask-rcnn-coco", shared_dir() / "models" / "mask-rcnn-coco"):
        if candidate and (Path(candidate) / "frozen_inference_graph.pb").is_file():
            return Path(candidate), True
    if (shared_dir() / "models" / "mask-rcnn-coco" / "mask_rcnn_inception_v2_coco_2018_01_28.pbtxt").is_file():
        return standin_model_dir(folder), False
    return None, False


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="clips (default: the standard webcam clip)")
    parser.add_argument("--sizes", default=",".join(f"{w}x{h}" for w, h in SIZES), help="WxH,WxH,...")
    parser.add_argument("--backends", default="selfie,mask-rcnn")
    parser.add_argument("--frames", type=int, default=300, help="frames per run (0 = the whole clip; default 300)")
    parser.add_argument("--repeats", type=int, default=3, help="end-to-end runs per configuration (median)")
    parser.add_argument("--pipeline", default="", help="extra program flags for OUR pipeline, e.g. "
                        "'--model-selection 0' (default: none, the program's defaults)")
    parser.add_argument("--encode", action="store_true", help="also end-to-end runs writing an .mp4 (+enc)")
    parser.add_argument("--latency-frames", type=int, default=300,
                        help="frames fed at 30 FPS through the camera reader for the latency (default 300 = 10 s)")
    parser.add_argument("--no-peer", action="store_true", help="skip the peer (MediaPipe + LFBW compositing)")
    parser.add_argument("--no-peer-install", action="store_true",
                        help="do not create benchmarks/.venv-peer if it is missing (the peer row then says so)")
    parser.add_argument("--avx2", action="store_true",
                        help="re-run with OpenCV's AVX-512 dispatch disabled (OPENCV_CPU_DISABLE): an AVX-512 box "
                             "then approximates an AVX2 CPU for OpenCV only (LiteRT's XNNPACK still uses AVX-512)")
    parser.add_argument("--threads-sweep", action="store_true",
                        help="also: the whole pipeline under LiteRT threads x OpenCV threads, and without the worker")
    parser.add_argument("--models", action="store_true",
                        help="also: both selfie models on each runtime, and the whole pipeline with each")
    parser.add_argument("--mask-rcnn", type=Path, help="Mask R-CNN folder with the real weights")
    parser.add_argument("--mask-seconds", type=float, default=12.0,
                        help="how long to run the asynchronous Mask R-CNN path per size and mode (default 12 s)")
    parser.add_argument("--seed-mask-frames", type=int, default=5, help="frames of the seed's Mask R-CNN loop")
    parser.add_argument("--threads", type=int, default=0, help="cv2.setNumThreads before the runs (0: default)")
    parser.add_argument("--soak", action="store_true", help="resident memory after 500 and 5000 frames")
    parser.add_argument("--dnn-options", action="store_true", help="also: the cv2.dnn settings table")
    parser.add_argument("--plot", type=Path, nargs="?", const=REPO / "benchmarks" / "cost_by_resolution.png",
                        help="also: draw the cost-by-resolution plot (default benchmarks/cost_by_resolution.png)")
    parser.add_argument("--plot-frames", type=int, default=150, help="frames per size for the plot")
    args = parser.parse_args(argv)
    args.pipeline = tuple(shlex.split(args.pipeline))
    return args


def stage_cells(stages: Stages) -> str:
    return (" | ".join(f"{fmt(stages.median(s), 2)} / {fmt(stages.p95(s), 2)}" for s in STAGES)
            + f" | {fmt(stages.total_median(COMPOSITING), 2)} / {fmt(stages.total_p95(COMPOSITING), 2)}")


@dataclass
class Peer:
    """The peer's interpreter (None: not available, ``why``)."""

    python: Path | None
    why: str = ""


def bench_selfie(clip: Path, sized: Path, label: str, args: argparse.Namespace, segmenter: SelfieSegmenter,
                 folder: Path, rows: list[str], headline: list[str], notes: list[str], peer: Peer) -> None:
    """Stage profiles, then end-to-end runs of ours (the app's default pipeline), the peer and the seed's way,
    alternated run by run (so that load elsewhere on the machine hits them alike), then the paced latency."""
    timed = TimedSelfie(segmenter)
    print(f"# {clip.name} {label}: stage profiles...", flush=True)
    ours_stages = profile_ours(sized, timed, args.frames, folder)
    seed_stages = profile_seed(sized, timed, args.frames, folder)
    runs: dict[tuple[str, bool], list[Run]] = {}
    selection = default_args(args.pipeline).model_selection
    for repeat in range(args.repeats):
        for encode in (False, True) if args.encode else (False,):
            print(f"# {label} end to end, run {repeat + 1}/{args.repeats}, encode={encode}", flush=True)
            runs.setdefault(("ours", encode), []).append(
                e2e_ours(sized, default_processor(args.pipeline), args.frames, folder, encode))
            runs.setdefault(("seed", encode), []).append(e2e_seed(sized, segmenter, args.frames, folder, encode))
        if peer.python is not None:
            try:
                runs.setdefault(("peer", False), []).append(e2e_peer(peer.python, sized, args.frames, selection))
            except (RuntimeError, OSError, ValueError, KeyError) as exc:
                peer.why, peer.python = str(exc), None
    fps = {key: float(np.median([r.fps for r in value])) for key, value in runs.items()}
    best = {key: max(r.fps for r in value) for key, value in runs.items()}
    cpu = {key: float(np.median([r.cpu for r in value])) for key, value in runs.items()}
    cpu_ms = {key: float(np.median([r.cpu / r.fps * 1000 for r in value])) for key, value in runs.items()}
    nan = float("nan")
    for key, who, stages in (("ours", "ours (overlapped)", ours_stages), ("seed", "seed-style", seed_stages)):
        ratio = "1" if key == "seed" else (
            f"{fps[('ours', False)] / fps[('seed', False)]:.2f} / "
            f"{fps.get(('ours', True), nan) / fps.get(('seed', True), nan):.2f}")
        rows.append(f"| {clip.name} | selfie | {label} | {who} | "
                    f"{fps[(key, False)]:.1f} (best {best[(key, False)]:.0f}) | "
                    f"{fmt(fps.get((key, True), nan))} | "
                    f"{cpu[(key, False)]:.2f} / {fmt(cpu.get((key, True), nan), 2)} | {ratio} | "
                    f"{stage_cells(stages)} |")

    print(f"# {label} latency: {args.latency_frames} frames fed at 30 FPS through the camera reader...", flush=True)
    delay = latency(sized, default_processor(args.pipeline), args.latency_frames)
    ours_fps, ours_ms = fps[("ours", False)], cpu_ms[("ours", False)]
    peer_fps, peer_ms = fps.get(("peer", False), nan), cpu_ms.get(("peer", False), nan)
    size_note = " (target >= 60 FPS)" if label.startswith("1280x720") else ""
    headline.append(f"| {label} | ours: {build.describe_models(default_processor(args.pipeline).finder)}, the app's "
                    f"default pipeline | {ours_fps:.1f}{size_note} | {ours_ms:.1f} | {fmt(ours_fps / peer_fps, 2)} | "
                    f"{fmt(ours_ms / peer_ms, 2)} | {delay['p50']:.1f} / {delay['p95']:.1f} "
                    f"({delay['shown']:.0f} of {delay['fed']:.0f} shown, {delay['cpu_ms']:.1f} CPU-ms/frame) |")
    if ("peer", False) in runs:
        versions = runs[("peer", False)][0].extra["versions"]
        headline.append(f"| {label} | peer: MediaPipe SelfieSegmentation(model_selection={selection}) + 41x41 "
                        f"GaussianBlur + np.where ({versions}) | {peer_fps:.1f} | {peer_ms:.1f} | 1 | 1 | - |")
    else:
        headline.append(f"| {label} | peer: not measured ({peer.why}) | - | - | - | - | - |")
    headline.append(f"| {label} | seed-style: same model and reader, the seed's compositing, one thread | "
                    f"{fps[('seed', False)]:.1f} | {cpu_ms[('seed', False)]:.1f} | "
                    f"{fmt(fps[('seed', False)] / peer_fps, 2)} | {fmt(cpu_ms[('seed', False)] / peer_ms, 2)} | - |")

    def listed(key: tuple[str, bool]) -> str:
        return "/".join(f"{r.fps:.0f}" for r in runs.get(key, [])) or "-"

    by_thread = [r.extra["threads"] for r in runs[("ours", False)] if r.extra.get("threads")]
    if by_thread:
        kinds = sorted({kind for groups in by_thread for kind in groups},
                       key=lambda kind: -float(np.median([g.get(kind, 0.0) for g in by_thread])))
        notes.append(f"selfie {label}: ours, CPU-ms a frame by thread (median of the runs): " + ", ".join(
            f"{kind} {float(np.median([g.get(kind, 0.0) for g in by_thread])):.2f}" for kind in kinds))
    notes.append(f"selfie {label}: every end-to-end run, FPS ours / peer / seed: {listed(('ours', False))} / "
                 f"{listed(('peer', False))} / {listed(('seed', False))}"
                 + (f"; +enc ours {listed(('ours', True))} vs seed {listed(('seed', True))}" if args.encode else "")
                 + f"; latency max {delay['max']:.0f} ms; load average now {load()}")


# --------------------------------------------------------------------------------------------- choices


def bench_mask_rcnn(clip: Path, sized: Path, label: str, args: argparse.Namespace, folder: Path,
                    rows: list[str], notes: list[str]) -> None:
    """The seed's synchronous Mask R-CNN loop against our asynchronous path, on one clip and size."""
    model_dir, real = find_mask_rcnn(args, folder)
    if model_dir is None:
        notes.append("mask-rcnn: neither weights nor the text graph found; skipped")
        return
    kind = "real weights" if real else "STAND-IN RANDOM weights: speed only, masks meaningless"
    name = f"mask-rcnn ({'real' if real else 'stand-in'})"
    print(f"# {clip.name} {label}: Mask R-CNN ({kind})...", flush=True)
    segmenter = MaskRCNNSegmenter(model_dir)
    profile = profile_ours(sized, TimedMaskRCNN(segmenter), args.seed_mask_frames, folder)
    seed = e2e_mask_seed(sized, model_dir, args.seed_mask_frames)
    ours = e2e_mask_async(sized, InstancePeople(segmenter), args.mask_seconds)
    paced = e2e_mask_async(sized, InstancePeople(segmenter), args.mask_seconds, pace_fps=30.0)
    x = ours.extra
    if not ours.frames or not paced.frames:
        notes.append(f"{name} {label}: no mask arrived within --mask-seconds {args.mask_seconds:g} (the model takes "
                     f"longer than that on this machine now: {1 / max(seed.fps, 1e-9):.0f} s a frame in the seed's "
                     "loop); give a longer --mask-seconds")
    rows.append(f"| {clip.name} | {name} | {label} | seed's synchronous loop | {seed.fps:.2f} | - | "
                f"{seed.cpu:.2f} | 1 | " + " | ".join("-" for _ in STAGES) + " | - |")
    rows.append(f"| {clip.name} | {name} | {label} | ours async: displayed (mask updates {x['updates_per_s']:.2f}/s)"
                f" | {ours.fps:.1f} | - | {ours.cpu:.2f} | {ours.fps / seed.fps:.0f} | {stage_cells(profile)} |")
    rows.append(f"| {clip.name} | {name} | {label} | ours async, fed at 30 FPS like a camera: displayed (mask "
                f"updates {paced.extra['updates_per_s']:.2f}/s) | {paced.fps:.1f} | - | {paced.cpu:.2f} | "
                f"{paced.fps / seed.fps:.0f} | " + " | ".join("-" for _ in STAGES) + " | - |")
    y = paced.extra
    notes.append(
        f"{name} {label} ({kind}), the seed's synchronous loop: {seed.fps:.2f} FPS over {seed.frames} frames. "
        f"Ours as fast as frames can be filtered: displayed {ours.fps:.1f} FPS over {ours.frames} frames, "
        f"{x['updates_per_s']:.2f} mask updates/s (model {x['model_ms']:.0f} ms a run while compositing shares the "
        f"cores), first mask after {x['first_mask_s']:.1f} s ({x['hidden']:.0f} frames hidden whole before it, fail "
        f"closed). Fed at 30 FPS like a camera: displayed {paced.fps:.1f} FPS, {y['updates_per_s']:.2f} mask "
        f"updates/s (model {y['model_ms']:.0f} ms a run), first mask after {y['first_mask_s']:.1f} s "
        f"({y['hidden']:.0f} frames hidden before it). Stage columns: {args.seed_mask_frames} frames, synchronous.")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.avx2 and "avx512f" in cpu_flags() and opencv_avx512():
        # OpenCV reads OPENCV_CPU_DISABLE once, when it loads: start again in a process that has it.
        os.environ["OPENCV_CPU_DISABLE"] = AVX512_DISPATCH
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable, "-m", "benchmarks.run", *argv])
    logging.basicConfig(level=logging.ERROR, format="%(name)s: %(message)s")  # no per-frame "frame hidden"
    if args.threads:
        cv2.setNumThreads(args.threads)
    clips = args.files or [shared_dir() / "eval" / "videos" / "asl_webcam_concat.mp4"]
    for clip in clips:
        if not clip.is_file():
            print(f"benchmark: clip not found: {clip}", file=sys.stderr)
            return 1
    sizes = [tuple(int(v) for v in text.split("x")) for text in args.sizes.split(",") if text]
    backends = [b for b in args.backends.split(",") if b]
    folder = Path(tempfile.gettempdir()) / "privacy-filter-bench"
    folder.mkdir(exist_ok=True)
    began = time.perf_counter()
    print(f"# machine: {machine()}", flush=True)
    print(f"# CPU class of every figure below: {cpu_class()}", flush=True)
    print(f"# {vector_line()}", flush=True)
    if args.avx2 and "avx512f" not in cpu_flags():
        print("# --avx2: this CPU has no AVX-512; nothing to disable", flush=True)
    print(f"# {runtime_line()}", flush=True)
    print(f"# load average at start: {load()}", flush=True)
    peer = Peer(None, "--no-peer")
    if "selfie" in backends and not args.no_peer:
        peer = Peer(*peer_python(install=not args.no_peer_install))
        print(f"# peer: {peer.python or peer.why}", flush=True)

    segmenter = SelfieSegmenter(model_selection=default_args(args.pipeline).model_selection)
    memory = ""
    if args.soak:  # first, while only what the app itself loads is in memory
        print("# soak: 5000 frames through the app's path...", flush=True)
        readings = soak(clips[0], default_processor(args.pipeline), (500, 5000))
        (n1, r1), (n2, r2) = readings[0], readings[-1]
        memory = (f"resident memory (the app's default pipeline, clip looped): {r1:.1f} MiB after {n1} frames, "
                  f"{r2:.1f} MiB after {n2} frames ({(r2 - r1) / r1 * 100:+.1f}%)")
    header = ("| clip | backend | size | pipeline | FPS e2e | FPS e2e +enc | CPU cores busy | ratio ours/seed | "
              + " | ".join(f"{s} med/p95 ms" for s in STAGES) + " | refine+effect+blend med/p95 ms |")
    rows = [header, "|" + "---|" * (header.count("|") - 1)]
    headline = ["| size | pipeline | FPS | CPU-ms per frame | FPS ours/peer (target >= 2.0) | CPU-ms ours/peer "
                "(target <= 0.6) | latency p50 / p95 ms, fed at 30 FPS (target p95 <= 50) |",
                "|---|---|---|---|---|---|---|"]
    notes: list[str] = []
    for clip in clips:
        for size in sizes:
            sized = prepare(clip, size, folder)
            label = f"{size[0]}x{size[1]}" + ("" if sized == clip else " (re-encoded)")
            if "selfie" in backends:
                bench_selfie(clip, sized, label, args, segmenter, folder, rows, headline, notes, peer)
            if "mask-rcnn" in backends:
                bench_mask_rcnn(clip, sized, label, args, folder, rows, notes)
    print(f"\n## Ours vs the peer ({cpu_class()}; {clips[0].name}, {args.frames or 'all'} frames a run, median "
          f"of {args.repeats} runs taking turns)\n")
    print("\n".join(headline))
    print("\nFPS and CPU-ms: decode on a reader thread, then the whole pipeline, no display, no encode; CPU-ms = "
          "process CPU time (all threads) / frames. Latency: a frame's arrival from the paced camera reader to its "
          "filtered frame leaving the pipeline (frames the live reader dropped are not counted).")
    print(f"\n## Stages ({cpu_class()})\n")
    print("\n".join(rows))
    print()
    for note in notes:
        print(f"- {note}")
    print("- stage columns: a sequential pass, each stage timed alone (a hand-built processor with the same "
          "stages, timed apart); FPS columns: the app's default pipeline on its threaded path, median of the runs. "
          "'CPU cores busy' = process CPU time / wall time (no-enc / +enc).")

    if args.threads_sweep:
        print(f"\n## Threads ({cpu_class()}; whole default pipeline, {clips[0].name} at its size)\n")
        print("\n".join(thread_sweep(clips[0], args, folder)))
    if args.models:
        print(f"\n## Selfie models ({cpu_class()}; {clips[0].name} at its size)\n")
        print("\n".join(model_table(clips[0], args, folder)))
    if args.dnn_options:
        frames = list(frames_of(clips[0], 60))
        print("\n| cv2.dnn setting (selfie landscape model, 256x144) | preprocess med ms | inference med ms | "
              "inference p95 ms |\n|---|---|---|---|")
        for label, preprocess, median, p95 in dnn_options(frames):
            print(f"| {label} | {fmt(preprocess, 3)} | {fmt(median, 2)} | {fmt(p95, 2)} |")

    if memory:
        print(f"\n{memory}")

    if args.plot:
        plot_rows = plot(clips[0], TimedSelfie(segmenter), folder, args.plot_frames, args.plot)
        print(f"\nplot: {args.plot}\n\n| size | " + " | ".join(STAGES) + " | refine+effect+blend | seed blur+paste |")
        print("|" + "---|" * (len(STAGES) + 3))
        print("\n".join(plot_rows))
    print(f"\n# load average at end: {load()}; took {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
