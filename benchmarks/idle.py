"""What the program costs while no call watches the virtual camera (issue 23): CPU and camera frames read.

    python -m benchmarks.idle                    # 30 s idle, stand-in camera and virtual camera device
    python -m benchmarks.idle --seconds 5        # a quick run
    python -m benchmarks.idle --camera 0 --device /dev/video10   # the real webcam and v4l2loopback device

Runs the real program (``--input 0 --virtual-cam --no-display``, on demand) in this process. By default both
ends are stand-ins, as in tests/test_ondemand.py: the webcam is a looping video file read through the real
threaded ``CaptureReader`` at its own frame rate, and the virtual camera device is a file in a temporary folder
that nobody opens, behind the real ``pyvirtualcam.Camera`` with a backend that only counts the frames sent.
The program streams, sees no viewer, releases the camera after ~2 s; from then on, for ``--seconds``, this
measures the process's CPU time (``getrusage``, every thread: user + system) and the camera frames read
(``CaptureReader.frames_read`` of every reader the program opened; it must be 0). With ``--streaming-seconds``
a stand-in call (another process holding the device open) first watches for that long, for the streaming
figure to compare with. Prints one line per figure and the CPU class; no test depends on the numbers.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from privacy_filter.app import loop
from privacy_filter.app import main as app
from privacy_filter.io.capture import CaptureReader
from privacy_filter.io.sources import open_source

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("PRIVACY_FILTER_SHARED", REPO.parent / "shared"))
CLIP = SHARED / "eval" / "videos" / "asl_webcam_concat.mp4"
HOLDER = "import sys; f = open(sys.argv[1], 'rb'); print('open', flush=True); sys.stdin.readline()"


class ClipCamera:
    """A video file as a webcam (``cv2.VideoCapture`` verbs): frames at the file's rate, over and over."""

    def __init__(self, path: Path) -> None:
        self.capture = cv2.VideoCapture(str(path))
        self.fps = self.capture.get(cv2.CAP_PROP_FPS) or 30.0
        self.next = time.monotonic()

    def isOpened(self) -> bool:  # OpenCV's name
        return self.capture.isOpened()

    def read(self) -> tuple[bool, np.ndarray | None]:
        self.next += 1.0 / self.fps
        time.sleep(max(0.0, self.next - time.monotonic()))  # a camera delivers at its rate, not faster
        ok, frame = self.capture.read()
        if not ok:
            self.capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self.capture.read()
        return ok, frame

    def get(self, prop: int) -> float:
        return self.fps if prop == cv2.CAP_PROP_FPS else 0.0

    def release(self) -> None:
        self.capture.release()


class CountingBackend:
    """A pyvirtualcam backend (``pyvirtualcam.camera.Backend``) for a device file: counts the frames sent."""

    sent = 0

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **_kw) -> None:
        self.fourcc, self.name = fourcc, device or "/dev/video-standin"

    def send(self, frame: np.ndarray) -> None:
        CountingBackend.sent += 1

    def close(self) -> None:
        pass

    def device(self) -> str:
        return self.name

    def native_fourcc(self) -> int:
        return self.fourcc


def cpu_class() -> str:
    """e.g. 'AMD EPYC, 2 cores, AVX-512' (from /proc/cpuinfo where there is one)."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                name = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    except OSError:
        pass
    vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{name}, {os.cpu_count()} cores, {vector}"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to measure while idle (default 30)")
    parser.add_argument("--streaming-seconds", type=float, default=0.0,
                        help="first measure this long with a stand-in call watching (default 0: skip)")
    parser.add_argument("--clip", type=Path, default=CLIP, help="the video file standing in for the webcam")
    parser.add_argument("--camera", help="a real camera (index or /dev/videoN) instead of the clip")
    parser.add_argument("--device", help="a real v4l2loopback device instead of the stand-in file")
    args = parser.parse_args(argv)

    readers: list[CaptureReader] = []

    def opened(spec: str, width: int = 0) -> CaptureReader:
        source = open_source(args.camera, width) if args.camera else CaptureReader(
            lambda: ClipCamera(args.clip), "camera 0", live=True, width=width)
        readers.append(source)  # type: ignore[arg-type]
        return source  # type: ignore[return-value]

    loop.open_source = opened  # type: ignore[assignment]  # every camera the program opens goes through here
    folder = tempfile.TemporaryDirectory()
    device = args.device
    if device is None:
        import pyvirtualcam.camera

        pyvirtualcam.camera.BACKENDS = {"standin": CountingBackend}
        device = str(Path(folder.name) / "video10")
        Path(device).write_bytes(b"")
    result: dict = {}

    def measure() -> None:
        try:
            while not readers:
                time.sleep(0.05)
            if args.streaming_seconds > 0:
                viewer = subprocess.Popen([sys.executable, "-c", HOLDER, device], stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, text=True)
                viewer.stdout.readline()  # type: ignore[union-attr]
                time.sleep(2.0)  # warmed up
                cpu, wall, sent = cpu_seconds(), time.monotonic(), CountingBackend.sent
                time.sleep(args.streaming_seconds)
                result["streaming"] = ((cpu_seconds() - cpu) / (time.monotonic() - wall),
                                       (CountingBackend.sent - sent) / (time.monotonic() - wall))
                viewer.communicate("\n", timeout=10)
            while any(reader.alive for reader in readers):  # released: the reader threads have ended
                time.sleep(0.05)
            time.sleep(0.2)
            count = len(readers)
            frames = sum(reader.frames_read for reader in readers)
            cpu, wall, sent = cpu_seconds(), time.monotonic(), CountingBackend.sent
            time.sleep(args.seconds)
            wall = time.monotonic() - wall
            result["idle"] = (cpu_seconds() - cpu, wall, sum(r.frames_read for r in readers) - frames,
                              len(readers) - count, CountingBackend.sent - sent)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # as systemd stops it

    threading.Thread(target=measure, daemon=True).start()
    status = app.main(["--input", "0", "--virtual-cam", "--virtual-cam-device", device, "--no-display"])
    folder.cleanup()
    if "idle" not in result:
        print(f"the program stopped (status {status}) before the idle measurement", file=sys.stderr)
        return 1
    where = f"camera {'stand-in (' + args.clip.name + ')' if not args.camera else args.camera}, device " \
            f"{'stand-in file' if not args.device else args.device}"
    if "streaming" in result:
        share, fps = result["streaming"]
        print(f"streaming (a call watching): {100 * share:.1f} % of one core, {fps:.1f} frames/s sent")
    cpu, wall, frames, reopened, sent = result["idle"]
    print(f"idle (no call watching) over {wall:.1f} s: {100 * cpu / wall:.2f} % of one core "
          f"({cpu * 1000:.0f} ms CPU), camera frames read: {frames}, camera opened: {reopened} times, "
          f"paused frames sent: {sent}")
    print(f"{where}; CPU: {cpu_class()}; Python {platform.python_version()}")
    return 0 if frames == 0 and reopened == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
