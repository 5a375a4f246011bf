"""Speed you can re-run: ours against the peer people would use instead, latency, and the cost of every stage.

    python -m benchmarks.run                          # the standard clip, 640x480 and 1280x720, ~5 minutes
    python -m benchmarks.run --avx2                   # the same with OpenCV's AVX-512 dispatch disabled
    python -m benchmarks.run --threads-sweep --models # + the thread and selfie-model choices
    python -m benchmarks.run my_clip.mp4 --repeats 5  # any clips
    python -m benchmarks.run --soak                   # + resident memory after 500 and 5000 frames
    python -m benchmarks.run --mask-rcnn mask-rcnn-coco   # Mask R-CNN with the real weights (if you have them)
    python -m benchmarks.run --backends selfie --no-peer  # quick

Headless; prints a header (CPU model, vector extensions, whether OpenCV dispatches AVX-512, the CPU class
every figure belongs to, the model runtime and its threads), then markdown tables, then notes:

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
import contextlib
import logging
import os
import platform
import shlex
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
from privacy_filter.app import build, cli
from privacy_filter.concurrent import LatestMask, overlap
from privacy_filter.io.avfile import AVVideoSink as VideoFileSink  # the app's video writer (PyAV, H.264)
from privacy_filter.io.capture import CaptureReader
from privacy_filter.io.sources import open_source
from privacy_filter.people.selection import UserSelector, split_people
from privacy_filter.person import Person
from privacy_filter.pipeline import FrameProcessor, InstancePeople, checked_probability
from privacy_filter.render.effects import make_effect
from privacy_filter.render.matte import MatteRefiner
from privacy_filter.segment import runtime
from privacy_filter.segment.mask_rcnn import MaskRCNNSegmenter, make_blob, parse_detections, quiet_opencv, read_net
from privacy_filter.segment.selfie import SelfieSegmenter

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


def thread_cpu() -> dict[int, tuple[float, str]]:
    """{OS thread id: (CPU seconds so far, name)} for this process's threads: Linux's /proc (each thread's
    time on a CPU, ns, from schedstat); {} elsewhere. Python threads are named by their ``threading`` name, the
    others by the kernel's (FFmpeg's decoder threads: "av:h264:df0"...)."""
    named = {t.native_id: t.name for t in threading.enumerate()}
    times: dict[int, tuple[float, str]] = {}
    with contextlib.suppress(OSError):
        for tid in os.listdir("/proc/self/task"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                ns = int(Path(f"/proc/self/task/{tid}/schedstat").read_text().split()[0])
                name = named.get(int(tid)) or Path(f"/proc/self/task/{tid}/comm").read_text().strip()
                times[int(tid)] = (ns / 1e9, name)
    return times


def thread_groups(before: dict[int, tuple[float, str]], after: dict[int, tuple[float, str]], frames: int
                  ) -> dict[str, float]:
    """CPU-ms per frame between two ``thread_cpu`` snapshots, by kind of thread (threads that ended between
    them are not seen)."""
    groups: dict[str, float] = {}
    for tid, (seconds, name) in after.items():
        if name == "MainThread":
            kind = "main (select, refine, effect, blend)"
        elif name == "segmentation":
            kind = "segmentation worker (models, people stage)"
        elif name.startswith("reader:"):
            kind = "reader (decode, convert)"
        elif name.startswith("av:"):
            kind = "FFmpeg decoder threads"
        else:  # OpenCV's pool, LiteRT/XNNPACK's with more than one thread
            kind = "other native threads (OpenCV, XNNPACK pools)"
        spent = seconds - before.get(tid, (0.0, name))[0]
        groups[kind] = groups.get(kind, 0.0) + spent * 1000 / max(frames, 1)
    return groups


def load() -> str:
    with contextlib.suppress(OSError):
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    return "n/a"


def machine() -> str:
    return (f"nproc {os.cpu_count()}, CPU {cpu_model()}, Python {platform.python_version()}, "
            f"OpenCV {cv2.__version__} (cv2.getNumThreads() {cv2.getNumThreads()}), numpy {np.__version__}")


# What OPENCV_CPU_DISABLE needs on an AVX-512 box for OpenCV to dispatch as on an AVX2-only CPU. OpenCV 5.0
# spells them with a dash ("AVX512_SKX" is an "unknown CPU feature", silently ignored); KNL/KNM are left out
# because naming a feature the CPU lacks prints a warning.
AVX512_DISPATCH = "AVX512-SKX,AVX512-COMMON,AVX512-ICL,AVX512-CLX,AVX512-CNL"


def cpu_flags() -> set[str]:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def opencv_avx512() -> bool:
    """True if OpenCV dispatches AVX-512 kernels here. cv2.getCPUFeaturesLine() lists the optimisations built
    in ("*" = dispatched at run time); a "?" after one means this CPU (or OPENCV_CPU_DISABLE) rules it out."""
    return any("AVX512" in word and not word.endswith("?") for word in cv2.getCPUFeaturesLine().split())


def cpu_class() -> str:
    """The class of CPU every figure of this run belongs to (the product's targets are for AVX2)."""
    flags = cpu_flags()
    if "avx512f" not in flags:
        return "AVX2 (no AVX-512)" if "avx2" in flags else "no AVX2"
    if not opencv_avx512():
        return ("AVX-512 CPU with OpenCV's AVX-512 dispatch disabled (an APPROXIMATION of an AVX2 CPU: LiteRT's "
                "XNNPACK, MediaPipe's peer and numpy still use AVX-512)")
    return "AVX-512"


def vector_line() -> str:
    flags = cpu_flags()
    have = [name for name, flag in (("AVX2", "avx2"), ("FMA", "fma"), ("AVX-512F", "avx512f"),
                                    ("AVX-512 VNNI", "avx512_vnni")) if flag in flags]
    missing = [name for name, flag in (("AVX2", "avx2"), ("AVX-512", "avx512f")) if flag not in flags]
    return (f"vector extensions: {' '.join(have) or 'none'}" + (f" (no {', '.join(missing)})" if missing else "")
            + f"; OpenCV: {cv2.getCPUFeaturesLine()}"
            + (f"; OPENCV_CPU_DISABLE={os.environ['OPENCV_CPU_DISABLE']}"
               if os.environ.get("OPENCV_CPU_DISABLE") else ""))


def runtime_line() -> str:
    return (f"model runtime: {runtime.available_runtime()} (LiteRT threads per model "
            f"runtime.DEFAULT_THREADS={runtime.DEFAULT_THREADS}), OpenCV threads {cv2.getNumThreads()} "
            f"({runtime.PIPELINE_OPENCV_THREADS} while the pipeline overlaps: runtime.PIPELINE_OPENCV_THREADS), "
            f"pipeline: the app's default ({build.describe_models(default_processor().finder)})")


# --------------------------------------------------------------------------------------------- the default pipeline


def default_args(extra: tuple[str, ...] = ()) -> argparse.Namespace:
    """The program's flags with their defaults (plus ``extra``), as for a headless run on a file."""
    return cli.parse_args(["--no-display", *extra])


def default_processor(extra: tuple[str, ...] = ()) -> FrameProcessor:
    """The whole default filter exactly as the program builds it (``build.build_processor``): whatever stages
    the program gains (the people stage, say) are measured here without touching this file."""
    return build.build_processor(default_args(extra))


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


def e2e_ours(path: Path, processor: FrameProcessor, limit: int, folder: Path, encode: bool) -> Run:
    """The app's path: threaded reader -> overlap (worker thread) -> the app's FrameProcessor [-> VideoFileSink].

    ``processor`` is built by ``default_processor`` (closed here)."""
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
        before = thread_cpu()
        count, wall, cpu = _drain(source, limit, handle)
        groups = thread_groups(before, thread_cpu(), count)
    finally:
        source.stop()
        processor.close()
        if sink is not None:
            sink.close(publish=False)
    if failed:
        raise SystemExit(f"benchmark: {failed} frames failed closed in our pipeline")
    return Run(count / wall, cpu / wall, count, {"cpu_ms": cpu / max(count, 1) * 1000, "threads": groups})


# --------------------------------------------------------------------------------------------- the peer

PEER_REQUIREMENTS = REPO / "benchmarks" / "requirements-peer.txt"  # mediapipe==0.10.21
PEER_VENV = REPO / "benchmarks" / ".venv-peer"


def peer_python(install: bool) -> tuple[Path | None, str]:
    """(python with mediapipe, "") or (None, why not). $PRIVACY_FILTER_PEER_PYTHON, else benchmarks/.venv-peer,
    created (python -m venv + pip install mediapipe) when ``install`` and absent."""
    import subprocess

    given = os.environ.get("PRIVACY_FILTER_PEER_PYTHON")
    python = Path(given) if given else PEER_VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    check = [str(python), "-c", "import mediapipe, cv2, numpy"]
    if python.is_file() and subprocess.run(check, capture_output=True, timeout=120).returncode == 0:
        return python, ""
    if given:
        return None, f"PRIVACY_FILTER_PEER_PYTHON={given} cannot import mediapipe"
    if not install:
        return None, f"no peer environment ({PEER_VENV}); run without --no-peer-install to create it"
    print(f"# creating the peer's environment {PEER_VENV} (pip install -r {PEER_REQUIREMENTS.name}; once, a few "
          "minutes)...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True, capture_output=True, timeout=300)
        done = subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(PEER_REQUIREMENTS)],
                              capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"could not create {PEER_VENV}: {exc}"
    if done.returncode != 0:
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        return None, f"pip install -r {PEER_REQUIREMENTS.name} failed: {lines[-1] if lines else done.returncode}"
    if subprocess.run(check, capture_output=True, timeout=120).returncode != 0:
        return None, f"{PEER_REQUIREMENTS.name} installed but mediapipe does not import"
    return python, ""


def e2e_peer(python: Path, path: Path, limit: int, model_selection: int) -> Run:
    """benchmarks/peer.py in the peer's environment (a subprocess): MediaPipe + LFBW-style compositing."""
    import json
    import subprocess

    command = [str(python), str(REPO / "benchmarks" / "peer.py"), str(path), "--frames", str(limit),
               "--model-selection", str(model_selection)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "GLOG_minloglevel": "2"})
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"peer failed (exit {done.returncode}): {tail}")
    data = json.loads(lines[-1])
    return Run(data["fps"], data["cpu_ms"] * data["fps"] / 1000, data["frames"], {
        "cpu_ms": data["cpu_ms"], "versions": f"mediapipe {data['mediapipe']}, OpenCV {data['opencv']}, "
                                              f"numpy {data['numpy']}"})


# --------------------------------------------------------------------------------------------- latency


class PacedCapture:
    """A video file that behaves like a camera: ``read`` blocks until the frame's 1/fps slot, then hands it
    over (decoded beforehand, as a camera delivers a finished frame). ``arrivals`` maps id(frame) -> (time the
    frame became available, its number, frame). Stands in for ``cv2.VideoCapture`` in the app's camera reader."""

    def __init__(self, path: Path, fps: float, limit: int, arrivals: dict[int, tuple[float, int, np.ndarray]]
                 ) -> None:
        self.capture = cv2.VideoCapture(str(path))
        self.period = 1.0 / fps
        self.limit = limit
        self.arrivals = arrivals
        self.count = 0
        self.next: float | None = None

    def isOpened(self) -> bool:  # cv2.VideoCapture's name
        return self.capture.isOpened()

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.limit and self.count >= self.limit:
            time.sleep(self.period)  # a camera that stopped delivering: the reader retries, the run ends
            return False, None
        ok, frame = self.capture.read()
        if not ok:
            return False, None
        now = time.perf_counter()
        self.next = now if self.next is None else self.next
        time.sleep(max(0.0, self.next - now))
        self.next += self.period
        self.arrivals[id(frame)] = (time.perf_counter(), self.count, frame)
        self.count += 1
        return True, frame

    def get(self, prop: int) -> float:
        return self.capture.get(prop)

    def release(self) -> None:
        self.capture.release()


def latency(path: Path, processor: FrameProcessor, frames: int, fps: float = 30.0, warmup: int = 30
            ) -> dict[str, float]:
    """Frames fed at ``fps`` through the camera code path (the app's live ``CaptureReader`` -> ``overlap`` in
    real time -> the processor, as ``loop.Loop`` runs a camera): ms from a frame becoming available to its
    filtered frame leaving the processor, over the frames after the first ``warmup`` (the first second holds
    the model's first runs and cold caches, once per start). Returns p50, p95, max, frames shown and fed (after
    the warm-up), CPU-ms per frame shown."""
    arrivals: dict[int, tuple[float, int, np.ndarray]] = {}
    lock = threading.Lock()
    capture: list[PacedCapture] = []

    def open_capture() -> PacedCapture:
        with lock:
            if capture:  # the reader reopens a "camera" that stopped: the run is over by then
                return capture[0]
            capture.append(PacedCapture(path, fps, frames, arrivals))
            return capture[0]

    reader = CaptureReader(open_capture, "paced clip", live=True, width=0).start()
    source = overlap(reader, processor, realtime=True)
    delays: list[float] = []
    cpu = float("nan")
    try:
        while True:
            frame = source.read(timeout=1.0)
            if frame is None:
                if capture and capture[0].count >= frames:
                    break
                continue
            processor.process(frame)
            done = time.perf_counter()
            arrived = arrivals.pop(id(frame), None)
            if arrived is not None and arrived[1] >= warmup:
                if cpu != cpu:
                    cpu = time.process_time()  # from the first frame counted
                delays.append((done - arrived[0]) * 1000)
            for key in [k for k, (t, _n, _f) in list(arrivals.items()) if arrived is not None and t < arrived[0]]:
                arrivals.pop(key, None)  # frames the live reader dropped (never shown)
    finally:
        source.stop()
        processor.close()
    cpu = time.process_time() - cpu
    fed = max(0, (capture[0].count if capture else 0) - warmup)
    return {"p50": float(np.percentile(delays, 50)) if delays else float("nan"),
            "p95": float(np.percentile(delays, 95)) if delays else float("nan"),
            "max": max(delays, default=float("nan")), "shown": len(delays), "fed": fed,
            "cpu_ms": cpu / max(len(delays) - 1, 1) * 1000}


def e2e_seed(path: Path, segmenter: SelfieSegmenter, limit: int, folder: Path, encode: bool) -> Run:
    """The seed's way on the same reader: one thread does model, mask, blur, paste [and encode]."""
    size = clip_size(path)
    # The seed's writer: OpenCV's MPEG-4 Part 2.
    fourcc = cv2.VideoWriter_fourcc(*"mp4v")
    sink = cv2.VideoWriter(str(folder / f"seed_{size[0]}x{size[1]}.mp4"), fourcc, 30.0, size) if encode else None
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
