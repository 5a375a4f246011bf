"""End to end: ours, the seed and the peer (MediaPipe in its own venv) over the same clip, files written or not;
the latency of a paced camera; Mask R-CNN asynchronous."""


from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from benchmarks.machine import KERNEL, REPO, thread_cpu, thread_groups
from benchmarks.seed_baseline import seed_mask_rcnn_frame, seed_paste
from benchmarks.stages import clip_size, make_processor
from privacy_filter.concurrent.latest import LatestMask
from privacy_filter.concurrent.overlap import overlap
from privacy_filter.io.avfile import AVVideoSink as VideoFileSink  # the app's video writer (PyAV, H.264)
from privacy_filter.io.capture import CaptureReader
from privacy_filter.io.sources import open_source
from privacy_filter.pipeline import FrameProcessor
from privacy_filter.segment.mask_rcnn import MaskRCNNSegmenter, read_net
from privacy_filter.segment.selfie import SelfieSegmenter


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
