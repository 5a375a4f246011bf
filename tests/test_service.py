"""The systemd user unit in docs/ (issue 23): systemd's own checker accepts it, and it runs what the docs say.

``systemd-analyze verify`` (Debian package ``systemd``) parses the unit as the user manager would, checks that
ExecStart's program exists and that every key is known; it only warns (exit 0) about a key it does not know,
so any line about the unit fails the test too. Skipped where the command is not installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from conftest import REPO

UNIT = REPO / "docs" / "privacy-filter.service"


def test_the_unit_passes_systemd_analyze_verify(tmp_path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    unit = tmp_path / UNIT.name
    shutil.copy(UNIT, unit)
    runtime = tmp_path / "runtime"  # the user manager's runtime folder (a test has no login session)
    runtime.mkdir(mode=0o700)
    result = subprocess.run([analyze, "verify", "--user", str(unit)], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    about_it = [line for line in result.stderr.splitlines() if UNIT.name in line]
    assert not about_it, "\n".join(about_it)


def test_the_unit_starts_at_login_restarts_on_failure_and_stops_cleanly() -> None:
    lines = {line.strip() for line in UNIT.read_text().splitlines() if line.strip() and not line.startswith("#")}
    assert "ExecStart=/usr/bin/env privacy-filter --no-display --virtual-cam" in lines
    assert {"Restart=on-failure", "WantedBy=default.target", "SuccessExitStatus=143"} <= lines
    assert not any(line.startswith(("StandardOutput=", "StandardError=")) for line in lines), "the journal"
