"""The program: open the source, build the filter, run the loop, close the sinks.

``main(argv) -> exit status``: 0 done, 1 a problem explained in one line on stderr, 2 bad flags, 128 + the
signal's number when interrupted (130 SIGINT, 143 SIGTERM, 129 SIGHUP), as shells report it. No traceback
reaches the user (PRIVACY_FILTER_DEBUG=1 shows them).

One input (a camera, a video, an image) is one *job*; a folder or glob of inputs is a batch of jobs sharing
one filter (and one window). Ctrl-C (SIGINT), SIGTERM or SIGHUP (the terminal closed, SSH dropped) finishes
the current file cleanly: a playable file with the frames done so far (and the matte file with as many), under
the partial name ``STEM.partial.EXT`` for a video file's result (the user's name holds only complete results).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2

from ..errors import SourceError, UserError, one_line
from ..io.cameras import list_cameras
from ..io.sinks import check_display
from ..io.sources import is_camera
from ..io.virtualcam import import_pyvirtualcam
from ..render.effects import load_background
from ..segment.download import download_mask_rcnn
from . import cli
from .build import available_effects, build_processor
from .cli import PROGRAM
from .controls import Controls
from .jobs import Job, plan_jobs
from .loop import run_job
from .session import Session, check_snapshot_dir
from .signals import Interrupted, JobInterrupted, exit_status, stop_signals_handled


def run(args: argparse.Namespace) -> int:
    if args.list_cameras:
        return print_cameras()
    if args.download_mask_rcnn:
        download_mask_rcnn(Path(args.mask_rcnn))
        print(f"Mask R-CNN model ready in {args.mask_rcnn}", file=sys.stderr)
        return 0
    jobs, batch = plan_jobs(args)
    if not jobs:  # --skip-existing: every output is there already
        print("nothing to do: every output exists already (--skip-existing)", file=sys.stderr)
        return 0
    if args.virtual_cam:
        import_pyvirtualcam()  # not installed: say how to install it before any work
    note_no_privacy(args, jobs)
    background = load_background(args.background) if args.background else None
    display = not args.no_display
    if not display and not (args.output or args.mask_output or args.virtual_cam):
        what = "a camera" if is_camera(args.input) else "a file"
        raise UserError(f"nothing to do: --no-display with {what} needs --output, --mask-output or --virtual-cam")
    snapshot_dir = check_snapshot_dir(args.snapshot_dir) if display else Path(args.snapshot_dir)
    if display:
        check_display()
    controls = Controls(
        privacy=not args.no_privacy, effect=args.effect, kernel=args.kernel, effects=available_effects(background)
    )
    processor = build_processor(args, controls, background)
    session = Session(args, processor, controls, background, snapshot_dir, display)
    try:
        if not batch:
            run_job(session, jobs[0])
            return 0
        return run_batch(session, jobs)
    except JobInterrupted as stop:
        return exit_status(stop)
    finally:
        session.close()


def print_cameras() -> int:
    """--list-cameras: one line per camera (on stdout, for scripts); none: one line on stderr, exit 1."""
    cameras = list_cameras()
    if not cameras:
        raise UserError("no camera found (none is plugged in, or your user may not open /dev/video*: group video)")
    for camera in cameras:
        print(camera.line())
    return 0


def note_no_privacy(args: argparse.Namespace, jobs: list[Job]) -> None:
    """--no-privacy with something going out (a file, the virtual camera): one note line, since what goes out
    shows the room and everyone in it (in the window, p turns privacy on)."""
    if not args.no_privacy:
        return
    going = [one_line(str(job.output)) for job in jobs if job.output is not None][:3]
    if args.virtual_cam:
        going.append("the virtual camera")
    if not going:
        return
    until = "until you press p" if not args.no_display else "for the whole run"
    print(f"{PROGRAM}: note: --no-privacy: {' and '.join(going)} will show the room and everyone in it, "
          f"unfiltered, {until}", file=sys.stderr)


def run_batch(session: Session, jobs: list[Job]) -> int:
    """Each file in turn; one that cannot be read is reported and skipped. 1 if any failed.

    Interrupted (Ctrl-C, SIGTERM, SIGHUP) with files still to do: the current file is finished as for one
    input, the files never started are named, and the exit status is 128 + the signal's number."""
    failed = 0
    for number, job in enumerate(jobs, 1):
        started = False
        try:
            targets = ", ".join(str(path) for path in (job.output, job.mask_output) if path is not None)
            print(f"[{number}/{len(jobs)}] {one_line(f'{job.input} -> {targets}')}", file=sys.stderr)
            session.processor.refiner.reset()
            session.processor.selector.reset()
            started = True
            run_job(session, job)
        except SourceError as exc:
            print(f"{PROGRAM}: error: {one_line(str(exc))}", file=sys.stderr)
            failed += 1
        except (JobInterrupted, KeyboardInterrupt, Interrupted) as stop:
            skipped = jobs[number:] if started else jobs[number - 1:]
            if not skipped:
                raise
            names = ", ".join(one_line(skip.input) for skip in skipped)
            print(f"{PROGRAM}: interrupted at file {number} of {len(jobs)}; not filtered: {names}", file=sys.stderr)
            return exit_status(stop)
        if session.controls.quit:
            print(f"stopped after {number} of {len(jobs)} files", file=sys.stderr)
            break
    if failed:
        print(f"{PROGRAM}: error: {failed} of {len(jobs)} files could not be filtered", file=sys.stderr)
        return 1
    return 0



def main(argv: Sequence[str] | None = None) -> int:
    """The program; its exit status. SIGINT (Ctrl-C), SIGTERM and SIGHUP stop it cleanly from here on (the
    handlers are restored on return)."""
    try:
        with stop_signals_handled():
            return _main(argv)
    except (KeyboardInterrupt, Interrupted) as stop:  # landed outside _main's own handling (while it returned)
        print(f"{PROGRAM}: interrupted", file=sys.stderr)
        return exit_status(stop)


def _main(argv: Sequence[str] | None) -> int:
    args = cli.parse_args(argv)  # exits 2 on bad flags, as argparse does
    logging.basicConfig(level=logging.ERROR, format=f"{PROGRAM}: %(message)s")
    _quiet_opencv()
    debug = bool(os.environ.get("PRIVACY_FILTER_DEBUG"))
    try:
        return run(args)
    except UserError as exc:
        print(f"{PROGRAM}: error: {one_line(str(exc))}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Interrupted) as stop:
        print(f"{PROGRAM}: interrupted", file=sys.stderr)
        return exit_status(stop)
    except Exception as exc:
        if debug:
            raise
        message = str(exc).strip().splitlines()
        print(f"{PROGRAM}: unexpected error: {type(exc).__name__}: {one_line(message[-1]) if message else ''} "
              f"(set PRIVACY_FILTER_DEBUG=1 for details)", file=sys.stderr)
        return 1


def _quiet_opencv() -> None:
    """OpenCV's own warnings (e.g. 'can't open camera by index') would add lines to our one-line errors."""
    with contextlib.suppress(AttributeError):
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
