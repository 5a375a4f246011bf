"""``python -m benchmarks.run`` still runs and prints every row the speed issue asks for (no timing asserted:
the numbers are the benchmark's to print, the test only checks that they are there and make sense)."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import REPO, SPEED_CLIP, needs_eval

from benchmarks import run as bench


@needs_eval
def test_the_benchmark_prints_every_row(capsys) -> None:
    status = bench.main(["--backends", "selfie", "--sizes", "640x480", "--frames", "40", "--repeats", "1",
                         "--latency-frames", "60", "--no-peer", str(SPEED_CLIP)])
    out = capsys.readouterr().out
    assert status == 0
    for needle in ("# CPU class of every figure below: ", "vector extensions: ", "model runtime: ",
                   "## Ours vs the peer", "| 640x480 | ours: selfie ", "| 640x480 | peer: not measured (--no-peer)",
                   "| 640x480 | seed-style", "## Stages"):
        assert needle in out, needle
    ours = next(line for line in out.splitlines() if line.startswith("| 640x480 | ours: "))
    cells = [cell.strip() for cell in ours.split("|")[1:-1]]
    fps, cpu_ms = float(cells[2]), float(cells[3])
    assert fps > 0 and cpu_ms > 0
    p50, p95 = (float(v) for v in re.match(r"([\d.]+) / ([\d.]+)", cells[6]).groups())
    assert 0 < p50 <= p95


def test_the_avx2_approximation_names_what_opencv_knows() -> None:
    """OPENCV_CPU_DISABLE takes OpenCV's own spelling ("AVX512-SKX"); "AVX512_SKX" is silently ignored."""
    import subprocess
    import sys

    code = "import cv2; print(cv2.getCPUFeaturesLine())"
    env = {"OPENCV_CPU_DISABLE": bench.AVX512_DISPATCH, "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=REPO,
                            timeout=60)
    assert result.returncode == 0 and "unknown CPU feature" not in result.stderr, result.stderr
    assert not any("AVX512" in word and not word.endswith("?") for word in result.stdout.split()), result.stdout


@needs_eval
def test_the_idle_benchmark_reads_no_frame_while_nobody_watches() -> None:
    """``python -m benchmarks.idle`` (issue 23), short: it prints the idle figure with the CPU class, and exits 0
    only if no camera frame was read while released. (A subprocess: it stops the program with SIGTERM.)"""
    result = subprocess.run([sys.executable, "-m", "benchmarks.idle", "--seconds", "1", "--clip", str(SPEED_CLIP)],
                            cwd=REPO, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    idle = re.search(r"idle \(no call watching\) over ([\d.]+) s: ([\d.]+) % of one core .* camera frames read: 0,",
                     result.stdout)
    assert idle and float(idle.group(1)) >= 1.0, result.stdout
    assert "CPU: " in result.stdout and " cores, " in result.stdout
    assert "no call is watching: camera released" in result.stderr
