"""The input's sound carried into a written video (``avfile.AVVideoSink``): every audio track, copied when the
output container plays its codec, else re-encoded, interleaved with the picture as frames are written.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import av

# Audio codecs a browser plays in these containers: copied as they are. Any other is re-encoded.
BROWSER_AUDIO = {
    ".mp4": {"aac", "mp3", "opus", "flac"},
    ".m4v": {"aac", "mp3"},
    ".webm": {"opus", "vorbis"},
}
AUDIO_ENCODER = {".webm": "libopus"}  # re-encoding: AAC everywhere else
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

    def __init__(self, out: av.container.OutputContainer, source: av.container.InputContainer,
                 stream: av.AudioStream, start: float, suffix: str) -> None:
        self._out = out
        self._source = source
        self._in = stream
        self._start = start
        codec = stream.codec_context.name
        allowed = BROWSER_AUDIO.get(suffix, out.supported_codecs)
        self.copy = codec in allowed and codec in out.supported_codecs
        if self.copy:
            self._stream = out.add_stream_from_template(stream)
        else:
            encoder = AUDIO_ENCODER.get(suffix, "aac")
            rate = stream.rate if encoder == "aac" else 48000  # Opus only takes 48 kHz (and lower steps)
            self._stream = out.add_stream(encoder, rate=rate, layout="stereo" if stream.channels > 1 else "mono")
            self._stream.bit_rate = AUDIO_BITRATE
        self._packets = source.demux(stream)
        self._pending: av.Packet | None = None
        self._shift = round(start / stream.time_base) if stream.time_base else 0

    @classmethod
    def open_all(cls, out: av.container.OutputContainer, path: Path, start: float, suffix: str) -> list[AudioTrack]:
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
                    tracks.append(cls(out, source, source.streams.audio[number], start, suffix))
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

    def _next_packets(self, until: float | None) -> Iterator[av.Packet]:
        while True:
            packet = self._pending
            self._pending = None
            if packet is None:
                packet = next(self._packets, None)
                if packet is None:
                    return
            if packet.dts is None or packet.pts is None:
                continue  # the demuxer's end-of-stream marker
            if until is not None and float(packet.pts * packet.time_base) - self._start >= until:
                self._pending = packet
                return
            yield packet

    def finish(self, until: float | None) -> None:
        """The rest of the sound up to ``until`` (None: to its end), and the encoder's last packets."""
        self.copy_until(until)
        if not self.copy:
            for packet in self._stream.encode(None):
                self._out.mux(packet)

    def close(self) -> None:
        self._source.close()
