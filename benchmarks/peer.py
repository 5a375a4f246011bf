"""The peer: what people would use instead, measured on the same clip. Runs in its OWN virtual environment.

    benchmarks/.venv-peer/bin/python benchmarks/peer.py CLIP --frames 0 --model-selection 1

Google's MediaPipe runtime (the ``mediapipe`` pip package, its ``SelfieSegmentation`` solution: the same
.tflite selfie models run by MediaPipe's own graph and TFLite/XNNPACK), then compositing as
Linux-Fake-Background-Webcam does it: a full-frame 41x41 Gaussian blur of the frame and ``np.where`` on the
mask stacked to three channels. Frames come from a reader thread (decoding overlaps the work, as in our
pipeline and LFBW's threaded camera reader). Prints ONE JSON line: fps, cpu_ms (process CPU time per frame,
all threads), frames, versions.

This file imports only cv2, numpy and mediapipe: ``mediapipe`` pins its own protobuf and numpy<2, so it cannot
share the project's environment. ``benchmarks.run`` creates ``benchmarks/.venv-peer`` (git-ignored) or uses
``$PRIVACY_FILTER_PEER_PYTHON``, and runs this as a subprocess.
"""

from __future__ import annotations

import argparse
import json
import platform
import queue
import sys
import threading
import time

import cv2
import numpy as np

KERNEL = 41
END = object()


def reader(path: str, limit: int, out: queue.Queue) -> None:
    capture = cv2.VideoCapture(path)
    count = 0
    while not limit or count < limit:
        ok, frame = capture.read()
        if not ok:
            break
        out.put(frame)
        count += 1
    capture.release()
    out.put(END)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("clip")
    parser.add_argument("--frames", type=int, default=0, help="0: the whole clip")
    parser.add_argument("--model-selection", type=int, default=1, choices=(0, 1))
    args = parser.parse_args()
    import mediapipe as mp

    segmentation = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=args.model_selection)
    # Warm up outside the clock (graph start-up, XNNPACK packing): ours is warmed up the same way.
    capture = cv2.VideoCapture(args.clip)
    ok, first = capture.read()
    capture.release()
    if not ok:
        print(json.dumps({"error": f"cannot read {args.clip}"}))
        return 1
    for _ in range(5):
        segmentation.process(cv2.cvtColor(first, cv2.COLOR_BGR2RGB))

    frames: queue.Queue = queue.Queue(maxsize=8)
    thread = threading.Thread(target=reader, args=(args.clip, args.frames, frames), daemon=True)
    count = 0
    start, cpu = time.perf_counter(), time.process_time()
    thread.start()
    while True:
        frame = frames.get()
        if frame is END:
            break
        # LFBW: the mask from MediaPipe, the blurred frame, np.where on the 3-channel condition.
        mask = segmentation.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)).segmentation_mask
        background = cv2.GaussianBlur(frame, (KERNEL, KERNEL), 0)
        condition = np.stack((mask,) * 3, axis=-1) > 0.5
        output = np.where(condition, frame, background)
        assert output.shape == frame.shape
        count += 1
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    segmentation.close()
    print(json.dumps({
        "fps": count / wall, "cpu_ms": cpu / max(count, 1) * 1000, "frames": count,
        "mediapipe": mp.__version__, "opencv": cv2.__version__, "numpy": np.__version__,
        "python": platform.python_version(),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
