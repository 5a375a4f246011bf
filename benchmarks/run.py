"""Speed you can re-run: frames per second end to end and the cost of every stage, against the seed's way.

    python -m benchmarks.run                          # the standard clip, 640x480 and 1280x720, ~5 minutes
    python -m benchmarks.run my_clip.mp4 --repeats 3  # any clips
    python -m benchmarks.run --soak                   # + resident memory after 500 and 5000 frames
    python -m benchmarks.run --mask-rcnn mask-rcnn-coco   # Mask R-CNN with the real weights (if you have them)
    python -m benchmarks.run --backends selfie --no-plot --no-dnn   # quick

Headless; prints ONE markdown table, then notes. For each backend and frame size:

* **end-to-end FPS** = source -> filtered frame, with and without encoding: frames from the app's own threaded
  reader (``sources.open_source``, decoding the file), through the app's own overlap (``concurrent.overlap``)
  and ``FrameProcessor``, and, "+enc", written by the app's video sink (``avfile.AVVideoSink``, H.264
  .mp4; the seed-style baseline writes the seed's way, OpenCV's MPEG-4 ``mp4v``). The clock runs from the
  first frame read to the last frame filtered (or written). Median of ``--repeats`` runs.
* **stage costs** (median / p95 ms per frame) from a separate, sequential pass over the same frames, each
  stage timed alone: decode (``cv2.VideoCapture.read``), preprocess (``blobFromImage``), inference
  (``Net.forward``), select (people split + user selection), refine (``MatteRefiner``), effect (blur 41),
  blend (``Compositor``), encode (``VideoWriter.write``).
* **seed-style baseline**, in the same process on the same frames (``benchmarks.seed_baseline``): the
  same selfie model and reader, then the seed's compositing (full-frame GaussianBlur 41, float mask resized
  and thresholded, numpy boolean paste, fresh arrays), all on one thread. Ratio = our FPS / its FPS.
* **Mask R-CNN** (real weights if found, else stand-in RANDOM weights generated from the real graph: then the
  masks are meaningless and only the speed counts): the seed's synchronous loop against our asynchronous
  path (model on its worker, every frame composited with the newest mask followed by the selfie map):
  displayed FPS and mask updates per second, reported separately.

The 1280x720 (and plot) sizes are the clip resized (stretched) and re-encoded once as MPEG-4 into a temp
folder; 640x480 is the clip itself (H.264). Timing never goes in tests; this script only prints numbers.
The plot (``--plot``, default benchmarks/cost_by_resolution.png) needs matplotlib (requirements-bench.txt).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from benchmarks.seed_baseline import seed_mask_rcnn_frame, seed_paste
from privacy_filter.avfile import AVVideoSink as VideoFileSink  # the app's video writer (PyAV, H.264)
from privacy_filter.concurrent import LatestMask, overlap
from privacy_filter.effects import make_effect
from privacy_filter.mask_rcnn import MaskRCNNSegmenter, make_blob, parse_detections, quiet_opencv, read_net
from privacy_filter.matte import MatteRefiner
from privacy_filter.person import Person
from privacy_filter.pipeline import FrameProcessor, InstancePeople, SelfiePeople, checked_probability
from privacy_filter.selection import UserSelector, split_people
from privacy_filter.selfie import SelfieSegmenter
from privacy_filter.sources import open_source

REPO = Path(__file__).resolve().parent.parent
KERNEL = 41
SIZES = ((640, 480), (1280, 720))
PLOT_SIZES = ((640, 360), (854, 480), (1280, 720), (1920, 1080))
STAGES = ("decode", "preprocess", "inference", "select", "refine", "effect", "blend", "encode")
COMPOSITING = ("refine", "effect", "blend")  # the budget: <= 3 ms at 640x480, <= 8 ms at 1280x720


def shared_dir() -> Path:
    """The shared data folder: $PRIVACY_FILTER_SHARED, else ../shared next to the repository."""
    return Path(os.environ.get("PRIVACY_FILTER_SHARED", REPO.parent / "shared"))


# --------------------------------------------------------------------------------------------- machine


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def rss_mb() -> float:
    """Resident memory of this process in MiB (Linux /proc; 0 elsewhere)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def load() -> str:
    with contextlib.suppress(OSError):
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    return "n/a"


def machine() -> str:
    return (f"nproc {os.cpu_count()}, CPU {cpu_model()}, Python {platform.python_version()}, "
            f"OpenCV {cv2.__version__} (cv2.getNumThreads() {cv2.getNumThreads()}), numpy {np.__version__}")


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


# --------------------------------------------------------------------------------------------- end to end


@dataclass
class Run:
    fps: float
    cpu: float  # process CPU seconds per wall second (2.0 = both cores busy)
    frames: int
    extra: dict[str, float] = field(default_factory=dict)


def _drain(source, limit: int, handle: Callable[[np.ndarray], None], seconds: float = 0.0
           ) -> tuple[int, float, float]:
    """Read frames from a started source into ``handle`` until it ends (or ``limit`` frames, or ``seconds``);
    returns (frames, wall seconds, CPU seconds of the process)."""
    count = 0
    start, cpu = time.perf_counter(), time.process_time()
    while (not limit or count < limit) and (not seconds or time.perf_counter() - start < seconds):
        frame = source.read(timeout=2.0)
        if frame is None:
            if source.finished:
                break
            continue
        handle(frame)
        count += 1
    return count, time.perf_counter() - start, time.process_time() - cpu


def e2e_ours(path: Path, finder: object, limit: int, folder: Path, encode: bool) -> Run:
    """The app's path: threaded reader -> overlap (worker thread) -> FrameProcessor [-> VideoFileSink]."""
    processor = make_processor(finder)
    size = clip_size(path)
    sink = VideoFileSink(folder / f"ours_{size[0]}x{size[1]}.mp4", 30.0, size) if encode else None
    source = overlap(open_source(str(path), width=0).start(), processor, realtime=False)
    failed = 0

    def handle(frame: np.ndarray) -> None:
        nonlocal failed
        result = processor.process(frame)
        failed += result.failed
        if sink is not None:
            sink.write(result.output)

    try:
        count, wall, cpu = _drain(source, limit, handle)
    finally:
        source.stop()
        processor.close()
        if sink is not None:
            sink.close(publish=False)
    if failed:
        raise SystemExit(f"benchmark: {failed} frames failed closed in our pipeline")
    return Run(count / wall, cpu / wall, count)


def e2e_seed(path: Path, segmenter: SelfieSegmenter, limit: int, folder: Path, encode: bool) -> Run:
    """The seed's way on the same reader: one thread does model, mask, blur, paste [and encode]."""
    size = clip_size(path)
    # The seed's writer: OpenCV's MPEG-4 Part 2.
    sink = cv2.VideoWriter(str(folder / f"seed_{size[0]}x{size[1]}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 30.0,
                           size) if encode else None
    source = open_source(str(path), width=0).start()

    def handle(frame: np.ndarray) -> None:
        probability = segmenter.process(frame)
        height, width = frame.shape[:2]
        mask = cv2.resize(probability, (width, height), interpolation=cv2.INTER_NEAREST) > 0.5
        output = seed_paste(frame, (0, 0, width, height), mask, KERNEL)
        if sink is not None:
            sink.write(output)

    try:
        count, wall, cpu = _drain(source, limit, handle)
    finally:
        source.stop()
        if sink is not None:
            sink.release()
    return Run(count / wall, cpu / wall, count)


def e2e_mask_async(path: Path, finder: object, seconds: float, pace_fps: float = 0.0) -> Run:
    """Mask R-CNN the way the app runs it in a window: ``overlap`` gives ``LatestMask`` + selfie follow, every
    frame composited with the newest mask. The clip is looped for ``seconds``; ``pace_fps`` > 0 feeds frames
    at that rate as a camera would (0: as fast as they can be filtered, the capacity).

    Run.fps is the displayed rate once the first mask has arrived (frames before it are hidden whole, fail
    closed, and are counted apart); extra["updates_per_s"] the model's rate over the same span.
    """
    processor = make_processor(finder)
    source = overlap(open_source(str(path), width=0).start(), processor, realtime=True)
    latest = processor.finder
    assert isinstance(latest, LatestMask)
    hidden = shown = 0
    start = time.perf_counter()
    cpu_start = time.process_time()
    first_at = first_cpu = float("nan")
    first_updates = 0
    next_frame = start
    try:
        while time.perf_counter() - start < seconds:
            frame = source.read(timeout=2.0)
            if frame is None:
                if source.finished:  # loop the clip
                    source.stop()
                    source = open_source(str(path), width=0).start()
                continue
            if pace_fps:
                next_frame += 1.0 / pace_fps
                time.sleep(max(0.0, next_frame - time.perf_counter()))
            result = processor.process(frame)
            if result.failed:
                if shown:
                    raise SystemExit("benchmark: a frame failed closed after the first mask")
                hidden += 1
                continue
            if not shown:
                first_at, first_cpu, first_updates = time.perf_counter(), time.process_time(), latest.updates
            shown += 1
        end, cpu_end, updates = time.perf_counter(), time.process_time(), latest.updates
    finally:
        source.stop()
        processor.close()
    span = end - first_at
    extra = {"updates_per_s": (updates - first_updates) / span if shown else float("nan"), "updates": updates,
             "hidden": hidden, "first_mask_s": first_at - start, "model_ms": processor.stage_ms.get("segment", 0.0)}
    if not shown:
        return Run(0.0, (cpu_end - cpu_start) / (end - start), 0, extra)
    return Run((shown - 1) / span, (cpu_end - first_cpu) / span, shown, extra)


def e2e_mask_seed(path: Path, model_dir: Path, limit: int) -> Run:
    """The seed's synchronous Mask R-CNN loop on the same reader."""
    segmenter = MaskRCNNSegmenter(model_dir)
    net = read_net(model_dir / "frozen_inference_graph.pb", model_dir / "mask_rcnn_inception_v2_coco_2018_01_28.pbtxt")
    source = open_source(str(path), width=0).start()
    try:
        count, wall, cpu = _drain(source, limit,
                                  lambda frame: seed_mask_rcnn_frame(net, segmenter.person_class_id, frame))
    finally:
        source.stop()
    return Run(count / wall, cpu / wall, count)


# --------------------------------------------------------------------------------------------- cv2.dnn options


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


def soak(path: Path, finder: object, checkpoints: tuple[int, ...]) -> list[tuple[int, float]]:
    """Resident memory (MiB) after each checkpoint's frame count, running the app's path over the clip looped."""
    processor = make_processor(finder)
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


# --------------------------------------------------------------------------------------------- main


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
    parser.add_argument("--frames", type=int, default=0, help="frames per run (0 = the whole clip)")
    parser.add_argument("--repeats", type=int, default=3, help="end-to-end runs per configuration (median)")
    parser.add_argument("--mask-rcnn", type=Path, help="Mask R-CNN folder with the real weights")
    parser.add_argument("--mask-seconds", type=float, default=12.0,
                        help="how long to run the asynchronous Mask R-CNN path per size and mode (default 12 s)")
    parser.add_argument("--seed-mask-frames", type=int, default=5, help="frames of the seed's Mask R-CNN loop")
    parser.add_argument("--threads", type=int, default=0, help="cv2.setNumThreads before the runs (0: default)")
    parser.add_argument("--soak", action="store_true", help="resident memory after 500 and 5000 frames")
    parser.add_argument("--no-dnn", action="store_true", help="skip the cv2.dnn options table")
    parser.add_argument("--no-plot", action="store_true", help="skip the cost-by-resolution plot")
    parser.add_argument("--plot", type=Path, default=REPO / "benchmarks" / "cost_by_resolution.png")
    parser.add_argument("--plot-frames", type=int, default=150, help="frames per size for the plot")
    return parser.parse_args(argv)


def stage_cells(stages: Stages) -> str:
    return (" | ".join(f"{fmt(stages.median(s), 2)} / {fmt(stages.p95(s), 2)}" for s in STAGES)
            + f" | {fmt(stages.total_median(COMPOSITING), 2)} / {fmt(stages.total_p95(COMPOSITING), 2)}")


def bench_selfie(clip: Path, sized: Path, label: str, args: argparse.Namespace, segmenter: SelfieSegmenter,
                 folder: Path, rows: list[str], notes: list[str]) -> None:
    """Stage profiles and end-to-end runs of ours and the seed's way, alternated, on one clip and size."""
    timed = TimedSelfie(segmenter)
    print(f"# {clip.name} {label}: stage profiles...", flush=True)
    ours_stages = profile_ours(sized, timed, args.frames, folder)
    seed_stages = profile_seed(sized, timed, args.frames, folder)
    runs: dict[tuple[str, bool], list[Run]] = {}
    for repeat in range(args.repeats):
        for encode in (False, True):
            print(f"# {label} end to end, run {repeat + 1}/{args.repeats}, encode={encode}", flush=True)
            runs.setdefault(("ours", encode), []).append(
                e2e_ours(sized, SelfiePeople(segmenter), args.frames, folder, encode))
            runs.setdefault(("seed", encode), []).append(e2e_seed(sized, segmenter, args.frames, folder, encode))
    fps = {key: float(np.median([r.fps for r in value])) for key, value in runs.items()}
    best = {key: max(r.fps for r in value) for key, value in runs.items()}
    cpu = {key: float(np.median([r.cpu for r in value])) for key, value in runs.items()}
    for key, who, stages in (("ours", "ours (overlapped)", ours_stages), ("seed", "seed-style", seed_stages)):
        ratio = "1" if key == "seed" else (
            f"{fps[('ours', False)] / fps[('seed', False)]:.2f} / {fps[('ours', True)] / fps[('seed', True)]:.2f}")
        rows.append(f"| {clip.name} | selfie | {label} | {who} | "
                    f"{fps[(key, False)]:.1f} (best {best[(key, False)]:.0f}) | "
                    f"{fps[(key, True)]:.1f} (best {best[(key, True)]:.0f}) | "
                    f"{cpu[(key, False)]:.2f} / {cpu[(key, True)]:.2f} | {ratio} | {stage_cells(stages)} |")

    def listed(key: tuple[str, bool]) -> str:
        return "/".join(f"{r.fps:.0f}" for r in runs[key])

    notes.append(f"selfie {label}: every end-to-end run, FPS ours vs seed: no-enc {listed(('ours', False))} vs "
                 f"{listed(('seed', False))}; +enc {listed(('ours', True))} vs {listed(('seed', True))}; load average "
                 f"now {load()}")


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
    args = parse_args(argv)
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
    print(f"# load average at start: {load()}", flush=True)

    segmenter = SelfieSegmenter()
    memory = ""
    if args.soak:  # first, while only what the app itself loads is in memory
        print("# soak: 5000 frames through the app's path...", flush=True)
        readings = soak(clips[0], SelfiePeople(segmenter), (500, 5000))
        (n1, r1), (n2, r2) = readings[0], readings[-1]
        memory = (f"resident memory (selfie, the app's path, clip looped): {r1:.1f} MiB after {n1} frames, "
                  f"{r2:.1f} MiB after {n2} frames ({(r2 - r1) / r1 * 100:+.1f}%)")
    header = ("| clip | backend | size | pipeline | FPS e2e | FPS e2e +enc | CPU cores busy | ratio ours/seed | "
              + " | ".join(f"{s} med/p95 ms" for s in STAGES) + " | refine+effect+blend med/p95 ms |")
    rows = [header, "|" + "---|" * (header.count("|") - 1)]
    notes: list[str] = []
    for clip in clips:
        for size in sizes:
            sized = prepare(clip, size, folder)
            label = f"{size[0]}x{size[1]}" + ("" if sized == clip else " (re-encoded)")
            if "selfie" in backends:
                bench_selfie(clip, sized, label, args, segmenter, folder, rows, notes)
            if "mask-rcnn" in backends:
                bench_mask_rcnn(clip, sized, label, args, folder, rows, notes)
    print()
    print("\n".join(rows))
    print()
    for note in notes:
        print(f"- {note}")
    print("- stage columns: a sequential pass, each stage timed alone; FPS columns: the app's threaded path, "
          "median of the runs. 'CPU cores busy' = process CPU time / wall time (no-enc / +enc).")

    if not args.no_dnn:
        frames = list(frames_of(clips[0], 60))
        print("\n| cv2.dnn setting (selfie landscape model, 256x144) | preprocess med ms | inference med ms | "
              "inference p95 ms |\n|---|---|---|---|")
        for label, preprocess, median, p95 in dnn_options(frames):
            print(f"| {label} | {fmt(preprocess, 3)} | {fmt(median, 2)} | {fmt(p95, 2)} |")

    if memory:
        print(f"\n{memory}")

    if not args.no_plot:
        plot_rows = plot(clips[0], TimedSelfie(segmenter), folder, args.plot_frames, args.plot)
        print(f"\nplot: {args.plot}\n\n| size | " + " | ".join(STAGES) + " | refine+effect+blend | seed blur+paste |")
        print("|" + "---|" * (len(STAGES) + 3))
        print("\n".join(plot_rows))
    print(f"\n# load average at end: {load()}; took {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
