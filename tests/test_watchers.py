"""Counting the virtual camera's viewers: a stand-in device file opened and closed by other processes.

Real processes, a real file, the kernel's real inotify and /proc: only the v4l2loopback node is stood in
for (by a regular file, which inotify and /proc treat the same way).
"""

from __future__ import annotations

import sys
import time

import pytest
from watchkit import Viewer

from privacy_filter.io.watchers import CannotCount, InotifyReaders, ProcReaders, proc_readers, watch_readers

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reader counting is for Linux")


def settled(readers, expected: int, timeout: float = 5.0) -> int:
    """The count once it reaches ``expected`` (or the last one seen after ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    count = readers.count()
    while count != expected and time.monotonic() < deadline:
        readers.wait(0.1)
        count = readers.count()
    return count


@pytest.fixture
def device(tmp_path):
    path = tmp_path / "video10"
    path.write_bytes(b"")
    return path


def test_proc_scan_sees_another_process_and_not_us(device) -> None:
    with open(device, "rb"):  # our own open is not a viewer
        assert proc_readers(device) == 0
        with Viewer(device):
            assert proc_readers(device) == 1
            with Viewer(device):
                assert proc_readers(device) == 2
        assert proc_readers(device) == 0


def test_inotify_counts_opens_and_closes_of_other_processes(device) -> None:
    readers = InotifyReaders(device)
    try:
        assert readers.count() == 0
        first = Viewer(device)
        assert settled(readers, 1) == 1
        with Viewer(device):
            assert settled(readers, 2) == 2
        assert settled(readers, 1) == 1
        first.close()
        assert settled(readers, 0) == 0
        assert readers.confirm() == 0
    finally:
        readers.close()


def test_inotify_starts_from_who_already_watches(device) -> None:
    with Viewer(device) as viewer:
        readers = InotifyReaders(device)
        try:
            assert readers.count() == 1, "opened before the watch: found by the /proc scan"
            viewer.close()
            assert settled(readers, 0) == 0, "its close is seen and does not go below 0"
        finally:
            readers.close()


def test_a_descriptor_held_twice_is_set_right_by_the_resync(device) -> None:
    """A viewer that dup'ed its descriptor before we watched: /proc sees 2, its one close event takes 1 away;
    the /proc resync brings the count to 0 (the camera is not left on all day)."""
    holder = Viewer(device, dup=True)
    readers = InotifyReaders(device, resync=0.5)
    try:
        assert readers.count() == 2
        holder.close()
        time.sleep(0.1)
        assert readers.count() == 1, "one close event for the one open"
        assert settled(readers, 0, timeout=3.0) == 0
    finally:
        holder.close()
        readers.close()


def test_wait_returns_on_an_open_and_sleeps_otherwise(device) -> None:
    readers = InotifyReaders(device)
    try:
        start = time.monotonic()
        readers.wait(0.3)
        assert time.monotonic() - start >= 0.25, "nothing happened: it slept the whole timeout"
        with Viewer(device):
            # The viewer's open is queued: wait returns at once.
            start = time.monotonic()
            readers.wait(5.0)
            assert time.monotonic() - start < 1.0
            assert readers.count() == 1
    finally:
        readers.close()


def test_proc_fallback_counts_too(device) -> None:
    readers = ProcReaders(device, interval=0.05)
    assert readers.count() == 0
    with Viewer(device):
        assert settled(readers, 1) == 1
    assert settled(readers, 0) == 0


def test_watch_readers_says_why_it_cannot_count(device) -> None:
    with pytest.raises(CannotCount, match="cannot be counted on Windows"):
        watch_readers(str(device), system="win32")
    with pytest.raises(CannotCount, match="OBS Virtual Camera is not a device file"):
        watch_readers("OBS Virtual Camera", system="linux")
    readers = watch_readers(str(device), system="linux")
    try:
        assert isinstance(readers, InotifyReaders)
    finally:
        readers.close()
