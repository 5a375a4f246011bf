"""A stand-in call app: another process that opens a file (the stand-in virtual camera device) and holds it
open until told to close it. There is no v4l2loopback device here; to the kernel's inotify and /proc, a
regular file opened by another process looks the same as a device node opened by a call app.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HOLDER = (
    "import sys\n"
    "f = open(sys.argv[1], 'rb')\n"  # a call app opens the camera to read it
    "print('open', flush=True)\n"
    "sys.stdin.readline()\n"  # ...and holds it until the call ends
    "f.close()\n"
)


class Viewer:
    """A process holding ``path`` open: ``Viewer(path)`` returns once it is open; ``close()`` ends it."""

    def __init__(self, path: Path) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.strip() == "open", f"the viewer did not open {path}"

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write("\n")
            self.process.stdin.flush()
            self.process.wait(10)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()

    def __enter__(self) -> Viewer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
