"""The program: open the source, build the filter, run the loop, close the sinks.

``main(argv) -> exit status``: 0 done, 1 a problem explained in one line on stderr, 2 bad flags, 130 interrupted
before anything could be saved. No traceback reaches the user (PRIVACY_FILTER_DEBUG=1 shows them).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from . import cli
from .controls import KEY_HELP, Controls
from .effects import load_background, make_effect
from .errors import SourceError, UserError
from .matte import MatteRefiner
from .overlay import draw_lines, lost_screen
from .pipeline import FrameProcessor, InstancePeople, PeopleFinder, SelfiePeople
from .progress import Progress
from .selection import UserSelector
from .sinks import (
    ImageFileSink,
    PreviewWindow,
    VideoFileSink,
    alpha_to_gray,
    check_output_path,
)
from .sources import IMAGE_EXTENSIONS, ImageSource, Source, conform, is_camera, open_source

PROGRAM = "privacy-filter"
CAMERA_LOST_AFTER_S = 0.5  # no new frame for this long: the camera is lost, say so on screen
CAMERA_GIVE_UP_AFTER_S = 10.0  # ...and for this long: stop with an error


class Interrupted(Exception):
    """SIGTERM (or SIGINT) arrived: finish the files cleanly and stop."""


def _raise_interrupted(signum: int, _frame: object) -> None:
    raise Interrupted(signal.Signals(signum).name)


def build_finder(args: argparse.Namespace) -> PeopleFinder:
    """The segmenter the flags ask for, wrapped to return people."""
    if args.backend == "mask-rcnn":
        from .mask_rcnn import MaskRCNNSegmenter

        segmenter = MaskRCNNSegmenter(Path(args.mask_rcnn), confidence=args.confidence)
        return InstancePeople(segmenter, threshold=args.threshold)
    from .selfie import SelfieSegmenter

    return SelfiePeople(SelfieSegmenter(model_selection=args.model_selection))


def build_effect(args: argparse.Namespace, name: str, kernel: int, background: np.ndarray | None):
    return make_effect(name, kernel=kernel, color=args.color, background=background)


@dataclass
class Outputs:
    """The file sinks the flags ask for, opened lazily on the first frame (its size is not known before)."""

    output: Path | None
    mask_output: Path | None
    video: bool
    fps: float
    sinks: dict[str, VideoFileSink | ImageFileSink] = field(default_factory=dict)

    def write(self, output: np.ndarray, alpha: np.ndarray | None) -> None:
        size = (output.shape[1], output.shape[0])
        if self.output is not None:
            self._sink("output", self.output, size, color=True).write(output)
        if self.mask_output is not None:
            gray = alpha_to_gray(alpha) if alpha is not None else np.zeros(output.shape[:2], np.uint8)
            self._sink("mask", self.mask_output, size, color=False).write(gray)

    def _sink(self, key: str, path: Path, size: tuple[int, int], color: bool) -> VideoFileSink | ImageFileSink:
        if key not in self.sinks:
            self.sinks[key] = VideoFileSink(path, self.fps, size, color) if self.video else ImageFileSink(path)
        return self.sinks[key]

    def close(self, publish: bool = True) -> int:
        """Close every sink; the number of frames in the filtered output."""
        frames = 0
        for key, sink in self.sinks.items():
            sink.close(publish)
            if key == "output":
                frames = sink.frames
        return frames


def check_outputs(args: argparse.Namespace) -> bool:
    """Validate --output/--mask-output before any work; True if they are videos (else images)."""
    video = not (not is_camera(args.input) and Path(args.input).suffix.lower() in IMAGE_EXTENSIONS)
    for flag, value in (("--output", args.output), ("--mask-output", args.mask_output)):
        if value:
            check_output_path(Path(value), args.overwrite, video=video, flag=flag)
    if args.output and args.mask_output and Path(args.output).resolve() == Path(args.mask_output).resolve():
        raise UserError("--output and --mask-output must be different files")
    return video


def run(args: argparse.Namespace) -> int:
    if args.download_mask_rcnn:
        from .download import download_mask_rcnn

        download_mask_rcnn(Path(args.mask_rcnn))
        print(f"Mask R-CNN model ready in {args.mask_rcnn}", file=sys.stderr)
        return 0
    video = check_outputs(args)
    background = load_background(args.background) if args.background else None
    display = not args.no_display
    if not display and not (args.output or args.mask_output) and is_camera(args.input):
        raise UserError("nothing to do: --no-display with a camera needs --output or --mask-output")
    finder = build_finder(args)
    controls = Controls(privacy=not args.no_privacy, effect=args.effect, kernel=args.kernel)
    processor = FrameProcessor(
        finder=finder,
        effect=build_effect(args, controls.effect, controls.kernel, background),
        selector=UserSelector(args.keep),
        refiner=MatteRefiner(),
        privacy=controls.privacy,
        want_alpha=bool(args.mask_output),
    )
    source = open_source(args.input, args.width).start()
    outputs = Outputs(
        Path(args.output) if args.output else None,
        Path(args.mask_output) if args.mask_output else None,
        video=video,
        fps=source.fps or 30.0,
    )
    window = PreviewWindow(controls.title(None)) if display else None
    if window is not None:
        print("Keys: " + ", ".join(f"{key} {what}" for key, what in KEY_HELP), file=sys.stderr)
    progress = Progress(source.frame_count) if (args.output or args.mask_output) and not source.live else None
    loop = Loop(args, source, processor, outputs, window, controls, background, progress)
    previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        loop.run()
    except (KeyboardInterrupt, Interrupted):
        frames = outputs.close(publish=True)
        if progress:
            progress.finish()
        if args.output:
            print(f"interrupted: {args.output} holds the {frames} frames done so far", file=sys.stderr)
        return 130 if frames == 0 else 0
    except BaseException:
        outputs.close(publish=False)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        source.stop()
        if window is not None:
            window.close()
    frames = outputs.close(publish=True)
    if progress:
        progress.finish()
    if args.output:
        print(f"wrote {frames} frames to {args.output}", file=sys.stderr)
    return 0


@dataclass
class Loop:
    """The per-frame loop: read, filter, write, show, react to keys."""

    args: argparse.Namespace
    source: Source
    processor: FrameProcessor
    outputs: Outputs
    window: PreviewWindow | None
    controls: Controls
    background: np.ndarray | None
    progress: Progress | None
    size: tuple[int, int] | None = None
    last_frame: np.ndarray | None = None
    fps: float = 0.0

    def run(self) -> None:
        last_time = time.perf_counter()
        pace = 1.0 / self.source.fps if (self.window and not self.source.live and self.source.fps) else 0.0
        while not self.controls.quit:
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
            self.last_frame = frame
            result = self.processor.process(frame)
            self.outputs.write(result.output, result.alpha)
            if self.progress:
                self.progress.update()
            now = time.perf_counter()
            self.fps = 0.9 * self.fps + 0.1 / max(now - last_time, 1e-6) if self.fps else 1 / max(now - last_time, 1e-6)
            last_time = now
            if self.window is not None:
                self._show(result.output, result.alpha)
                if pace:
                    self._wait_keys(max(1, int((pace - (time.perf_counter() - now)) * 1000)))
                else:
                    self._wait_keys(1)

    def _no_frame(self) -> bool:
        """No new frame: True if the loop should end."""
        source = self.source
        if source.finished:
            if isinstance(source, ImageSource) and self.window is not None and self.last_frame is not None:
                return self._keep_showing_image()
            if self.window is not None and self.args.loop and not source.live:
                self.source = open_source(self.args.input, self.args.width).start()
                self.processor.refiner.reset()
                return False
            return True
        if source.live:
            silent = time.monotonic() - source.last_frame_time
            if silent > CAMERA_GIVE_UP_AFTER_S:
                raise SourceError(f"{source.name} stopped delivering frames for {silent:.0f} s; giving up")
            if silent > CAMERA_LOST_AFTER_S and self.window is not None and self.size is not None:
                self.window.show(lost_screen(self.size, f"{source.name} lost - retrying..."))
                self._wait_keys(30)
        elif self.window is not None:
            self._wait_keys(1)
        return False

    def _keep_showing_image(self) -> bool:
        """An image input in the window: keep filtering it (keys still change the result) until quit."""
        while not self.controls.quit:
            result = self.processor.process(self.last_frame)
            self._show(result.output, result.alpha)
            self._wait_keys(30)
        return True

    def _show(self, output: np.ndarray, alpha: np.ndarray | None) -> None:
        assert self.window is not None
        picture = output
        if self.controls.show_matte and alpha is not None:
            picture = cv2.cvtColor(alpha_to_gray(alpha), cv2.COLOR_GRAY2BGR)
        lines = []
        if self.controls.show_fps:
            stages = " ".join(f"{k} {v:.1f}" for k, v in self.processor.stage_ms.items())
            lines += [f"{self.fps:.1f} FPS", f"ms: {stages}"]
        if self.controls.show_help:
            lines += [f"{key}: {what}" for key, what in KEY_HELP]
        if lines:
            picture = draw_lines(picture, lines)
        if self.controls.snapshot:
            self.controls.snapshot = False
            self._snapshot(picture)
        self.window.show(picture)
        self.window.set_title(self.controls.title(self.fps))

    def _snapshot(self, picture: np.ndarray) -> None:
        name = time.strftime("privacy-filter-%Y%m%d-%H%M%S.png")
        if cv2.imwrite(name, picture):
            print(f"saved {name}", file=sys.stderr)

    def _wait_keys(self, wait_ms: int) -> None:
        assert self.window is not None
        key = self.window.key(wait_ms)
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


def main(argv: Sequence[str] | None = None) -> int:
    args = cli.parse_args(argv)  # exits 2 on bad flags, as argparse does
    logging.basicConfig(level=logging.ERROR, format=f"{PROGRAM}: %(message)s")
    _quiet_opencv()
    debug = bool(os.environ.get("PRIVACY_FILTER_DEBUG"))
    try:
        return run(args)
    except UserError as exc:
        print(f"{PROGRAM}: error: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Interrupted):
        print(f"{PROGRAM}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            raise
        message = str(exc).strip().splitlines()
        print(f"{PROGRAM}: unexpected error: {type(exc).__name__}: {message[-1] if message else ''} "
              f"(set PRIVACY_FILTER_DEBUG=1 for details)", file=sys.stderr)
        return 1


def _quiet_opencv() -> None:
    """OpenCV's own warnings (e.g. 'can't open camera by index') would add lines to our one-line errors."""
    with contextlib.suppress(AttributeError):
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)

