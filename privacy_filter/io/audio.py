"""The input's sound carried into a written video (``avfile.AVVideoSink``): every audio track, copied when the
output container plays its codec, else re-encoded, interleaved with the picture as frames are written.
"""

from __future__ import annotations

import sys
import threading
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import av

# Audio codecs a browser plays in these containers: copied as they are. Any other is re-encoded.
BROWSER_AUDIO = {
    ".mp4": {"aac", "mp3", "opus", "flac"},
    ".m4v": {"aac", "mp3"},
    ".webm": {"opus", "vorbis"},
}
AUDIO_ENCODER = {".webm": "libopus"}  # re-encoding: AAC everywhere else
# Codecs a container takes but not as every input holds them: AAC from a TS (ADTS frames) is refused by the
# AVI muxer ("ADTS is only supported with codec tag 0x1610"), which failed the whole run: re-encoded there.
NOT_COPIED = {".avi": {"aac"}}
AUDIO_BITRATE = 128_000


def no_sound(path: Path, exc: Exception) -> None:
    """The input's sound cannot go into ``path``: say so once, and write the picture without it."""
    print(f"privacy-filter: warning: the sound cannot be carried into {path} ({exc}); the video is written "
          "without it (or without the rest of it)", file=sys.stderr)


class AudioTrack:
    """One audio track of the input carried into the output, packet by packet, as video frames are written:
    copied when the output container plays it (BROWSER_AUDIO; any codec the container takes for .mkv, .mov,
    .avi), else decoded and re-encoded (AAC, or Opus for .webm). Times are shifted by the clock's start like
    the video's, so sound and picture stay in step."""

    def __init__(self, out: av.container.OutputContainer, stream: av.AudioStream, packets: Iterator[av.Packet],
                 start: float, suffix: str, source: av.container.InputContainer | None = None,
                 resets: list[float] | None = None) -> None:
        """stream: the input's track; packets: its packets in order (``next`` gives None when there are none
        for now); source: the container to close with the track (None: not the track's own); resets: the
        picture's timeline offsets (``FileClock.resets``), filled as it is read."""
        self._out = out
        self._source = source
        self._in = stream
        self._start = start
        codec = stream.codec_context.name
        allowed = BROWSER_AUDIO.get(suffix, out.supported_codecs)
        self.copy = codec in allowed and codec in out.supported_codecs and codec not in NOT_COPIED.get(suffix, ())
        if self.copy:
            self._stream = out.add_stream_from_template(stream)
        else:
            encoder = AUDIO_ENCODER.get(suffix, "aac")
            rate = stream.rate if encoder == "aac" else 48000  # Opus only takes 48 kHz (and lower steps)
            self._stream = cast(av.AudioStream, out.add_stream(encoder, rate=rate,
                                                              layout="stereo" if stream.channels > 1 else "mono"))
            self._stream.bit_rate = AUDIO_BITRATE
        self._packets = packets
        self._pending: av.Packet | None = None
        self._held: av.Packet | None = None  # the pending packet, already moved onto the timeline
        self._offset = 0  # added to the timestamps (stream time base) after resets (``_on_timeline``)
        # The picture's offset (s) after each of its resets, as its reader finds them.
        self._resets = resets if resets is not None else []
        self._resets_seen = 0
        self._last_dts = 0
        self._next_dts: int | None = None
        self._shift = round(start / stream.time_base) if stream.time_base else 0

    @classmethod
    def open_all(cls, out: av.container.OutputContainer, path: Path, start: float, suffix: str,
                 resets: list[float] | None = None) -> list[AudioTrack]:
        """Every audio track of the input file at ``path`` (whose timeline starts at ``start`` s) for ``out``, in
        order (a second language, a commentary: none is dropped); [] if it has none. Each track reads the file
        on its own, so that each is interleaved with the picture at its own pace."""
        with av.open(str(path), "r") as probe:
            count = len(probe.streams.audio)
        tracks: list[AudioTrack] = []
        try:
            for number in range(count):
                source = av.open(str(path), "r")
                try:
                    stream = source.streams.audio[number]
                    tracks.append(cls(out, stream, source.demux(stream), start, suffix, source, resets))
                except BaseException:
                    source.close()
                    raise
        except BaseException:
            for track in tracks:
                track.close()
            raise
        return tracks

    def copy_until(self, until: float | None) -> None:
        """Mux the input's sound up to ``until`` s (output time; None: all of it)."""
        for packet in self._next_packets(until):
            if self.copy:
                assert packet.pts is not None and packet.dts is not None  # _next_packets yields only timed ones
                packet.pts -= self._shift
                packet.dts -= self._shift
                packet.stream = self._stream
                self._out.mux(packet)
                continue
            try:
                frames = packet.decode()
            except av.error.FFmpegError:
                continue  # one bad sound packet: a short gap, not a failed file
            for frame in frames:
                if frame.pts is not None:
                    frame.pts -= self._shift
                for encoded in self._stream.encode(frame):
                    self._out.mux(encoded)

    def _next_packets(self, until: float | None) -> Iterator[av.Packet[av.AudioStream]]:
        while True:
            packet = self._pending
            self._pending = None
            if packet is None:
                packet = next(self._packets, None)
                if packet is None:
                    return
            if packet.dts is None or packet.pts is None:
                continue  # the demuxer's end-of-stream marker
            if packet is not self._held:
                moved = self._on_timeline(packet, final=until is None)
                if moved == "drop":
                    continue
                if moved == "wait":
                    self._pending = packet
                    return
            if until is not None and float(packet.pts * packet.time_base) - self._start >= until:
                self._pending = self._held = packet  # already on the timeline
                return
            yield packet

    def _on_timeline(self, packet: av.Packet, final: bool) -> str:
        """Move ``packet`` onto the picture's one timeline (``avfile.AVCapture._on_timeline``): after the k-th
        time the timestamps start over (concatenated recordings), the sound is shifted as the picture was at
        its k-th reset, so the two stay in step, and an encoder's padding that would overlap is dropped (the
        muxer refuses timestamps that go back). "ok" (moved), "drop", or "wait": the picture has not reached
        that reset yet (``final``: it never will; the sound then goes on where it was)."""
        assert packet.pts is not None and packet.dts is not None
        offset = self._offset
        if self._next_dts is not None and packet.dts + offset < self._last_dts:
            if self._resets_seen < len(self._resets):
                offset = round(self._resets[self._resets_seen] / packet.time_base)
            elif final:
                offset += self._next_dts - (packet.dts + offset)
            else:
                return "wait"
            self._resets_seen += 1
            self._offset = offset
        if self._next_dts is not None and packet.dts + offset <= self._last_dts:
            return "drop"
        packet.pts += offset
        packet.dts += offset
        self._last_dts = packet.dts
        self._next_dts = packet.dts + (packet.duration or 1)
        return "ok"

    def finish(self, until: float | None) -> None:
        """The rest of the sound up to ``until`` (None: to its end), and the encoder's last packets."""
        self.copy_until(until)
        if not self.copy:
            for packet in self._stream.encode(None):
                self._out.mux(packet)

    @classmethod
    def from_feed(cls, out: av.container.OutputContainer, feed: AudioFeed, start: float, suffix: str,
                  resets: list[float] | None = None) -> list[AudioTrack]:
        """Every audio track of an input read only once (a pipe), from the packets its reader set aside."""
        return [cls(out, stream, feed.packets(stream.index), start, suffix, None, resets) for stream in feed.streams]

    def close(self) -> None:
        if self._source is not None:
            self._source.close()


class AudioFeed:
    """The sound of an input that can be read only once (a pipe, a FIFO): the reader thread, which demuxes it
    for the picture, sets its audio packets aside here (``put``) and the sink takes them (``packets``).

    The input container stays open until the sink is done (``hand_over`` then ``close``): a packet that is
    re-encoded is decoded with its stream's decoder. At most MAX_PACKETS wait per track (about 7 minutes of
    AAC): with no file taking them (the virtual camera alone), the oldest are let go.
    """

    MAX_PACKETS = 20_000

    def __init__(self, streams: list[av.AudioStream]) -> None:
        self.streams = streams
        self._queues: dict[int, deque[av.Packet]] = {s.index: deque(maxlen=self.MAX_PACKETS) for s in streams}
        self._lock = threading.Lock()
        self._container: av.container.InputContainer | None = None
        self._closed = False

    def put(self, packet: av.Packet) -> None:
        """An audio packet just demuxed (the reader thread)."""
        queue = self._queues.get(packet.stream.index)
        if queue is not None:
            with self._lock:
                queue.append(packet)

    def packets(self, index: int) -> _Drain:
        """Track ``index``'s packets as they come: ``next`` gives the oldest, or None when none waits now."""
        return _Drain(self._queues[index], self._lock)

    def hand_over(self, container: av.container.InputContainer) -> None:
        """The reader is done with ``container``: it is closed with the feed (at once if that already is)."""
        with self._lock:
            closed, self._container = self._closed, container
        if closed:
            container.close()

    def close(self) -> None:
        with self._lock:
            self._closed, container, self._container = True, self._container, None
        if container is not None:
            container.close()


class _Drain:
    """An iterator over a queue that others fill: StopIteration when it is empty *now*, and more later."""

    def __init__(self, queue: deque[av.Packet], lock: threading.Lock) -> None:
        self._queue = queue
        self._lock = lock

    def __iter__(self) -> _Drain:
        return self

    def __next__(self) -> av.Packet:
        with self._lock:
            if not self._queue:
                raise StopIteration
            return self._queue.popleft()
