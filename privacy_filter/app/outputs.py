"""One job's outputs: the video or image files (opened on the first frame) and the virtual camera."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError, one_line
from ..io.avfile import DEFAULT_QUALITY, AVVideoSink, FileClock
from ..io.sinks import ImageFileSink, alpha_to_gray
from ..io.virtualcam import VirtualCamera
from .cli import PROGRAM
from .signals import signals_deferred


@dataclass
class Outputs:
    """Where one job's filtered frames go: files (opened lazily on the first frame, whose size is not known
    before) and the virtual camera (opened on the first frame too, at that frame's size and the source's rate)."""

    output: Path | None
    mask_output: Path | None
    video: bool
    fps: float
    virtual_cam: bool = False
    virtual_cam_device: str | None = None
    models: str = ""  # the model line (``describe_models``), said when the virtual camera opens headless
    overwrite: bool = False
    clock: FileClock | None = None  # a video file input's frame times and sound (PyAV), for the video files
    quality: int = DEFAULT_QUALITY
    sinks: dict[str, AVVideoSink | ImageFileSink] = field(default_factory=dict)
    camera: VirtualCamera | None = None
    published: dict[str, Path] = field(default_factory=dict)  # "output"/"mask" -> where close() put it

    def write(self, output: np.ndarray, alpha: np.ndarray | None) -> None:
        """Files: output HxWx3 uint8 BGR; alpha HxW float32 [0,1] (None: nobody kept, the matte is black).

        A frame goes to both files or to neither: a stop signal landing between the two writes waits for the
        second (else the matte video would end one frame short of the output)."""
        size = (output.shape[1], output.shape[0])
        gray: np.ndarray | None = None
        if self.mask_output is not None:
            gray = alpha_to_gray(alpha) if alpha is not None else np.zeros(output.shape[:2], np.uint8)
        if self.video and not self.sinks:
            self._note_odd_size(size)
        with signals_deferred():
            if self.output is not None:
                self._sink("output", self.output, size, color=True).write(output)
            if self.mask_output is not None:
                assert gray is not None  # made above whenever there is a mask output
                self._sink("mask", self.mask_output, size, color=False).write(gray)

    def _note_odd_size(self, size: tuple[int, int]) -> None:
        """Video files are 4:2:0 (what every player takes: H.264, VP9, Motion JPEG), which needs even sizes: an
        odd width or height loses its last column or row. Said in one line rather than in silence."""
        width, height = size
        if not (width % 2 or height % 2):
            return
        names = " and ".join(one_line(str(path)) for path in (self.output, self.mask_output) if path is not None)
        print(f"{PROGRAM}: note: {names}: the {width}x{height} frames are written as "
              f"{width - width % 2}x{height - height % 2} (video files need even sizes)", file=sys.stderr)

    def frames(self, key: str) -> int:
        """Frames written to the "output" or "mask" file so far."""
        sink = self.sinks.get(key)
        return sink.frames if sink is not None else 0

    def stream(self, output: np.ndarray) -> None:
        """The virtual camera (if asked for): output HxWx3 uint8 BGR, what the call sees."""
        if not self.virtual_cam:
            return
        if self.camera is None:
            size = (output.shape[1], output.shape[0])
            self.camera = VirtualCamera(size, self.fps, self.virtual_cam_device)
            print(f"virtual camera: {self.camera.device}, {size[0]}x{size[1]} at {self.fps:g} FPS "
                  "(pick it in the call app)", file=sys.stderr)
            if self.models:
                print(f"Model: {self.models}", file=sys.stderr)
        self.camera.write(output)

    @property
    def streamed(self) -> int:
        return self.camera.frames if self.camera is not None else 0

    def _sink(self, key: str, path: Path, size: tuple[int, int], color: bool) -> AVVideoSink | ImageFileSink:
        if key not in self.sinks:
            self.sinks[key] = (
                AVVideoSink(path, self.fps, size, color, clock=self.clock, quality=self.quality,
                            overwrite=self.overwrite)
                if self.video else ImageFileSink(path, overwrite=self.overwrite)
            )
        return self.sinks[key]

    def close(self, publish: bool = True, complete: bool = False, partial: bool = False) -> int:
        """Close every sink and the virtual camera; the number of frames in the filtered output file.

        complete: the input was read to its end (a video file then gets all of its sound). partial: the result
        is not the whole input (interrupted, or the input ended early): the videos go under their partial
        names (``files.partial_name``), never over the user's files. The files are published both or
        neither: if one cannot be finished (a full disk), the others are thrown away too, so that a re-run
        is not refused for a matte without its picture. Where each went: ``published``."""
        try:
            if not publish:
                for sink in self.sinks.values():
                    sink.discard()
            ready = self._finish_all(complete) if publish else []
        finally:
            if self.camera is not None:
                self.camera.close()
        error: UserError | None = None
        for key in ready:
            try:  # every file is put in place even if one cannot be (the message says where it is)
                self.published[key] = self.sinks[key].publish(partial)
            except UserError as exc:
                error = error or exc
        if error is not None:
            raise error
        return self.frames("output")

    def _finish_all(self, complete: bool) -> list[str]:
        """Finish every sink's temporary file; the keys of those that hold something. If one fails, all are
        thrown away and its error raised."""
        ready, error = [], None
        for key, sink in self.sinks.items():
            try:
                done = sink.finish(complete) if isinstance(sink, AVVideoSink) else sink.finish()
            except UserError as exc:
                error = error or exc
                continue
            if done:
                ready.append(key)
        if error is not None:
            for sink in self.sinks.values():
                sink.discard()
            raise error
        return ready
