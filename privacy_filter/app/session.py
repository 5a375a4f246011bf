"""What the jobs of one run share (``Session``: the flags, the filter, the keys' state, the window), where
snapshots go, and what a job says about its files and its camera (``holding``, ``interrupted_message``,
``wants_on_demand``). The per-frame loop that uses them is ``loop``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError, one_line
from ..io.sinks import PreviewWindow
from ..io.sources import Source
from ..pipeline import FrameProcessor
from .build import describe_models
from .controls import KEY_HELP, Controls
from .jobs import Job
from .outputs import Outputs


def check_snapshot_dir(value: str) -> Path:
    folder = Path(value)
    if not folder.is_dir():
        raise UserError(f"--snapshot-dir {value} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"--snapshot-dir {value} is not writable")
    return folder


def snapshot_path(folder: Path, now: float | None = None) -> Path:
    """A new file name for a snapshot: privacy-filter-YYYYmmdd-HHMMSS-mmm.png, never an existing file."""
    now = time.time() if now is None else now
    stem = time.strftime("privacy-filter-%Y%m%d-%H%M%S", time.localtime(now)) + f"-{int(now * 1000) % 1000:03d}"
    path = folder / f"{stem}.png"
    number = 1
    while path.exists():
        path = folder / f"{stem}-{number}.png"
        number += 1
    return path



@dataclass
class Session:
    """What the jobs of one run share: the flags, the filter, the keys' state and the window."""

    args: argparse.Namespace
    processor: FrameProcessor
    controls: Controls
    background: np.ndarray | None
    snapshot_dir: Path
    display: bool
    window: PreviewWindow | None = None

    def ensure_window(self) -> PreviewWindow | None:
        """The preview window, opened the first time a source is ready (so a bad input never flashes one)."""
        if self.display and self.window is None:
            self.window = PreviewWindow(self.controls.title(None))
            print(f"Model: {describe_models(self.processor.finder)}", file=sys.stderr)
            print("Keys: " + ", ".join(f"{key} {what}" for key, what in KEY_HELP), file=sys.stderr)
        return self.window

    def close(self) -> None:
        if self.window is not None:
            self.window.close()
            self.window = None


def wants_on_demand(args: argparse.Namespace, job: Job, source: Source) -> bool:
    """Whether the camera should be on only while a call watches (see ``ondemand``): a live camera streamed
    to the virtual camera, unless --always-on, or files record it (a recording must not have holes)."""
    if not args.virtual_cam or args.always_on or not source.live:
        return False
    if job.output or job.mask_output:
        print("--output records the whole time: the camera stays on while the program runs", file=sys.stderr)
        return False
    return True


def interrupted_message(job: Job, outputs: Outputs) -> str | None:
    """What an interrupted job saved, in one line (None if it had no files to write)."""
    if not (job.output or job.mask_output):
        return None
    saved = holding(job, outputs, "so far")
    return f"interrupted: {saved}" if saved else "interrupted before any frame was filtered: nothing was saved"


def holding(job: Job, outputs: Outputs, when: str) -> str | None:
    """Where the job's files went and how many frames they hold, in words (None if none was saved):
    "a.partial.mp4 holds the 285 frames done so far; a.mp4 is left as it was"."""
    saved = [(key, path, outputs.frames(key)) for key, path in outputs.published.items()]
    if not saved:
        return None
    counts = {count for _, _, count in saved}
    if len(counts) > 1:  # cannot happen since a frame goes to both or neither; said plainly if it ever does
        text = " and ".join(f"{one_line(str(path))} holds {count} frame{'' if count == 1 else 's'}"
                            for _, path, count in saved)
    else:
        (count,) = counts
        names = " and ".join(one_line(str(path)) for _, path, _ in saved)
        verb = "holds" if len(saved) == 1 else "hold"
        text = f"{names} {verb} the {count} frame{'' if count == 1 else 's'} done {when}"
    targets = {"output": job.output, "mask": job.mask_output}
    for key, path, _ in saved:
        target = targets[key]
        if target is not None and path != target:
            shown = one_line(str(target))
            text += (f"; {shown} is left as it was" if target.exists() or target.is_symlink()
                     else f"; {shown} is written only by a run that reaches the end")
    return text
