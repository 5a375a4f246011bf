"""What the defaults were chosen from: cv2.dnn options, the thread sweep, the model table, memory over a long
run (soak) and the cost-by-resolution plot."""


from __future__ import annotations

import argparse
import contextlib
import os
import time
from pathlib import Path

import cv2
import numpy as np

from benchmarks.e2e import Run, _drain, e2e_ours, latency
from benchmarks.machine import COMPOSITING, PLOT_SIZES, REPO, STAGES, cpu_model, rss_mb
from benchmarks.stages import TimedSelfie, default_processor, fmt, frames_of, prepare, profile_ours, profile_seed
from privacy_filter.concurrent.overlap import overlap
from privacy_filter.io.sources import open_source
from privacy_filter.pipeline import FrameProcessor
from privacy_filter.segment import runtime
from privacy_filter.segment.mask_rcnn import quiet_opencv
from privacy_filter.segment.selfie import SelfieSegmenter


def dnn_options(frames: list[np.ndarray], rounds: int = 6, block: int = 25) -> list[tuple[str, float, float, float]]:
    """Preprocess and inference ms of the landscape selfie model under the cv2.dnn settings worth trying.

    Returns (setting, preprocess median ms, inference median ms, inference p95 ms). The settings take turns
    in blocks of ``block`` frames for ``rounds`` rounds, so that a burst of load elsewhere on the machine
    hits them all alike.
    """
    model = str(REPO / "models" / "selfie_segmentation_landscape.tflite")
    size = (256, 144)
    default_threads = cv2.getNumThreads()
    params = cv2.dnn.Image2BlobParams()
    params.scalefactor = (1 / 255.0,) * 4
    params.size = size
    params.swapRB = True
    params.ddepth = cv2.CV_32F
    blob = np.empty((1, 3, size[1], size[0]), np.float32)
    settings: list[tuple[str, int, int, bool]] = []  # label, engine (-1: classic + FP16 target), threads, reuse
    for label, engine in (("ENGINE_AUTO (the default)", cv2.dnn.ENGINE_AUTO),
                          ("ENGINE_CLASSIC", cv2.dnn.ENGINE_CLASSIC), ("ENGINE_NEW", cv2.dnn.ENGINE_NEW)):
        for threads in sorted({default_threads, 1}, reverse=True):
            settings.append((f"{label}, setNumThreads({threads})", engine, threads, False))
    settings.append((f"ENGINE_AUTO, setNumThreads({default_threads}), blobFromImageWithParams into one reused "
                     "blob", cv2.dnn.ENGINE_AUTO, default_threads, True))
    settings.append(("ENGINE_CLASSIC + DNN_TARGET_CPU_FP16 (x86 falls back to FP32)", -1, default_threads, False))
    nets: list[cv2.dnn.Net | str] = []
    for _label, engine, _threads, _reuse in settings:
        try:
            with quiet_opencv():
                net = cv2.dnn.readNetFromTFLite(model, engine=cv2.dnn.ENGINE_CLASSIC if engine == -1 else engine)
                if engine == -1:
                    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
                    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU_FP16)
            nets.append(net)
        except cv2.error as exc:
            nets.append(str(exc).strip().splitlines()[-1][:60])
    pre: dict[int, list[float]] = {i: [] for i in range(len(settings))}
    inf: dict[int, list[float]] = {i: [] for i in range(len(settings))}
    count = 0
    for _ in range(rounds):
        for index, (_label, _engine, threads, reuse) in enumerate(settings):
            net = nets[index]
            if isinstance(net, str):
                continue
            cv2.setNumThreads(threads)
            name = net.getUnconnectedOutLayersNames()[0]
            for i in range(block + 3):  # the first 3 of a block warm up after the switch
                frame = frames[count % len(frames)]
                count += 1
                t0 = time.perf_counter()
                if reuse:
                    this = cv2.dnn.blobFromImageWithParams(frame, blob, params)
                else:
                    this = cv2.dnn.blobFromImage(frame, 1.0 / 255.0, size, swapRB=True)
                t1 = time.perf_counter()
                net.setInput(this)
                net.forward(name)
                t2 = time.perf_counter()
                if i >= 3:
                    pre[index].append((t1 - t0) * 1000)
                    inf[index].append((t2 - t1) * 1000)
    cv2.setNumThreads(default_threads)
    rows = []
    for index, (label, *_rest) in enumerate(settings):
        if isinstance(nets[index], str):
            rows.append((f"{label}: does not load ({nets[index]})", float("nan"), float("nan"), float("nan")))
        else:
            rows.append((label, float(np.median(pre[index])), float(np.median(inf[index])),
                         float(np.percentile(inf[index], 95))))
    return rows


# --------------------------------------------------------------------------------------------- memory


def soak(path: Path, processor: FrameProcessor, checkpoints: tuple[int, ...]) -> list[tuple[int, float]]:
    """Resident memory (MiB) after each checkpoint's frame count, running the app's path (``processor``: the
    default pipeline) over the clip looped."""
    readings: list[tuple[int, float]] = []
    count = 0
    while count < checkpoints[-1]:
        source = overlap(open_source(str(path), width=0).start(), processor, realtime=False)
        try:
            while count < checkpoints[-1]:
                frame = source.read(timeout=2.0)
                if frame is None:
                    if source.finished:
                        break
                    continue
                processor.process(frame)
                count += 1
                if count in checkpoints:
                    readings.append((count, rss_mb()))
        finally:
            source.stop()
            processor.close()
    return readings


# --------------------------------------------------------------------------------------------- plot


def plot(clip: Path, timed: TimedSelfie, folder: Path, limit: int, out: Path) -> list[str]:
    """ms/frame of each stage against frame size; returns the table rows it plotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = []
    series: dict[str, list[float]] = {name: [] for name in STAGES}
    seed_compositing: list[float] = []
    labels = []
    for size in PLOT_SIZES:
        sized = prepare(clip, size, folder, limit=limit)
        stages = profile_ours(sized, timed, limit, folder)
        seed = profile_seed(sized, timed, min(limit, 60), folder)
        for name in STAGES:
            series[name].append(stages.median(name))
        seed_compositing.append(seed.total_median(COMPOSITING))
        labels.append(f"{size[0]}x{size[1]}")
        rows.append(f"| {size[0]}x{size[1]} | " + " | ".join(fmt(stages.median(n), 2) for n in STAGES)
                    + f" | {fmt(stages.total_median(COMPOSITING), 2)} | {fmt(seed.total_median(COMPOSITING), 2)} |")
    positions = list(range(len(PLOT_SIZES)))
    figure, axis = plt.subplots(figsize=(8.5, 4.6), dpi=100)
    for name in STAGES:
        axis.plot(positions, series[name], marker="o", label=name)
    axis.plot(positions, seed_compositing, "k--", marker="x", label="seed's blur + paste")
    axis.set_xticks(positions)
    axis.set_xticklabels([f"{w}x{h}\n{w * h / 1e6:.2f} MP" for w, h in PLOT_SIZES])
    axis.set_xlabel("frame size")
    axis.set_ylabel("ms per frame (median, log scale)")
    axis.set_yscale("log")
    axis.set_title(f"Cost of each stage by frame size: selfie backend, {cpu_model()}, {os.cpu_count()} cores",
                   fontsize=9)
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)
    plt.close(figure)
    return rows






def thread_sweep(path: Path, args: argparse.Namespace, folder: Path) -> list[str]:
    """The whole default pipeline under each share of the 2 cores: LiteRT threads x OpenCV threads, and
    without our worker thread (segmentation on the loop's thread). Alternated run by run; medians."""
    saved_litert, saved_cv = runtime.DEFAULT_THREADS, cv2.getNumThreads()
    saved_pipeline_cv = runtime.PIPELINE_OPENCV_THREADS
    cores = os.cpu_count() or 2
    combos = [(lite, cv, True) for lite in sorted({1, 2, cores}) for cv in sorted({1, 2, cores})]
    combos.append((saved_litert, saved_cv, False))
    results: dict[tuple[int, int, bool], list[Run]] = {combo: [] for combo in combos}
    delays: dict[tuple[int, int, bool], list[dict[str, float]]] = {combo: [] for combo in combos}
    try:
        for repeat in range(args.repeats):
            for combo in combos:
                lite, cv, worker = combo
                print(f"# threads: LiteRT {lite}, OpenCV {cv}, worker {worker}, run {repeat + 1}", flush=True)
                runtime.DEFAULT_THREADS = lite
                cv2.setNumThreads(cv)  # the synchronous run's; ``overlap`` sets the overlapped runs' own:
                runtime.PIPELINE_OPENCV_THREADS = cv
                processor = default_processor(args.pipeline)
                if worker:
                    results[combo].append(e2e_ours(path, processor, args.frames, folder, False))
                    delays[combo].append(latency(path, default_processor(args.pipeline), args.latency_frames // 2))
                else:
                    results[combo].append(e2e_sync(path, processor, args.frames))
    finally:
        runtime.DEFAULT_THREADS = saved_litert
        runtime.PIPELINE_OPENCV_THREADS = saved_pipeline_cv
        cv2.setNumThreads(saved_cv)
    lines = ["| LiteRT threads | OpenCV threads | worker thread | FPS (median) | CPU-ms/frame | CPU cores busy | "
             "latency p50 / p95 ms at 30 FPS | runs (FPS) |", "|---|---|---|---|---|---|---|---|"]
    for combo, values in results.items():
        lite, cv, worker = combo
        fps = float(np.median([r.fps for r in values]))
        cpu_ms = float(np.median([r.cpu / r.fps * 1000 for r in values]))
        busy = float(np.median([r.cpu for r in values]))
        p50s, p95s = [d["p50"] for d in delays[combo]], [d["p95"] for d in delays[combo]]
        lat = f"{np.median(p50s):.1f} / {np.median(p95s):.1f}" if delays[combo] else "-"
        default = " (default)" if (lite, cv, worker) == (saved_litert, saved_pipeline_cv, True) else ""
        lines.append(f"| {lite}{default} | {cv} | {'yes' if worker else 'no (synchronous)'} | {fps:.1f} | "
                     f"{cpu_ms:.1f} | {busy:.2f} | {lat} | {'/'.join(f'{r.fps:.0f}' for r in values)} |")
    return lines


def e2e_sync(path: Path, processor: FrameProcessor, limit: int) -> Run:
    """The default processor without ``overlap``: segmentation on the loop's own thread (the reader still
    decodes on its thread)."""
    source = open_source(str(path), width=0).start()
    try:
        count, wall, cpu = _drain(source, limit, processor.process)
    finally:
        source.stop()
        processor.close()
    return Run(count / wall, cpu / wall, count, {"cpu_ms": cpu / max(count, 1) * 1000})


def model_table(path: Path, args: argparse.Namespace, folder: Path, blocks: int = 6, block: int = 25) -> list[str]:
    """Both selfie models: inference ms on each runtime (LiteRT 1 and 2 threads, cv2.dnn), in blocks taking
    turns, and the whole default pipeline's FPS and CPU-ms with each (``--model-selection``), alternated."""
    frames = list(frames_of(path, 60))
    settings = [(sel, rt, th) for sel in (1, 0) for rt, th in ((runtime.LITERT, 2), (runtime.LITERT, 1),
                                                               (runtime.OPENCV, 0))]
    models = {}
    for sel, rt, th in settings:
        with contextlib.suppress(Exception):
            models[(sel, rt, th)] = SelfieSegmenter(model_selection=sel, runtime=rt) if rt == runtime.OPENCV else \
                _segmenter_with_threads(sel, rt, th)
    ms: dict[tuple[int, str, int], list[float]] = {key: [] for key in models}
    cpu: dict[tuple[int, str, int], list[float]] = {key: [] for key in models}
    count = 0
    for _ in range(blocks):
        for key, segmenter in models.items():
            for i in range(block + 3):
                blob = segmenter.preprocess(frames[count % len(frames)])
                count += 1
                start, cpu_start = time.perf_counter(), time.process_time()
                segmenter.infer(blob)
                if i >= 3:  # the first of a block warm up after the switch
                    ms[key].append((time.perf_counter() - start) * 1000)
                    cpu[key].append((time.process_time() - cpu_start) * 1000)
    e2e: dict[int, list[Run]] = {0: [], 1: []}
    for repeat in range(args.repeats):
        for sel in (1, 0):
            print(f"# model_selection={sel}: whole pipeline run {repeat + 1}", flush=True)
            e2e[sel].append(e2e_ours(path, default_processor(("--model-selection", str(sel))), args.frames, folder,
                                     False))
    lines = ["| selfie model | runtime | inference median ms | p95 ms | inference CPU-ms (all threads) | "
             "whole default pipeline FPS | CPU-ms/frame |", "|---|---|---|---|---|---|---|"]
    for (sel, rt, th), values in ms.items():
        name = "landscape 256x144 (1)" if sel == 1 else "general 256x256 (0)"
        threads = f", {th if rt == runtime.LITERT else cv2.getNumThreads()} thread(s)"
        whole = ""
        if rt == runtime.available_runtime() and (rt != runtime.LITERT or th == runtime.DEFAULT_THREADS):
            runs = e2e[sel]
            whole = (f"{np.median([r.fps for r in runs]):.1f} | {np.median([r.cpu / r.fps * 1000 for r in runs]):.1f}")
        lines.append(f"| {name} | {rt}{threads} | {np.median(values):.2f} | {np.percentile(values, 95):.2f} | "
                     f"{np.mean(cpu[(sel, rt, th)]):.2f} | {whole or '- | -'} |")
    return lines


def _segmenter_with_threads(selection: int, name: str, threads: int) -> SelfieSegmenter:
    saved = runtime.DEFAULT_THREADS
    runtime.DEFAULT_THREADS = threads
    try:
        return SelfieSegmenter(model_selection=selection, runtime=name)
    finally:
        runtime.DEFAULT_THREADS = saved
