"""Installed as a command (issue 15): `pip install .` gives `privacy-filter`, which finds its bundled models
wherever it is started from.

The package is built from a copy of the repository (pip builds in the source folder) and installed without
its dependencies into a fresh venv that sees this interpreter's packages (so nothing big is downloaded;
pip fetches only the build backend). It then runs from another folder, as a user would run it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import cv2
import pytest
from conftest import PORTRAITS, REPO, needs_eval

pytestmark = needs_eval


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The `privacy-filter` command of a fresh venv holding `pip install .` of this repository."""
    root = tmp_path_factory.mktemp("install")
    source = root / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", "tests", "benchmarks", "__pycache__", "build",
                                                                "*.egg-info", ".ruff_cache", ".pytest_cache"))
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / ("Scripts" if sys.platform == "win32" else "bin") / "python"
    # The dependencies are this interpreter's (already installed): a .pth file makes them visible.
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    result = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(source)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    shutil.rmtree(source)  # the installed command must not need the repository
    return python.parent / ("privacy-filter.exe" if sys.platform == "win32" else "privacy-filter")


def test_pip_install_gives_a_command_with_its_models(installed, tmp_path) -> None:
    photo = sorted((PORTRAITS / "images").glob("*.jpg"))[0]
    result = subprocess.run([str(installed), "--input", str(photo), "--output", "private.png", "--no-display"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    private = cv2.imread(str(tmp_path / "private.png"))
    original = cv2.imread(str(photo))
    assert private is not None and private.shape == original.shape
    assert (private != original).any(), "the background was filtered"


def test_the_installed_command_names_itself_in_errors(installed, tmp_path) -> None:
    result = subprocess.run([str(installed), "--kernel", "4"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("privacy-filter: error: argument -k/--kernel")


def test_the_installed_command_keeps_mask_rcnn_in_the_users_cache_and_names_its_own_download(installed,
                                                                                             tmp_path) -> None:
    """Installed, there is no mask-rcnn-coco/ beside the package: the model goes to the user's cache folder,
    and the missing-model line names the command that fetches it there (issue 22: it used to name
    site-packages and a script that is not installed)."""
    photo = sorted((PORTRAITS / "images").glob("*.jpg"))[0]
    cache = tmp_path / "cache"
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    result = subprocess.run([str(installed), "--backend", "mask-rcnn", "--input", str(photo), "--output", "o.png",
                             "--no-display"], cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 1
    line = result.stderr.strip().splitlines()[-1]
    assert f"not found in {cache / 'privacy-filter' / 'mask-rcnn-coco'}/" in line, line
    assert line.endswith("fetch it with: privacy-filter --download-mask-rcnn"), line
    assert "site-packages" not in line


def test_the_users_cache_folder_on_each_platform() -> None:
    from privacy_filter.segment.mask_rcnn import user_cache_dir

    home = {"HOME": "/home/ada"}
    assert user_cache_dir(home, "linux") == Path("/home/ada/.cache/privacy-filter")
    assert user_cache_dir({**home, "XDG_CACHE_HOME": "/x"}, "linux") == Path("/x/privacy-filter")
    assert user_cache_dir(home, "darwin") == Path("/home/ada/Library/Caches/privacy-filter")
    assert user_cache_dir({**home, "LOCALAPPDATA": "C:/Users/ada/AppData/Local"}, "win32") == Path(
        "C:/Users/ada/AppData/Local/privacy-filter/Cache")
