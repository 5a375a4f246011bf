"""The matte refinement alone, as ``benchmarks.quality`` reports it after its tables: refine()'s speed on the
webcam clip (640x480 and 1280x720), the flicker on still pixels of that clip (no truth needed), and the
README's before/after edge picture. These time and show ``render.matte.MatteRefiner`` on the selfie map cut to
the user (``people.selection``), not the whole program: its quality is what ``evaluate_set`` scores.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from privacy_filter.errors import UserError
from privacy_filter.people.selection import UserSelector, split_people
from privacy_filter.render.matte import MatteRefiner

SPEED_CLIP = Path("videos") / "asl_webcam_concat.mp4"


# --- speed ------------------------------------------------------------------------------------------------


def time_refinement(clip: Path, refiner_kwargs: dict, frames: int, model_selection: int) -> list[str]:
    """ms per refine() on real webcam frames at 640x480 and the same frames upscaled to 1280x720, with
    OpenCV's default threads and with one; and the flicker on still pixels of the clip (no truth needed)."""
    from privacy_filter.segment.selfie import SelfieSegmenter

    capture = cv2.VideoCapture(str(clip))
    images = []
    while len(images) < frames:
        ok, frame = capture.read()
        if not ok:
            break
        images.append(frame)
    capture.release()
    if not images:
        return [f"(speed skipped: cannot read {clip})"]
    segmenter = SelfieSegmenter(model_selection)
    coarse = [segmenter.process(f).copy() for f in images]
    threads = cv2.getNumThreads()
    lines = ["| frame | OpenCV threads | bilinear only (ms) | ours: refine() mean (ms) | median | p95 |",
             "|---|---|---|---|---|---|"]
    try:
        for size in ((640, 480), (1280, 720)):
            scaled = [f if f.shape[1::-1] == size else cv2.resize(f, size) for f in images]
            for n_threads in dict.fromkeys((threads, 1)):
                cv2.setNumThreads(n_threads)
                bilinear, refine = _time_once(scaled, coarse, size, refiner_kwargs)
                lines.append(f"| {size[0]}x{size[1]} | {n_threads} | {np.mean(bilinear):.2f} | "
                             f"{np.mean(refine):.2f} | {np.median(refine):.2f} | {np.percentile(refine, 95):.2f} |")
    finally:
        cv2.setNumThreads(threads)
    raw, ours = still_flicker(images, coarse, refiner_kwargs)
    lines += ["", f"Flicker on still pixels of the webcam clip (no truth: pixels whose grey level moved < "
              f"{STILL_LEVELS} between frames; {len(images)} frames at 640x480): raw {raw:.5f}, ours {ours:.5f} "
              f"({ours / raw:.0%} of raw)."]
    return lines


def _time_once(frames: list[np.ndarray], coarse: list[np.ndarray], size: tuple[int, int],
               refiner_kwargs: dict) -> tuple[list[float], list[float]]:
    refiner = MatteRefiner(**refiner_kwargs)
    bilinear: list[float] = []
    refine: list[float] = []
    for _ in range(2):  # the first pass warms caches and buffers
        bilinear.clear()
        refine.clear()
        refiner.reset()
        for frame, alpha in zip(frames, coarse, strict=True):
            t0 = time.perf_counter()
            cv2.resize(alpha, size, interpolation=cv2.INTER_LINEAR)
            t1 = time.perf_counter()
            refiner.refine(alpha, frame)
            t2 = time.perf_counter()
            bilinear.append((t1 - t0) * 1000)
            refine.append((t2 - t1) * 1000)
    return bilinear, refine


STILL_LEVELS = 3  # of 255: below this a pixel's change is sensor noise, the scene did not move there


def still_flicker(frames: list[np.ndarray], coarse: list[np.ndarray], refiner_kwargs: dict) -> tuple[float, float]:
    """Mean |a_t - a_t-1| of raw (bilinear) and our mattes over pixels where the frame itself stood still."""
    refiner, selector = MatteRefiner(**refiner_kwargs), UserSelector()
    sums, count = [0.0, 0.0], 0
    previous = None
    for frame, probability in zip(frames, coarse, strict=True):
        height, width = frame.shape[:2]
        grey = cv2.GaussianBlur(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), (3, 3), 0).astype(np.int16)
        raw = cv2.resize(probability, (width, height), interpolation=cv2.INTER_LINEAR)
        ours = refiner.refine(selector.select(split_people(probability), probability.shape[:2]), frame).copy()
        if previous is not None:
            still = np.abs(grey - previous[0]) < STILL_LEVELS
            count += int(np.count_nonzero(still))
            sums[0] += float(np.abs(raw - previous[1])[still].sum(dtype=np.float64))
            sums[1] += float(np.abs(ours - previous[2])[still].sum(dtype=np.float64))
        previous = (grey, raw, ours)
    return sums[0] / max(1, count), sums[1] / max(1, count)


# --- the README's edge picture -----------------------------------------------------------------------------

EDGE_FRAME = 80  # of asl_webcam_concat.mp4: dark hair and an orange hood against a white wall
EDGE_CROP = (236, 84, 176, 176)  # x, y, w, h in the 640x480 frame: hair, cheek, hood, shoulder


def edge_picture(clip: Path, out: Path, frame_index: int = EDGE_FRAME,
                 crop: tuple[int, int, int, int] = EDGE_CROP, zoom: int = 2,
                 colour: tuple[int, int, int] = (150, 110, 40)) -> int:
    """Write a before/after crop: the bilinear-upsampled model output cut at 0.5 (left) vs our matte (right),
    each composited over a flat ``colour`` (BGR; a flat background shows the edge, a blur would hide it),
    with the mattes below. Returns the PNG's size in bytes.

    The selector and refiner run over the 15 frames before ``frame_index`` first, so their state is as in use.
    """
    from privacy_filter.segment.selfie import SelfieSegmenter

    segmenter, refiner, selector = SelfieSegmenter(1), MatteRefiner(), UserSelector()
    capture = cv2.VideoCapture(str(clip))
    start = max(0, frame_index - 15)
    capture.set(cv2.CAP_PROP_POS_FRAMES, start)
    frame = probability = ours = None
    for _ in range(frame_index - start + 1):
        ok, frame = capture.read()
        if not ok:
            raise UserError(f"cannot read frame {frame_index} of {clip}")
        probability = segmenter.process(frame)
        ours = refiner.refine(selector.select(split_people(probability), probability.shape[:2]), frame)
    capture.release()
    height, width = frame.shape[:2]
    hard = (cv2.resize(probability, (width, height), interpolation=cv2.INTER_LINEAR) > 0.5).astype(np.float32)
    x, y, w, h = crop
    sharp = frame[y:y + h, x:x + w].astype(np.float32)
    flat = np.empty_like(sharp)
    flat[:] = colour
    columns = []
    for alpha, label in ((hard, "before: bilinear upsampling, cut at 0.5"), (ours, "after: refined matte")):
        a = alpha[y:y + h, x:x + w, None]
        composite = (a * sharp + (1 - a) * flat + 0.5).astype(np.uint8)
        matte = cv2.cvtColor((a[..., 0] * 255 + 0.5).astype(np.uint8), cv2.COLOR_GRAY2BGR)
        column = cv2.resize(np.vstack([composite, matte]), None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
        header = np.full((28, column.shape[1], 3), 255, np.uint8)
        cv2.putText(header, label, (6, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        columns.append(np.vstack([header, column]))
    gap = np.full((columns[0].shape[0], 6, 3), 255, np.uint8)
    picture = np.hstack([columns[0], gap, columns[1]])
    out.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(".png", picture, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise UserError(f"cannot encode {out}")
    out.write_bytes(data.tobytes())
    return len(data)
