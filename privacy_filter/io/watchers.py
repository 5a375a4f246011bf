"""Who watches the virtual camera: the number of other programs that have its device open (Linux).

A call app (Zoom, Meet in Chrome, Teams, OBS) opens the v4l2loopback device node when it shows the camera and
closes it when the call ends. ``watch_readers(device)`` counts those opens:

``InotifyReaders`` (the way): inotify IN_OPEN / IN_CLOSE_* events on the device node, through libc (ctypes),
    so the program sleeps in ``select`` between events and costs nothing while no call is open. The count
    starts from a ``/proc/*/fd`` scan (the programs that had it open before we watched) and is checked
    against one before the camera is released (inotify cannot tell who opened: a lost event must not
    leave a call with a paused picture).
``ProcReaders`` (the fallback, where inotify cannot be had): a ``/proc/*/fd`` scan once a second.

Our own opens are not counted: the virtual camera is opened before the watch starts, and the scan skips our
process. Where readers cannot be counted (not Linux, a device that is a name rather than a file, such as
"OBS Virtual Camera"), ``watch_readers`` raises ``CannotCount`` with one line saying why.

Works on any file, not only device nodes: the tests drive it with a regular file that another process opens.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import select
import struct
import sys
import time
from pathlib import Path
from typing import Protocol

IN_CLOSE_WRITE = 0x00000008
IN_CLOSE_NOWRITE = 0x00000010
IN_OPEN = 0x00000020
IN_Q_OVERFLOW = 0x00004000
_EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len (then len bytes of name)
PROC_POLL_S = 1.0  # the fallback's scan interval: fast enough for a call to start within ~1 s
# inotify counts opens of a file description, /proc counts descriptors (a dup or a fork holds one open twice):
# the event count is set from /proc this often, so that such a difference lasts seconds, not all day.
RESYNC_S = 10.0


class CannotCount(Exception):
    """The virtual camera's readers cannot be counted here; the message says why, in one line."""


class Readers(Protocol):
    """count() -> other programs with the device open; wait(timeout) sleeps until that may have changed;
    confirm() -> the count checked the slow, sure way; close()."""

    def count(self) -> int: ...

    def wait(self, timeout: float) -> None: ...

    def confirm(self) -> int: ...

    def close(self) -> None: ...


def proc_readers(path: str | Path, own_pid: int | None = None) -> int:
    """How many open file descriptors of other processes point at ``path`` (from /proc/<pid>/fd).

    Processes of other users cannot be looked into and are not counted (a call app runs as the user)."""
    target = os.path.realpath(path)
    own = str(os.getpid() if own_pid is None else own_pid)
    count = 0
    try:
        pids = [name for name in os.listdir("/proc") if name.isdigit() and name != own]
    except OSError:
        return 0
    for pid in pids:
        folder = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(folder)
        except OSError:  # gone meanwhile, or another user's
            continue
        for fd in fds:
            try:
                if os.readlink(f"{folder}/{fd}") == target:
                    count += 1
            except OSError:
                continue
    return count


def _libc() -> ctypes.CDLL:
    name = ctypes.util.find_library("c") or "libc.so.6"
    return ctypes.CDLL(name, use_errno=True)


class InotifyReaders:
    """The device's other readers, counted from inotify open/close events (see the module's notes)."""

    def __init__(self, path: str | Path, resync: float = RESYNC_S) -> None:
        self.path = str(path)
        self.resync = resync
        libc = _libc()
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), f"inotify_init1: {os.strerror(ctypes.get_errno())}")
        mask = IN_OPEN | IN_CLOSE_WRITE | IN_CLOSE_NOWRITE
        if libc.inotify_add_watch(fd, os.fsencode(self.path), mask) < 0:
            code = ctypes.get_errno()
            os.close(fd)
            raise OSError(code, f"inotify_add_watch {self.path}: {os.strerror(code)}")
        self._fd: int | None = fd
        self._count = proc_readers(self.path)  # who had it open before the watch began
        self._checked = time.monotonic()

    def count(self) -> int:
        if time.monotonic() - self._checked >= self.resync:
            return self.confirm()  # ~2 ms every 10 s
        self._drain()
        return self._count

    def wait(self, timeout: float) -> None:
        """Sleep until an open or close happens, or ``timeout`` s pass (a signal ends it early too)."""
        if self._fd is None:
            time.sleep(max(0.0, timeout))
            return
        with contextlib.suppress(InterruptedError):
            select.select([self._fd], [], [], max(0.0, timeout))

    def confirm(self) -> int:
        """The count from /proc (which sees who holds it), adopted as the count from now on."""
        self._drain()
        self._count = proc_readers(self.path)
        self._checked = time.monotonic()
        return self._count

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def _drain(self) -> None:
        """Read every pending event and update the count (without blocking)."""
        while self._fd is not None:
            try:
                data = os.read(self._fd, 64 * 1024)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                raise
            offset, overflow = 0, False
            while offset + _EVENT.size <= len(data):
                _wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                offset += _EVENT.size + length
                if mask & IN_OPEN:
                    self._count += 1
                if mask & (IN_CLOSE_WRITE | IN_CLOSE_NOWRITE):
                    self._count = max(0, self._count - 1)  # a close of an open made before we watched
                overflow |= bool(mask & IN_Q_OVERFLOW)
            if overflow:  # events were lost: count the sure way
                self._count = proc_readers(self.path)


class ProcReaders:
    """The device's other readers from a /proc scan every PROC_POLL_S s (where inotify is not available)."""

    def __init__(self, path: str | Path, interval: float = PROC_POLL_S) -> None:
        self.path = str(path)
        self.interval = interval
        self._count = proc_readers(self.path)
        self._scanned = time.monotonic()

    def count(self) -> int:
        if time.monotonic() - self._scanned >= self.interval:
            self.confirm()
        return self._count

    def wait(self, timeout: float) -> None:
        time.sleep(max(0.0, min(timeout, self.interval - (time.monotonic() - self._scanned))))

    def confirm(self) -> int:
        self._count = proc_readers(self.path)
        self._scanned = time.monotonic()
        return self._count

    def close(self) -> None:
        pass


def watch_readers(device: str, system: str | None = None) -> Readers:
    """A reader count for the virtual camera ``device`` (e.g. /dev/video10), or CannotCount saying why not."""
    system = sys.platform if system is None else system
    if not system.startswith("linux"):
        shown = {"win32": "Windows", "darwin": "macOS"}.get(system, system)
        raise CannotCount(f"the virtual camera's viewers cannot be counted on {shown}")
    if not os.path.exists(device):
        raise CannotCount(f"the virtual camera {device} is not a device file whose viewers can be counted")
    if not os.path.isdir("/proc/self/fd"):
        raise CannotCount("the virtual camera's viewers cannot be counted without /proc")
    try:
        return InotifyReaders(device)
    except (OSError, AttributeError):  # no inotify (a libc without it, or no watches left): scan instead
        return ProcReaders(device)
