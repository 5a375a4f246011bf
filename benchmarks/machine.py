"""The machine a benchmark ran on: CPU model and vector class (AVX2 or AVX-512), load, memory, per-thread
CPU time from /proc, the runtime line. For the headers of ``benchmarks.run`` and the other benchmarks."""


from __future__ import annotations

import contextlib
import os
import platform
import threading
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
KERNEL = 41
SIZES = ((640, 480), (1280, 720))
PLOT_SIZES = ((640, 360), (854, 480), (1280, 720), (1920, 1080))
STAGES = ("decode", "preprocess", "inference", "select", "refine", "effect", "blend", "encode")
COMPOSITING = ("refine", "effect", "blend")  # the budget: <= 3 ms at 640x480, <= 8 ms at 1280x720


def shared_dir() -> Path:
    """The shared data folder: $PRIVACY_FILTER_SHARED, else ../shared next to the repository."""
    return Path(os.environ.get("PRIVACY_FILTER_SHARED", REPO.parent / "shared"))



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
