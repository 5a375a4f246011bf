"""Shared test helpers: where the repo and ../shared are, and how to run the real CLI.

Also the suite's two rules for repeatable, honest results:

- **Hypothesis is derandomised by default** (profile ``repeatable``: a fixed seed per test, no example
  database), so the README's test command gives the same result run after run and in every clone. Fuzz with
  fresh randomness, keeping what it finds in ``.hypothesis/``, with ``--hypothesis-profile=explore`` (or
  ``HYPOTHESIS_PROFILE=explore``); then keep each case it finds as an explicit ``@example``.
- **Under CI (``CI=true``) a test marked ``required_in_ci`` may not skip**: its skip is reported as a failure
  with the skip's reason. Every test that needs ``../shared/eval`` (``needs_eval``) is marked automatically;
  the privacy-critical tests that skip for other reasons (no unshare/mount, no chattr, no Xvfb, no
  pyvirtualcam) carry the marker themselves.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis.database import DirectoryBasedExampleDatabase

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("PRIVACY_FILTER_SHARED", REPO.parent / "shared"))
EVAL = SHARED / "eval"
SPEED_CLIP = EVAL / "videos" / "asl_webcam_concat.mp4"
PORTRAITS = EVAL / "eg1800_portrait_test"

needs_eval = pytest.mark.skipif(
    not SPEED_CLIP.is_file() or not PORTRAITS.is_dir(),
    reason=f"evaluation data not found under {EVAL}; set PRIVACY_FILTER_SHARED to the shared/ folder",
)
required_in_ci = pytest.mark.required_in_ci

# --- hypothesis: the same result on every run unless asked to explore ----------------------------------------
settings.register_profile("repeatable", derandomize=True, database=None, print_blob=True)
settings.register_profile(
    "explore", derandomize=False, database=DirectoryBasedExampleDatabase(str(REPO / ".hypothesis" / "examples"))
)
# --hypothesis-profile (hypothesis's own pytest option) is applied after this file is loaded, so it wins.
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


# --- CI: a required test that skips is a failure ---------------------------------------------------------------
def in_ci() -> bool:
    """True when the environment says this is CI (CI=true, as GitHub Actions, GitLab CI and .ci/run set it)."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "required_in_ci: may not skip under CI=true (the skip fails the test there)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A test that needs the evaluation data is data-driven: it must run in CI (where ../shared is provided).
    for item in items:
        if any(mark == needs_eval.mark for mark in item.iter_markers("skipif")):
            item.add_marker(required_in_ci)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and in_ci() and item.get_closest_marker("required_in_ci")):
        return
    if hasattr(report, "wasxfail"):
        return  # an expected failure is reported as a skip; it is not a missing prerequisite
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    reason = reason.removeprefix("Skipped: ")  # pytest.skip() in a test's body adds it
    report.outcome = "failed"
    report.longrepr = f"required in CI, but skipped: {reason}"


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


# --- say loudly when most of the suite did not run --------------------------------------------------------------
def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """Without ../shared most tests skip and the run still passes: the last lines say so, and how to fix it."""
    skipped = len(terminalreporter.stats.get("skipped", []))
    ran = sum(len(terminalreporter.stats.get(key, [])) for key in ("passed", "failed", "error", "skipped"))
    if EVAL.is_dir() or not skipped:
        return
    terminalreporter.write_sep("!", "WARNING: most of the suite did not run", red=True, bold=True)
    terminalreporter.write_line(
        f"{skipped} of {ran} tests were SKIPPED: the shared data and models were not found at {SHARED}.\n"
        "They hold the real photos and clips the quality and privacy tests read. Put the project's shared/ folder "
        "beside the repository (../shared), or set PRIVACY_FILTER_SHARED to where it is, and run again.",
        red=True,
    )
