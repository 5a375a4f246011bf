"""Shared test helpers: where the repo and ../shared are, and how to run the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("PRIVACY_FILTER_SHARED", REPO.parent / "shared"))
EVAL = SHARED / "eval"
SPEED_CLIP = EVAL / "videos" / "asl_webcam_concat.mp4"
PORTRAITS = EVAL / "eg1800_portrait_test"

needs_eval = pytest.mark.skipif(
    not SPEED_CLIP.is_file() or not PORTRAITS.is_dir(),
    reason=f"evaluation data not found under {EVAL}; set PRIVACY_FILTER_SHARED to the shared/ folder",
)


def run_cli(*args: str, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``python instance_segmentation.py ARGS`` from the repo root, as a user would."""
    return subprocess.run(
        [sys.executable, str(REPO / "instance_segmentation.py"), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
