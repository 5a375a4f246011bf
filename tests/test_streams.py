"""Sound from the other kinds of input (issue 22, items 6 and 9): every audio track of a file (a second
language, a commentary), and the sound of a pipe.

Inputs are made here with PyAV from the real webcam clip in ../shared and generated tones, one pitch per
track, so that each output track can be told by its pitch; results are read back with PyAV.
"""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import REPO, needs_eval, run_cli
from faultkit import clip_frames

pytestmark = needs_eval

RATE = 48000


def make_tracks_clip(path: Path, frames: list[np.ndarray], pitches: list[int], fps: int = 30) -> Path:
    """``frames`` (HxWx3 uint8 BGR) as H.264 at ``fps``, with one audio track (AAC, mono) per pitch (Hz), each a
    tone as long as the video."""
    out = av.open(str(path), "w")
    video = out.add_stream("libx264", rate=fps)
    video.height, video.width = frames[0].shape[:2]
    video.pix_fmt = "yuv420p"
    tracks = [out.add_stream("aac", rate=RATE, layout="mono") for _ in pitches]
    for stream in tracks:
        stream.metadata["title"] = f"tone {stream.index}"
    total = round(len(frames) / fps * RATE)
    for index, frame in enumerate(frames):
        for packet in video.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
            out.mux(packet)
        first, last = round(index / fps * RATE), round((index + 1) / fps * RATE)
        for stream, pitch in zip(tracks, pitches, strict=True):
            wave = 0.3 * np.sin(2 * np.pi * pitch * np.arange(first, min(last, total)) / RATE)
            chunk = av.AudioFrame.from_ndarray((wave * 32767).astype(np.int16)[None], format="s16", layout="mono")
            chunk.sample_rate, chunk.pts, chunk.time_base = RATE, first, Fraction(1, RATE)
            for packet in stream.encode(chunk):
                out.mux(packet)
    for stream in (video, *tracks):
        for packet in stream.encode(None):
            out.mux(packet)
    out.close()
    return path


def pitches_of(path: Path) -> list[tuple[int, float]]:
    """Each audio track of ``path``: (its strongest frequency in Hz, its length in s)."""
    found = []
    with av.open(str(path)) as container:
        count = len(container.streams.audio)
    for number in range(count):
        with av.open(str(path)) as container:
            wave = np.concatenate([frame.to_ndarray().astype(np.float64).mean(axis=0)
                                   for frame in container.decode(audio=number)])
            rate = container.streams.audio[number].rate
        spectrum = np.abs(np.fft.rfft(wave))
        found.append((round(float(np.fft.rfftfreq(wave.size, 1 / rate)[spectrum.argmax()])), wave.size / rate))
    return found


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".webm"])
def test_every_audio_track_is_kept(tmp_path, suffix) -> None:
    source = make_tracks_clip(tmp_path / "talk.mp4", clip_frames(60), [440, 880])
    assert [pitch for pitch, _ in pitches_of(source)] == [440, 880]
    out = tmp_path / f"out{suffix}"
    result = run_cli("--input", str(source), "--output", str(out), "--no-display")
    assert result.returncode == 0, result.stderr
    kept = pitches_of(out)
    assert [pitch for pitch, _ in kept] == [440, 880], "both tracks, in order"
    assert all(seconds == pytest.approx(2.0, abs=0.05) for _, seconds in kept)


@pytest.mark.parametrize("suffix", [".ts", ".mkv"])
def test_the_sound_of_a_pipe_is_kept(tmp_path, suffix) -> None:
    """``cat talk.ts | privacy-filter -i /dev/stdin -o o.mp4``: the sound comes through the pipe too (it was
    dropped in silence: the sound was read from the input a second time, which a pipe does not allow)."""
    source = make_tracks_clip(tmp_path / f"talk{suffix}", clip_frames(60), [440, 880])
    out = tmp_path / "o.mp4"
    with open(source, "rb") as pipe_end:
        result = subprocess.run([sys.executable, str(REPO / "instance_segmentation.py"), "--input", "/dev/stdin",
                                 "--output", str(out), "--no-display"], stdin=pipe_end, cwd=REPO,
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr, result.stderr
    kept = pitches_of(out)
    assert [pitch for pitch, _ in kept] == [440, 880], "every track, through the pipe"
    assert all(seconds == pytest.approx(2.0, abs=0.1) for _, seconds in kept), kept


def make_marked_ts(path: Path, frames: list[np.ndarray]) -> Path:
    """``frames`` at 30 fps as an MPEG-TS (its clock starting near 1.4 s, as FFmpeg's muxer starts it), frame
    30 a white flash, and a sound track silent but for a 0.1 s beep exactly with the flash."""
    out = av.open(str(path), "w", format="mpegts")
    video = out.add_stream("libx264", rate=30)
    video.height, video.width = frames[0].shape[:2]
    video.pix_fmt = "yuv420p"
    sound = out.add_stream("aac", rate=RATE, layout="mono")
    total = round(len(frames) / 30 * RATE)
    for index, frame in enumerate(frames):
        picture = np.full_like(frame, 255) if index == 30 else frame
        for packet in video.encode(av.VideoFrame.from_ndarray(picture, format="bgr24")):
            out.mux(packet)
        first, last = round(index / 30 * RATE), min(round((index + 1) / 30 * RATE), total)
        when = np.arange(first, last) / RATE
        wave = np.where((when >= 1.0) & (when < 1.1), 0.5 * np.sin(2 * np.pi * 440 * when), 0.0)
        chunk = av.AudioFrame.from_ndarray((wave * 32767).astype(np.int16)[None], format="s16", layout="mono")
        chunk.sample_rate, chunk.pts, chunk.time_base = RATE, first, Fraction(1, RATE)
        for packet in sound.encode(chunk):
            out.mux(packet)
    for stream in (video, sound):
        for packet in stream.encode(None):
            out.mux(packet)
    out.close()
    return path


def flashes_and_beeps(path: Path) -> tuple[list[float], list[float], list[float], float]:
    """The frame times, the flashes' times, the beeps' start times and the sound's length (s) in ``path``."""
    with av.open(str(path)) as container:
        frames = [(frame.time, frame.to_ndarray(format="gray").mean()) for frame in container.decode(video=0)]
    with av.open(str(path)) as container:
        chunks = [(frame.time, frame.to_ndarray().astype(np.float64).mean(axis=0), frame.sample_rate)
                  for frame in container.decode(audio=0)]
    times = [time for time, _ in frames]
    flashes = [time for time, level in frames if level > 200]
    wave = np.concatenate([chunk for _, chunk, _ in chunks])
    wave = wave / 32768 if np.abs(wave).max() > 2 else wave
    rate = chunks[0][2]
    loud = np.abs(wave) > 0.1
    starts = np.nonzero(loud & ~np.concatenate([[False], loud[:-1]]))[0]
    beeps = [chunks[0][0] + index / rate for index in starts if not loud[max(0, index - rate // 10):index].any()]
    return times, flashes, beeps, wave.size / rate


@pytest.mark.required_in_ci
@pytest.mark.parametrize("how", ["file", "pipe"])
def test_timestamps_that_start_over_make_one_timeline_with_its_sound(tmp_path, how) -> None:
    """``cat r1.ts r2.ts r1.ts`` (a restarted recorder, a spliced stream): every frame in order on one timeline
    that grows at each reset, the sound all along and in step, and no false "truncated" error."""
    frames = clip_frames(120)
    r1 = make_marked_ts(tmp_path / "r1.ts", frames[:60])
    r2 = make_marked_ts(tmp_path / "r2.ts", frames[60:])
    joined = tmp_path / "joined.ts"
    joined.write_bytes(r1.read_bytes() + r2.read_bytes() + r1.read_bytes())
    out = tmp_path / "o.mp4"
    if how == "file":
        result = run_cli("--input", str(joined), "--output", str(out), "--no-display")
    else:
        with open(joined, "rb") as pipe_end:
            result = subprocess.run([sys.executable, str(REPO / "instance_segmentation.py"), "--input", "/dev/stdin",
                                     "--output", str(out), "--no-display"], stdin=pipe_end, cwd=REPO,
                                    capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "truncated" not in result.stderr, result.stderr
    assert "warning" not in result.stderr, result.stderr
    times, flashes, beeps, sound = flashes_and_beeps(out)
    assert len(times) == 180
    assert min(np.diff(times)) > 0.5 / 30, "no frames piled onto others"
    assert times[-1] == pytest.approx(6.0 - 1 / 30, abs=0.1) and sound == pytest.approx(6.0, abs=0.15)
    assert len(flashes) == len(beeps) == 3, (flashes, beeps)
    assert all(abs(beep - flash) < 0.04 for flash, beep in zip(flashes, beeps, strict=True)), (flashes, beeps)


def test_the_sound_of_a_ts_goes_into_an_avi(tmp_path) -> None:
    """AAC from a TS (ADTS frames) cannot be copied into AVI: it is re-encoded there (the run used to fail
    at its first frame: "ADTS is only supported with codec tag 0x1610")."""
    source = make_tracks_clip(tmp_path / "talk.ts", clip_frames(60), [440, 880])
    out = tmp_path / "out.avi"
    result = run_cli("--input", str(source), "--output", str(out), "--no-display")
    assert result.returncode == 0, result.stderr
    assert [pitch for pitch, _ in pitches_of(out)] == [440, 880]
