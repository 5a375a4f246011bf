"""One job: open the source, run the per-frame loop (read, filter, write, stream, show, react to keys), close
the outputs; the window and the filter are shared by the jobs of one run (``session.Session``).

Frames: ``frame: HxWx3 uint8 BGR`` from the source; the filter's ``output`` (same) and ``alpha`` (HxW float32
in [0,1], or None) to the files, the virtual camera and the window.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..concurrent.overlap import overlap
from ..errors import SourceError, one_line
from ..imagefiles import write_image
from ..io.capture import conform
from ..io.progress import Progress
from ..io.sinks import PreviewWindow, alpha_to_gray
from ..io.sources import ImageSource, Source, open_source
from ..io.watchers import CannotCount, watch_readers
from ..pipeline import FrameProcessor
from .build import build_effect, describe_models
from .cli import PROGRAM
from .controls import KEY_HELP, Controls, apply_clicks
from .jobs import Job
from .ondemand import (
    OPENED,
    PAUSED_INTERVAL_S,
    PAUSED_LINES,
    RELEASED,
    STARTING_LINES,
    UNAVAILABLE_LINES,
    Change,
    OnDemand,
    paused_screen,
)
from .outputs import Outputs
from .overlay import draw_lines, lost_screen, mark_kept
from .session import Session, holding, interrupted_message, snapshot_path, wants_on_demand
from .signals import Interrupted, JobInterrupted, no_interrupts

CAMERA_LOST_AFTER_S = 0.5  # no new frame for this long: the camera is lost, say so on screen
CAMERA_GIVE_UP_AFTER_S = 10.0  # ...and for this long: stop with an error
STILL_INTERVAL_S = 1 / 30  # a paused video or a still image is re-filtered (and streamed) at this rate
FPS_WINDOW_S = 0.5  # the rate shown (title, f overlay) is averaged over about this long
# A file, pipe or stream that gives no next frame for this long (a pipe whose writer hangs) ends the run with
# an error, keeping what was done: the same time the first frame is given (capture.OPEN_TIMEOUT_S).
STALL_TIMEOUT_S = 10.0

def run_job(session: Session, job: Job) -> int:
    """Filter one input into its outputs; the number of frames written. Raises JobInterrupted on Ctrl-C,
    SIGTERM or SIGHUP (see ``main``) once the files so far are safely closed.

    A video file's result that is not the whole input (interrupted, quit with q, the input truncated or
    stalled) goes under its partial name (``files.partial_name``), never under the user's name: that name
    only ever holds a complete result, and an existing file there stays as it was. A camera has no end to
    reach: what it recorded is the result."""
    args = session.args
    source = open_source(job.input, args.width).start()
    try:  # segmentation on a worker thread, overlapped with compositing (Mask R-CNN in real time: asynchronous)
        source = overlap(source, session.processor, realtime=session.display or bool(args.virtual_cam),
                         idle=lambda: session.controls.paused)
    except BaseException:
        source.stop()
        raise
    outputs = Outputs(
        job.output, job.mask_output, video=job.video, fps=source.fps or 30.0,
        virtual_cam=args.virtual_cam, virtual_cam_device=args.virtual_cam_device,
        overwrite=args.overwrite or job.redo,
        models="" if session.display else describe_models(session.processor.finder),
        clock=getattr(source, "clock", None), quality=args.quality,
    )
    progress = Progress(source.frame_count) if (job.output or job.mask_output) and not source.live else None
    unfinished = not source.live  # a file's result is partial unless the loop reads it to its end
    loop: Loop | None = None
    try:
        window = session.ensure_window()
        loop = Loop(args, source, session.processor, outputs, window, session.controls, session.background,
                    progress, input_spec=job.input, snapshot_dir=session.snapshot_dir,
                    demand=wants_on_demand(args, job, source))
        loop.run()
    except (KeyboardInterrupt, Interrupted) as stop:
        with no_interrupts():
            (loop.source if loop else source).stop()
            outputs.close(publish=True, partial=unfinished)
            # After SIGHUP the terminal may be gone (writing to it fails): the files are saved all the same.
            with contextlib.suppress(OSError):
                if progress:
                    progress.finish()
                saved = interrupted_message(job, outputs)
                if saved:
                    print(saved, file=sys.stderr)
        delivered = max(outputs.frames("output"), outputs.frames("mask"), outputs.streamed)
        raise JobInterrupted(delivered, getattr(stop, "signum", signal.SIGINT)) from None
    except SourceError as exc:
        # The input died mid-way (camera gone, file truncated or stalled): what was filtered so far is good, keep it.
        with no_interrupts():
            (loop.source if loop else source).stop()
            outputs.close(publish=True, partial=unfinished)
        saved = holding(job, outputs, "before")
        if saved:
            raise SourceError(f"{exc}; {saved}") from None
        raise
    except BaseException:
        with no_interrupts():
            (loop.source if loop else source).stop()
            outputs.close(publish=False)
        raise
    finally:
        session.processor.close()  # end the segmentation worker (after a model run in progress)
        if loop is not None and loop.on_demand is not None:
            loop.on_demand.close()
    quit_early = session.controls.quit
    with no_interrupts():
        loop.source.stop()
        # Read to its end (not quit with q half-way): the file gets all of the input's sound.
        frames = outputs.close(publish=True, complete=not quit_early, partial=unfinished and quit_early)
        if progress:
            progress.finish()
    if quit_early and unfinished and outputs.published:
        print(f"stopped: {holding(job, outputs, 'so far')}", file=sys.stderr)
    elif job.output and "output" in outputs.published:
        print(f"wrote {frames} frame{'' if frames == 1 else 's'} to {one_line(str(job.output))}", file=sys.stderr)
    return frames


@dataclass
class Loop:
    """The per-frame loop: read, filter, write, stream, show, react to keys."""

    args: argparse.Namespace
    source: Source
    processor: FrameProcessor
    outputs: Outputs
    window: PreviewWindow | None
    controls: Controls
    background: np.ndarray | None
    progress: Progress | None
    input_spec: str = ""
    snapshot_dir: Path = Path(".")
    size: tuple[int, int] | None = None
    last_frame: np.ndarray | None = None
    still: bool = False  # an image input: keep filtering it (keys still change the result) until quit
    fps: float = 0.0
    _interval: float = 0.0  # moving average of the time between frames going out (s)
    _last_time: float = 0.0
    lost: bool = False  # the live source has been silent for CAMERA_LOST_AFTER_S
    demand: bool = False  # on demand wanted: watch the virtual camera's viewers once it is open
    on_demand: OnDemand | None = None
    next_paused: float = 0.0  # when the paused picture goes out again (camera off)
    paused_lines: tuple[str, ...] = PAUSED_LINES  # what it says

    def run(self) -> None:
        self._last_time = time.perf_counter()
        # A file shown in the window or streamed as a camera plays at its own rate, not as fast as we can.
        realtime = self.window is not None or self.outputs.virtual_cam
        pace = 1.0 / self.source.fps if (realtime and not self.source.live and self.source.fps) else 0.0
        while not self.controls.quit:
            if self.on_demand is not None and self._camera_off():
                continue
            if (self.still or self.controls.paused) and self.last_frame is not None:
                self._replay()
                continue
            frame = self.source.read(timeout=0.25)
            if frame is None:
                if self._no_frame():
                    return
                continue
            frame = conform(frame, self.size)
            if frame is None:
                continue  # not a picture at all: skip it, the next one will do
            if self.size is None:
                self.size = (frame.shape[1], frame.shape[0])
            if self.lost:
                self.lost = False
                print(f"{self.source.name} is back", file=sys.stderr)
            self.last_frame = frame
            start = time.perf_counter()
            result = self.processor.process(frame)
            self.outputs.write(result.output, result.alpha)
            self.outputs.stream(result.output)
            if self.demand and self.outputs.camera is not None:
                self._watch_viewers(self.outputs.camera.device)
            if self.progress:
                self.progress.update()
            self._tick()
            if self.window is not None:
                self._show(result.output, result.alpha)
            self._wait(pace, start)

    def _watch_viewers(self, device: str) -> None:
        """Start counting the virtual camera's viewers (once, when it has opened); where they cannot be
        counted, say so once and keep the camera on, as with --always-on."""
        self.demand = False
        try:
            self.on_demand = OnDemand(watch_readers(device))
        except CannotCount as exc:
            print(f"{exc}: the camera stays on while the program runs", file=sys.stderr)

    def _camera_off(self) -> bool:
        """On demand: release or reopen the camera as the viewers come and go. True while it is off (this
        turn fed the virtual camera the paused picture and waited), False when frames should be read."""
        assert self.on_demand is not None
        change = self.on_demand.step()
        if change is Change.RELEASE:
            print(RELEASED, file=sys.stderr)
            # The reader's thread releases the device (its light goes off); the model workers end.
            self.source.stop()
            self.processor.close()
            self.lost, self.next_paused = False, 0.0
        elif change is Change.RESUME:
            self._resume()
        if self.on_demand.camera_on:
            return False
        if not self.on_demand.retrying:  # the call that waited for the camera left: back to the usual note
            self.paused_lines = PAUSED_LINES
        now = time.monotonic()
        if now >= self.next_paused:
            assert self.size is not None  # the camera was released after frames went out at this size
            picture = paused_screen(self.size, self.paused_lines)
            self.outputs.stream(picture)
            if self.window is not None:
                self.window.show(picture)
            self.next_paused = now + PAUSED_INTERVAL_S
        if self.window is not None:
            self._wait_keys(100)  # the window's keys work while the camera is off
        else:
            self.on_demand.wait(self.next_paused - now)
        return True

    def _resume(self) -> None:
        """A call watches: reopen the camera. If it will not open (another app has it, it was unplugged), the
        call keeps getting a notice and the camera is tried again every RETRY_S s, said once, not each time."""
        assert self.on_demand is not None
        retry = self.on_demand.retrying
        if not retry:
            print(OPENED, file=sys.stderr)
        try:
            self._reopen()
        except SourceError as exc:
            if not retry:
                print(f"{one_line(str(exc))}; the call sees a notice, trying again while it watches", file=sys.stderr)
            self.on_demand.retry_later()
            self.paused_lines, self.next_paused = UNAVAILABLE_LINES, 0.0
            return
        if retry:
            print(f"{self.source.name} opened", file=sys.stderr)
        self.on_demand.retry_at = None
        self.paused_lines = PAUSED_LINES

    def _reopen(self) -> None:
        """A call watches again: the camera opens and frames go out through the filter. Until the first one,
        the call sees "starting"; the filter starts afresh (the person may have moved since), so the first
        frames are filtered from scratch or hidden whole (fail closed), never raw."""
        assert self.size is not None
        starting = paused_screen(self.size, STARTING_LINES)
        self.outputs.stream(starting)
        if self.window is not None:
            self.window.show(starting)
        self.processor.refiner.reset()
        self.processor.selector.reset()
        self.source = overlap(open_source(self.input_spec, self.args.width).start(), self.processor,
                              realtime=True, idle=lambda: self.controls.paused)

    def _replay(self) -> None:
        """Paused, or a still image: filter the same frame again (keys still change the result) and keep the
        virtual camera fed. Nothing goes to the files: they hold each input frame once."""
        assert self.last_frame is not None
        start = time.perf_counter()
        result = self.processor.process(self.last_frame)
        self.outputs.stream(result.output)
        self._tick()  # the rate shown is the replay's (about 1 / STILL_INTERVAL_S), not one frame's time
        if self.window is not None:
            self._show(result.output, result.alpha)
        self._wait(STILL_INTERVAL_S, start)

    def _tick(self) -> None:
        """A frame went out: update ``fps``, from a moving average of the time between frames (an average of
        1/dt would be biased) over about FPS_WINDOW_S, whatever the rate (a fixed weight per frame would take
        seconds to follow a slow rate)."""
        now = time.perf_counter()
        elapsed = now - self._last_time
        weight = min(1.0, elapsed / FPS_WINDOW_S)
        self._interval = (1 - weight) * self._interval + weight * elapsed if self._interval else elapsed
        self.fps = 1.0 / max(self._interval, 1e-6)
        self._last_time = now

    def _wait(self, interval: float, start: float) -> None:
        """Until ``interval`` s after ``start``, reading keys meanwhile if there is a window."""
        remaining = interval - (time.perf_counter() - start)
        if self.window is not None:
            self._wait_keys(max(1, int(remaining * 1000)))
        elif remaining > 0:
            time.sleep(remaining)

    def _no_frame(self) -> bool:
        """No new frame: True if the loop should end."""
        source = self.source
        realtime = self.window is not None or self.outputs.virtual_cam
        if source.finished and getattr(source, "ended_early", False):
            assert not isinstance(source, ImageSource)  # only a file reader ends early (or a Lookahead over one)
            raise SourceError(f"{source.name} {source.shortfall}: the file is truncated or corrupt")
        if not source.live and float(getattr(source, "stalled_s", 0.0)) > STALL_TIMEOUT_S:
            raise SourceError(f"{source.name} gave no new frame for {STALL_TIMEOUT_S:.0f} s "
                              "(a pipe or stream that stalled?)")
        if source.finished:
            if isinstance(source, ImageSource) and realtime and self.last_frame is not None:
                self.still = True
                self._interval, self._last_time = 0.0, time.perf_counter()  # the rate is now the replays'
                return False
            if realtime and self.args.loop and not source.live:
                source.stop()
                self.source = overlap(open_source(self.input_spec, self.args.width).start(), self.processor,
                                      realtime=True, replay=True, idle=lambda: self.controls.paused)
                # The clip starts over: forget the matte history and the tracked user, as after a cut.
                self.processor.refiner.reset()
                self.processor.selector.reset()
                return False
            return True
        if source.live:
            silent = time.monotonic() - source.last_frame_time
            if silent > CAMERA_GIVE_UP_AFTER_S:
                raise SourceError(f"{source.name} stopped delivering frames for {silent:.0f} s; giving up")
            if silent > CAMERA_LOST_AFTER_S and not self.lost:
                self.lost = True
                print(f"{source.name} lost - retrying for up to {CAMERA_GIVE_UP_AFTER_S:.0f} s", file=sys.stderr)
            if silent > CAMERA_LOST_AFTER_S and self.size is not None:
                lost = lost_screen(self.size, f"{source.name} lost - retrying...")
                self.outputs.stream(lost)  # the call sees the notice, never a frozen picture of the room
                if self.window is not None:
                    self.window.show(lost)
                    self._wait_keys(30)
        elif self.window is not None:
            self._wait_keys(1)
        return False

    def _show(self, output: np.ndarray, alpha: np.ndarray | None) -> None:
        assert self.window is not None
        picture = output
        if self.controls.show_matte and alpha is not None:
            picture = cv2.cvtColor(alpha_to_gray(alpha), cv2.COLOR_GRAY2BGR)
        if self.controls.snapshot:
            self.controls.snapshot = False
            self._snapshot(picture)  # the picture itself, without the text drawn over it
        lines = []
        if self.controls.show_fps:
            ms = self.processor.stage_ms
            period = ms.get("mask_period", float("nan"))  # Mask R-CNN on its worker: masks come slower
            lines.append(f"{self.fps:.1f} FPS" + (f", masks {1000 / period:.2f}/s" if period > 0 else ""))
            lines.append(describe_models(self.processor.finder))
            stages = [f"{k} {v:.1f}" for k, v in ms.items()]
            lines += ["ms: " + " ".join(stages[i : i + 4]) for i in range(0, len(stages), 4)]  # fit a 600 px frame
            picture = mark_kept(picture, self.processor.selector)  # who is kept: green boxes on their faces
        if self.controls.show_help:
            lines += [f"{key}: {what}" for key, what in KEY_HELP]
        if self.controls.paused:
            lines.append("paused (space to resume)")
        if lines:
            picture = draw_lines(picture, lines)
        self.window.show(picture)
        self.window.set_title(self.controls.title(self.fps))

    def _snapshot(self, picture: np.ndarray) -> None:
        path = snapshot_path(self.snapshot_dir)
        try:
            saved = write_image(path, picture)  # cv2.imwrite crashes on a folder name that is not UTF-8
        except cv2.error:
            saved = False
        if saved:
            print(f"snapshot saved: {path.resolve()}", file=sys.stderr)
        else:
            print(f"{PROGRAM}: could not save a snapshot to {path}", file=sys.stderr)

    def _wait_keys(self, wait_ms: int) -> None:
        assert self.window is not None
        key = self.window.key(wait_ms)
        apply_clicks(self.window, self.processor.selector)  # a click toggles a person sharp/hidden
        if self.window.closed:
            self.controls.quit = True
            return
        if key < 0:
            return
        before = (self.controls.effect, self.controls.kernel)
        if self.controls.handle_key(key) and (self.controls.effect, self.controls.kernel) != before:
            self.processor.effect = build_effect(
                self.args, self.controls.effect, self.controls.kernel, self.background
            )
        self.processor.privacy = self.controls.privacy
        if self.controls.repick:
            self.controls.repick = False
            self.processor.selector.repick()


