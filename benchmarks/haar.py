"""An ordinary face detector to judge the output by: OpenCV's Haar frontal-face cascade, as issue 24 used.

"Can someone still be recognised?" Pixel shares do not say; a face detector that still finds another person's
face in our output does. OpenCV 5 (the project's) no longer ships ``CascadeClassifier``, so the cascade runs
in a helper process on an OpenCV 4 found on ``HAAR_PYTHONPATH`` (e.g. ``pip install --target /tmp/cv4
opencv-python-headless==4.10.0.84``), with the cascade file from Debian's ``opencv-data``
(``/usr/share/opencv4/haarcascades/``) or ``HAAR_CASCADE``. Without them ``HaarFaces.available()`` is False
and the benchmark leaves the row out (it says so).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

CASCADE = Path(os.environ.get("HAAR_CASCADE", "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml"))
_HELPER = r"""
import json, sys
import cv2, numpy as np
cascade = cv2.CascadeClassifier(sys.argv[1])
while True:
    head = sys.stdin.buffer.read(8)
    if len(head) < 8:
        break
    h, w = int.from_bytes(head[:4], "little"), int.from_bytes(head[4:], "little")
    frame = np.frombuffer(sys.stdin.buffer.read(h * w * 3), np.uint8).reshape(h, w, 3)
    grey = cv2.equalizeHist(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
    found = cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
    sys.stdout.write(json.dumps([[int(v) for v in box] for box in found]) + "\n")
    sys.stdout.flush()
"""


class HaarFaces:
    """detect(frame: HxWx3 uint8 BGR) -> [(x, y, w, h)] frontal faces, OpenCV's default parameters."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.environ.get("HAAR_PYTHONPATH", "/tmp/cv4")}
        self._process = subprocess.Popen([sys.executable, "-c", _HELPER, str(CASCADE)], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, env=env)

    @staticmethod
    def available() -> bool:
        if not CASCADE.is_file():
            return False
        env = {**os.environ, "PYTHONPATH": os.environ.get("HAAR_PYTHONPATH", "/tmp/cv4")}
        probe = subprocess.run([sys.executable, "-c", "import cv2; cv2.CascadeClassifier"], env=env,
                               capture_output=True)
        return probe.returncode == 0

    def detect(self, frame: np.ndarray) -> list[tuple[int, int, int, int]]:
        frame = np.ascontiguousarray(frame, np.uint8)
        h, w = frame.shape[:2]
        self._process.stdin.write(h.to_bytes(4, "little") + w.to_bytes(4, "little") + frame.tobytes())
        self._process.stdin.flush()
        return [tuple(box) for box in json.loads(self._process.stdout.readline())]

    def close(self) -> None:
        self._process.stdin.close()
        self._process.wait(timeout=10)


def faces_on(boxes: list[tuple[int, int, int, int]], instances: np.ndarray, who: int = 2) -> int:
    """How many boxes are centred on a person numbered ``who`` or more in ``instances`` (HxW uint8: 1 = the user)."""
    count = 0
    for x, y, w, h in boxes:
        cy, cx = min(instances.shape[0] - 1, y + h // 2), min(instances.shape[1] - 1, x + w // 2)
        count += int(instances[cy, cx] >= who)
    return count
