"""The suite's own rules (tests/conftest.py), checked by running pytest on small test files that use them:

- under CI (CI=true) a test that must run there (``required_in_ci``, or any test that needs ../shared/eval)
  fails instead of skipping; elsewhere it skips with its reason;
- hypothesis draws the same examples on every run by default, and fresh ones with ``--hypothesis-profile=explore``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

from conftest import REPO

SKIPPING = '''
import pytest
from conftest import needs_eval


@pytest.mark.required_in_ci
def test_required_needs_a_tool():
    pytest.skip("no such tool here")


@needs_eval
def test_needs_the_evaluation_data():
    pass


@pytest.mark.required_in_ci
@pytest.mark.skipif(True, reason="a condition that is not met")
def test_required_skipif():
    pass


def test_may_skip():
    pytest.skip("optional: allowed to skip anywhere")


@pytest.mark.required_in_ci
@pytest.mark.xfail(reason="a known bug", strict=True)
def test_required_known_bug():
    assert False


def test_runs():
    pass
'''

DRAWING = '''
import os
from hypothesis import given, strategies as st


@given(st.integers(0, 2**62))
def test_draws(value):
    with open(os.environ["DRAWN"], "a") as drawn:
        drawn.write(f"{value}\\n")
'''


def suite(tmp_path: Path, name: str, text: str) -> Path:
    """A folder tests/ with the project's conftest.py and one test file; ../shared points at nothing."""
    folder = tmp_path / "project" / "tests"
    folder.mkdir(parents=True)
    shutil.copy(REPO / "tests" / "conftest.py", folder / "conftest.py")
    (folder / name).write_text(text)
    return folder


def run_pytest(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key not in ("CI", "HYPOTHESIS_PROFILE")}
    environment["PRIVACY_FILTER_SHARED"] = str(folder.parent / "no-shared-here")
    environment.update(env)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", "-q", *args],
                          cwd=folder, capture_output=True, text=True, timeout=300, env=environment)


def outcomes(junit: Path) -> dict[str, str]:
    """test name -> passed/failure/error/skipped from pytest's JUnit XML report (an xfail is 'skipped' there)."""
    found = {}
    for case in ElementTree.parse(junit).iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        found[case.get("name")] = kinds[0] if kinds else "passed"
    return found


def test_outside_ci_required_tests_skip_with_their_reason(tmp_path) -> None:
    folder = suite(tmp_path, "test_skipping.py", SKIPPING)
    result = run_pytest(folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no such tool here" in result.stdout and "evaluation data not found" in result.stdout
    assert "1 passed, 4 skipped, 1 xfailed" in result.stdout, result.stdout


def test_in_ci_a_required_test_that_skips_fails(tmp_path) -> None:
    folder = suite(tmp_path, "test_skipping.py", SKIPPING)
    junit = tmp_path / "report.xml"
    result = run_pytest(folder, f"--junitxml={junit}", CI="true")
    assert result.returncode == 1, result.stdout + result.stderr
    report = result.stdout
    assert "required in CI, but skipped: no such tool here" in report
    assert "required in CI, but skipped: evaluation data not found" in report, "needs_eval implies required"
    assert "required in CI, but skipped: a condition that is not met" in report
    assert outcomes(junit) == {
        "test_required_needs_a_tool": "failure",
        "test_needs_the_evaluation_data": "error",  # a skipif mark skips in the setup phase
        "test_required_skipif": "error",
        "test_may_skip": "skipped",  # not required: it may skip, in CI too
        "test_required_known_bug": "skipped",  # an expected failure is not a missing prerequisite
        "test_runs": "passed",
    }


def drawn(folder: Path, *args: str, **env: str) -> list[str]:
    record = folder / f"drawn-{len(list(folder.glob('drawn-*')))}.txt"
    result = run_pytest(folder, *args, DRAWN=str(record), **env)
    assert result.returncode == 0, result.stdout + result.stderr
    return record.read_text().split()


def test_hypothesis_draws_the_same_examples_on_every_run_by_default(tmp_path) -> None:
    folder = suite(tmp_path, "test_drawing.py", DRAWING)
    first, second = drawn(folder), drawn(folder)
    assert len(first) == 100 and first == second
    assert not (folder.parent / ".hypothesis").exists(), "no example database: nothing carries over between runs"
    # The CI setting changes nothing about it.
    assert drawn(folder, CI="true") == first


def test_the_explore_profile_draws_fresh_examples(tmp_path) -> None:
    folder = suite(tmp_path, "test_drawing.py", DRAWING)
    first = drawn(folder)
    explored = drawn(folder, "--hypothesis-profile=explore")
    again = drawn(folder, HYPOTHESIS_PROFILE="explore")
    assert explored != first and again != explored, "fresh randomness each run"
