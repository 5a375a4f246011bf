"""Video files in and out through PyAV (FFmpeg in-process): timestamps kept, H.264 out, the sound carried over.

source -> ... -> sink, for files:
``open_video_file(path, width)``  a ``CaptureReader`` (the same threaded reader as the camera) over ``AVCapture``;
    every frame's time is kept in ``reader.clock`` (a ``FileClock``), in order.
``AVVideoSink(path, fps, size, color, clock, quality)``  write(frame) / finish(complete), publish(partial): H.264 (VP9
    in .webm) yuv420p, each frame at its input time (a variable frame rate stays variable), the input's audio
    copied when the container takes it, else re-encoded (AAC; Opus in .webm), interleaved as frames are written
    so that a file closed early (Ctrl-C) holds the sound up to its last frame. The matte (color=False) is
    grey: luma only, neutral chroma. Like the other file sinks it writes a hidden temporary file beside the
    target, checks that it reads back, and only then renames it (sinks._temporary_beside).

The camera stays on OpenCV (sources.py); only files come here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from types import FrameType
from typing import Any, cast

import av
import cv2
import numpy as np

from ..errors import SinkError
from . import files
from .audio import AudioFeed, AudioTrack, no_sound
from .capture import CaptureReader
from .files import VIDEO_CODECS

DEFAULT_QUALITY = 23  # x264's CRF: 0 lossless ... 51 worst; 18 looks transparent, 23 is FFmpeg's default
# x264 "ultrafast" plus CABAC and the deblocking filter (Main profile: plays everywhere): the whole program
# takes ~5-10% longer than with OpenCV's mp4v (which it replaces) for files ~12% smaller at CRF 23. B-frames
# (-40% size) and "veryfast" (-70%) made the whole run ~1.3x slower on two cores (benchmarks/RESULTS.md, "Video
# files through PyAV"); --quality 28 roughly halves the size instead.
PRESET = "ultrafast"
X264_PARAMS = "cabac=1:deblock=1"
VIDEO_TIME_BASE = Fraction(1, 90000)  # MPEG's clock: fine enough for any frame time a camera gives
MAX_BAD_PACKETS = 50  # a file whose next this-many packets do not decode is treated as ending there


def _quiet() -> None:
    """FFmpeg logs to stderr by itself ("moov atom not found", x264's statistics...): noise around our one-line
    messages. PRIVACY_FILTER_DEBUG=1 keeps it."""
    if not os.environ.get("PRIVACY_FILTER_DEBUG"):
        av.logging.set_level(av.logging.PANIC)


_quiet()


# ---------------------------------------------------------------------------------------------- reading

@dataclass
class FileClock:
    """The times of a file's frames, for the sink: ``times[i]`` is frame i's time in seconds from ``start``
    (the container's start, shared by its audio), appended by the reader as it delivers frames, in order."""

    path: Path
    start: float = 0.0
    times: list[float] = field(default_factory=list)
    audio: AudioFeed | None = None  # an input read only once (a pipe): its sound, set aside by the reader
    resets: list[float] = field(default_factory=list)  # the offset (s) added after each timestamp reset


class AVCapture:
    """A video file decoded by PyAV behind ``cv2.VideoCapture``'s verbs (isOpened, read, get, release), so
    that ``CaptureReader`` (thread, queue, timeouts, truncation check) reads files and cameras alike.

    read() -> (True, HxWx3 uint8 BGR) and the frame's time appended to ``clock.times``; (False, None) at the
    end. A packet that does not decode is skipped (as FFmpeg's players do); MAX_BAD_PACKETS in a row end it.
    """

    def __init__(self, clock: FileClock) -> None:
        self.clock = clock
        self._container: av.container.InputContainer | None = av.open(str(clock.path), "r")
        if not self._container.streams.video:
            self._container.close()
            raise ValueError("no video stream")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"  # FFmpeg's frame threads: decoding keeps up on two cores
        start = self._container.start_time
        clock.start = start / av.time_base if start is not None else 0.0
        if self._container.streams.audio and not clock.path.is_file():
            # A pipe cannot be read a second time for its sound: this reader sets it aside for the sink.
            clock.audio = AudioFeed(list(self._container.streams.audio))
        self._offset = 0.0  # added to the frames' times after timestamp resets (``_on_timeline``)
        self.resets = 0
        self._frames = self._decode()

    def isOpened(self) -> bool:  # cv2.VideoCapture's name
        return self._container is not None

    def get(self, prop: int) -> float:
        if prop == cv2.CAP_PROP_FPS:
            average, guessed = self._stream.average_rate, self._stream.guessed_rate
            # A constant rate is best told by FFmpeg's guess from the timestamps (12.5 exactly), the average
            # being a little off when the last frame has no duration (12.58); a variable rate by the average.
            if average and guessed and abs(float(guessed) / float(average) - 1) < 0.02:
                return float(guessed)
            rate: Fraction | float | None = average or guessed
            return float(rate) if rate else 0.0
        if prop == cv2.CAP_PROP_FRAME_COUNT:
            if self._stream.frames:
                return float(self._stream.frames)  # from the header (mp4, avi)
            # WebM, MKV, TS...: no count, only a duration; estimate it as OpenCV does (duration x rate), which
            # CaptureReader treats as an estimate (exact_count=False) and turns back into the duration.
            duration, rate = self._duration(), self.get(cv2.CAP_PROP_FPS)
            return float(round(duration * rate)) if duration > 0 and rate else 0.0
        if prop == cv2.CAP_PROP_POS_MSEC:  # the last frame's time, for CaptureReader's truncation check
            return 1000.0 * self.clock.times[-1] if self.clock.times else 0.0
        return 0.0

    def _duration(self) -> float:
        """The container's duration in seconds from its first timestamp (``clock.start``), like the frame times;
        0 if unknown. FFmpeg's Matroska/WebM demuxer gives the segment's Duration, which FFmpeg's own muxer
        writes as the last timestamp counted from 0: a recording that starts late (cut from a longer one)
        would otherwise look truncated by its start time."""
        assert self._container is not None  # asked by get() only while the file is open
        duration = self._container.duration
        if not duration:
            return 0.0
        seconds = duration / av.time_base
        if "matroska" in self._container.format.name:
            seconds -= self.clock.start
        return seconds

    def read(self) -> tuple[bool, np.ndarray | None]:
        try:
            frame = next(self._frames)
        except StopIteration:
            return False, None
        times = self.clock.times
        time = frame.time
        if time is None:
            time = self.clock.start + (len(times) / self.get(cv2.CAP_PROP_FPS) if self.get(cv2.CAP_PROP_FPS) else 0)
        times.append(self._on_timeline(time - self.clock.start))
        return True, _upright(_to_bgr(frame), frame.rotation)

    def _on_timeline(self, time: float) -> float:
        """A frame's time (s from the start) on one timeline that only grows: a stream whose timestamps start
        over (``cat r1.ts r2.ts``: a restarted recorder, a spliced stream) goes on one frame after the last
        frame before the reset (``resets`` counts them), instead of piling its frames onto the first ones."""
        time += self._offset
        times = self.clock.times
        if times and time <= times[-1]:
            rate = self.get(cv2.CAP_PROP_FPS)
            step = 1 / rate if rate else 1 / 30
            self._offset += times[-1] + step - time
            time = times[-1] + step
            self.resets += 1
            self.clock.resets.append(self._offset)  # the sound is shifted as much (audio.AudioTrack)
        return time

    def release(self) -> None:
        container, self._container = self._container, None
        if container is not None and self.clock.audio is not None:
            self.clock.audio.hand_over(container)  # its sound may still be decoded by the sink
        elif container is not None:
            container.close()

    def _decode(self) -> Iterator[av.VideoFrame]:
        bad = 0
        assert self._container is not None  # iterated by read(), only while the file is open
        feed = self.clock.audio
        for packet in self._container.demux(self._stream, *(feed.streams if feed else ())):
            if feed is not None and packet.stream.type == "audio":
                feed.put(packet)
                continue
            try:
                frames = packet.decode()
            except av.error.FFmpegError:
                bad += 1
                if bad >= MAX_BAD_PACKETS:
                    return
                continue
            bad = 0
            yield from (frame for frame in frames if isinstance(frame, av.VideoFrame))


def _to_bgr(frame: av.VideoFrame) -> np.ndarray:
    """A decoded frame as HxWx3 uint8 BGR. The usual yuv420p goes through OpenCV (SIMD, ~2x FFmpeg's swscale
    here); other layouts through swscale."""
    if frame.format.name == "yuv420p" and frame.width % 2 == 0 and frame.height % 2 == 0:
        return cv2.cvtColor(frame.to_ndarray(), cv2.COLOR_YUV2BGR_I420)
    # swscale's rows are padded (a strided view): hand out a contiguous frame, or the loop's ``conform`` copies
    # it and ``concurrent.Lookahead`` no longer recognises the frame it segmented ahead (it would run the
    # people stage a second time, on the loop's thread, interleaved with its worker: double cost and results
    # that depend on timing).
    return np.ascontiguousarray(frame.to_ndarray(format="bgr24"))


# A phone's portrait video is stored sideways with a rotation to apply when shown (its display matrix).
_TURNS = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def _upright(picture: np.ndarray, rotation: float) -> np.ndarray:
    """picture as players show it (and as OpenCV's reader gives it): ``rotation`` is the display matrix's
    angle, counter-clockwise degrees (FFmpeg's convention); people must stand upright for the segmenter."""
    turn = _TURNS.get(round(-rotation) % 360)
    return picture if turn is None else cv2.rotate(picture, turn)


class AVFileReader(CaptureReader):
    """The threaded reader over a PyAV-decoded file; ``clock`` holds each delivered frame's time."""

    def __init__(self, path: Path, width: int, exact_count: bool = True) -> None:
        self.clock = FileClock(Path(path))
        super().__init__(lambda: AVCapture(self.clock), str(path), live=False, width=width, exact_count=exact_count)


def open_video_file(path: Path, width: int = 0, exact_count: bool = True) -> AVFileReader:
    """A video file as a source (start/read/stop, like a camera); SourceError (one line) if it cannot be read.
    exact_count: the container's frame count is exact (else an estimate: see sources.EXACT_COUNT_CONTAINERS)."""
    return AVFileReader(path, width, exact_count)


# ---------------------------------------------------------------------------------------------- writing

class AVVideoSink:
    """write(frame: HxWx3 uint8 BGR, or HxW uint8 when color=False) to a video file; close() publishes it.

    fps: the rate for frames without a time (a camera, or past the clock's end); clock: the input file's frame
    times and audio (None: a constant ``fps``, no audio). quality: x264 CRF (lower is better and bigger).
    Odd frame sizes lose their last row/column (yuv420p needs even sizes).
    """

    def __init__(
        self,
        path: Path,
        fps: float,
        size: tuple[int, int],
        color: bool = True,
        clock: FileClock | None = None,
        quality: int = DEFAULT_QUALITY,
        overwrite: bool = False,
    ) -> None:
        self.path = Path(path)
        self.overwrite = overwrite
        self.size = size
        self.color = color
        self.frames = 0
        self.fps = fps if 0 < fps < 1000 else 30.0
        self._clock = clock
        self._closed = False
        self._ready = False  # finished, checked, not yet published
        self._last_pts = -1
        self._audio: list[AudioTrack] = []  # every audio track of the input
        suffix = self.path.suffix.lower()
        self._even = (size[0] - size[0] % 2, size[1] - size[1] % 2)
        if min(self._even) < 2:
            raise SinkError(f"cannot write video {self.path}: frames of {size[0]}x{size[1]} are too small")
        try:
            self._temp = files.temporary_beside(self.path)
        except OSError as exc:
            raise SinkError(f"cannot write video {self.path}: {exc.strerror or exc}") from None
        try:
            options = {"movflags": "+faststart"} if suffix in (".mp4", ".m4v", ".mov") else {}
            self._out = av.open(str(self._temp), "w", format=files.format_name(suffix), options=options)
            self._stream = self._video_stream(suffix, quality)
            # The sound, every track of it: read from the input a second time if it is a regular file, else
            # (a pipe, which can be read only once) taken from what the reader set aside.
            if color and clock is not None and (clock.path.is_file() or clock.audio is not None):
                try:
                    self._audio = (AudioTrack.open_all(self._out, clock.path, clock.start, suffix, clock.resets)
                                   if clock.audio is None else
                                   AudioTrack.from_feed(self._out, clock.audio, clock.start, suffix, clock.resets))
                except (av.error.FFmpegError, ValueError) as exc:
                    no_sound(self.path, exc)
            self._out.start_encoding()
        except (av.error.FFmpegError, ValueError, OSError) as exc:
            with contextlib.suppress(Exception):
                self._out.close()
            self._temp.unlink(missing_ok=True)
            raise SinkError(f"cannot write video {self.path} ({exc})") from None

    def _video_stream(self, suffix: str, quality: int) -> av.VideoStream:
        codec = VIDEO_CODECS[suffix]
        rate = Fraction(self.fps).limit_denominator(1001)
        # A video codec's name (VIDEO_CODECS), so a video stream: the stubs only know that for literal names.
        stream = cast(av.VideoStream, self._out.add_stream(codec, rate=rate))
        stream.width, stream.height = self._even
        # What every browser and player decodes (Motion JPEG's own variant is full range).
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        # AVI has one fixed rate: there frames go at their nearest tick (gaps become repeats). The rate as a
        # fraction (12.5 fps: a tick of 2/25 s), not rounded to whole frames a second (12 fps: 4 % too slow).
        self._time_base = 1 / rate if suffix == ".avi" else VIDEO_TIME_BASE
        stream.codec_context.time_base = self._time_base
        self._jpeg = codec == "mjpeg"
        if codec == "libx264":
            stream.options = {"preset": PRESET, "crf": str(quality), "x264-params": X264_PARAMS}
        elif self._jpeg:  # JPEG's quantiser 2 (best) ... 31: CRF 23 -> 4
            q = str(max(2, min(31, round(quality / 6))))
            stream.options = {"qmin": q, "qmax": q}
        else:  # VP9: CRF on its 0-63 scale, realtime speed (its default is minutes per minute of video)
            stream.options = {"crf": str(round(quality * 63 / 51)), "b": "0", "deadline": "realtime",
                              "cpu-used": "8", "row-mt": "1"}
        if self.color:
            stream.codec_context.color_range = 1  # MPEG (limited) range, what cv2's BGR<->I420 uses
        return stream

    def write(self, frame: np.ndarray) -> None:
        try:
            with _signals_held():  # a Ctrl-C mid-frame would lose packets the encoder has handed over
                self._write(frame)
        except (av.error.FFmpegError, OSError) as exc:  # a full disk, a folder gone: the file cannot be finished
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise SinkError(f"could not finish {self.path}: {reason} (is the disk full?); nothing was saved") from None

    def _write(self, frame: np.ndarray) -> None:
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        frame = frame[: self._even[1], : self._even[0]]
        if self._jpeg:  # full-range YUV: FFmpeg converts
            picture = av.VideoFrame.from_ndarray(frame, format="bgr24" if frame.ndim == 3 else "gray")
        else:
            picture = av.VideoFrame.from_ndarray(self._i420(frame), format="yuv420p")
        time = self._frame_time()
        picture.pts = pts = max(round(time / self._time_base), self._last_pts + 1)  # strictly increasing
        picture.time_base = self._time_base
        packets = self._stream.encode(picture)
        self._last_pts = pts
        self.frames += 1
        for packet in packets:
            self._out.mux(packet)
        for track in list(self._audio):
            try:
                track.copy_until(time)
            except av.error.FFmpegError as exc:
                if isinstance(exc, OSError):
                    raise  # the disk, not the sound
                track.close()  # sound the muxer refuses (broken timestamps): the picture goes on
                self._audio.remove(track)
                no_sound(self.path, exc)

    def _frame_time(self) -> float:
        """This frame's time (s): the input's, else one ``fps`` period after the previous frame."""
        if self._clock is not None and self.frames < len(self._clock.times):
            return self._clock.times[self.frames]
        return self._last_pts * float(self._time_base) + 1 / self.fps if self.frames else 0.0

    def _i420(self, frame: np.ndarray) -> np.ndarray:
        """frame: HxWx3 uint8 BGR or HxW uint8 grey -> (H*3/2)xW uint8 I420 (limited range, BT.601)."""
        if frame.ndim == 3:
            return cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420)
        height, width = frame.shape
        planes = np.full((height * 3 // 2, width), 128, np.uint8)  # neutral chroma: reads back as grey
        # Luma in MPEG range (16-235), so that a player's expansion gives back 0 and 255.
        cv2.convertScaleAbs(frame, planes[:height], alpha=219 / 255, beta=16)
        return planes

    def close(self, publish: bool = True, complete: bool = False, partial: bool = False) -> Path | None:
        """``finish`` the file, then ``publish`` it (or, publish=False, ``discard`` it); where it went (None: no
        frames, or discarded). Closing twice does nothing."""
        if not publish:
            self.discard()
            return None
        return self.publish(partial) if self.finish(complete) else None

    def finish(self, complete: bool = False) -> bool:
        """Finish the temporary file and check that it reads back; True if it holds frames to publish.

        complete: the input was read to its end, so all its sound goes in (else the sound up to the last
        frame's end). Raises SinkError if the finished file is not a complete video (it is then removed).
        Finishing twice does nothing more.
        """
        if self._closed:
            return self._ready
        problem = self._end(complete)
        if self.frames == 0:
            self._temp.unlink(missing_ok=True)
            return False
        gone = files.removed_during_run(self._temp)
        if gone:  # written to the end without an error (an open file outlives its name): not the disk
            raise SinkError(f"could not finish {self.path}: {gone}; nothing was saved")
        count = None if problem else files.video_frames(self._temp)
        problem = problem or files.short_of(count, self.frames)
        if problem:
            self._temp.unlink(missing_ok=True)
            raise SinkError(f"could not finish {self.path}: {problem} (is the disk full?); nothing was saved")
        self.frames = count or self.frames  # what the file really holds
        self._ready = True
        return True

    def _end(self, complete: bool) -> str | None:
        """Flush the encoder, add the rest of the sound and close the container; what went wrong, or None."""
        self._closed = True
        problem = None
        try:
            if self.frames:
                for packet in self._stream.encode(None):
                    self._out.mux(packet)
                # All of the sound, or (stopped early) up to the end of the last frame.
                end = None if complete else self._last_pts * float(self._time_base) + 1 / self.fps
                for track in self._audio:
                    try:
                        track.finish(end)
                    except av.error.FFmpegError as exc:
                        if isinstance(exc, OSError):
                            raise
                        no_sound(self.path, exc)
        except (av.error.FFmpegError, OSError) as exc:
            problem = str(exc)
        finally:
            for track in self._audio:
                track.close()
            if self._audio and self._clock is not None and self._clock.audio is not None:
                self._clock.audio.close()  # the pipe's container, kept open for decoding its sound
            try:
                self._out.close()
            except (av.error.FFmpegError, OSError) as exc:
                problem = problem or str(exc)
        return problem

    def publish(self, partial: bool = False) -> Path:
        """Put the finished file under its name (partial: under its partial name, ``files.partial_name``,
        never over a file); the path it went to. SinkError (the file kept, the message says where) if not."""
        if not self._ready:
            raise ValueError("publish() before a successful finish()")
        self._ready = False
        if partial:
            return files.publish_partial(self._temp, self.path, what="video")
        files.publish(self._temp, self.path, self.overwrite, what="video")
        return self.path

    def discard(self) -> None:
        """Throw the file away (finishing it first if need be, so the encoder and the input are closed)."""
        if not self._closed:
            self._end(complete=False)
        self._ready = False
        self._temp.unlink(missing_ok=True)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT/SIGTERM inside the block and act on them at its end, with the handlers that were there
    (KeyboardInterrupt, the app's Interrupted): the exception then lands between frames, never between the
    encoder handing packets over and their being written. Main thread only (where Python runs handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous: dict[int, Callable[[int, FrameType | None], Any] | int | signal.Handlers | None] = {}
    sig: int
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda signum, _frame: caught.append(signum))
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for signum in caught:
            handler = previous[signum]
            if callable(handler):
                handler(signum, None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(signum)
