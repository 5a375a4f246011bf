"""Recorded calls (issue 15): video files through PyAV keep their sound, their timing, and come out as H.264.

Inputs are made here from the real webcam clip in ../shared plus a generated tone (PyAV writes them); every
result is read back with PyAV (no ffprobe): codec, frame times, sound duration. The program runs as a user
runs it (a subprocess), except for the sink's unit tests.
"""

from __future__ import annotations

import signal
import subprocess
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import needs_eval, run_cli
from faultkit import clip_frames, interrupt_when_written, start_cli

from privacy_filter.io.avfile import AVVideoSink, FileClock, open_video_file
from privacy_filter.io.files import video_frames

pytestmark = needs_eval

TONE_HZ = 440


def make_clip(path: Path, frames: list[np.ndarray], times: list[float], audio: str | None = "aac",
              rate: int = 48000) -> Path:
    """Write ``frames`` (HxWx3 uint8 BGR) as H.264 at ``times`` (s), with a tone as long as the video
    (``audio``: the sound's codec, None for none)."""
    out = av.open(str(path), "w")
    video = out.add_stream("libx264", rate=30)
    video.height, video.width = frames[0].shape[:2]
    video.pix_fmt = "yuv420p"
    video.codec_context.time_base = Fraction(1, 90000)
    sound = out.add_stream(audio, rate=rate, layout="mono") if audio else None
    for frame, when in zip(frames, times, strict=True):
        picture = av.VideoFrame.from_ndarray(frame, format="bgr24")
        picture.pts, picture.time_base = round(when * 90000), Fraction(1, 90000)
        for packet in video.encode(picture):
            out.mux(packet)
    for packet in video.encode(None):
        out.mux(packet)
    if sound is not None:
        end = times[-1] + (times[-1] - times[-2])
        total, done = round(end * rate), 0
        while done < total:
            count = min(1024, total - done)
            wave = 0.3 * np.sin(2 * np.pi * TONE_HZ * np.arange(done, done + count) / rate)
            chunk = av.AudioFrame.from_ndarray((wave * 32767).astype(np.int16)[None], format="s16", layout="mono")
            chunk.sample_rate, chunk.pts, chunk.time_base = rate, done, Fraction(1, rate)
            for packet in sound.encode(chunk):
                out.mux(packet)
            done += count
        for packet in sound.encode(None):
            out.mux(packet)
    out.close()
    return path


def read_back(path: Path) -> dict:
    """What a player finds in ``path``: video codec, pixel format, frame times; sound codec and duration."""
    info: dict = {}
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        info["video"] = stream.codec_context.name
        frames = list(container.decode(stream))
        info["pix_fmt"] = frames[0].format.name
        info["times"] = [frame.time for frame in frames]
        info["size"] = (frames[0].width, frames[0].height)
    with av.open(str(path)) as container:
        if container.streams.audio:
            stream = container.streams.audio[0]
            samples = [(frame.time, frame.samples) for frame in container.decode(stream)]
            info["audio"] = stream.codec_context.name
            info["audio_s"] = sum(count for _, count in samples) / stream.rate
            info["audio_end"] = samples[-1][0] + samples[-1][1] / stream.rate
            info["tone"] = tone_level(path)
    return info


def tone_level(path: Path) -> float:
    """RMS of the decoded sound (a 0.3-amplitude sine is ~0.21): the tone is really there, not silence."""
    with av.open(str(path)) as container:
        chunks = [frame.to_ndarray().astype(np.float64).ravel() for frame in container.decode(audio=0)]
    wave = np.concatenate(chunks)
    wave = wave / 32768 if np.abs(wave).max() > 2 else wave
    return float(np.sqrt(np.mean(wave**2)))


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return clip_frames(90)


@pytest.fixture(scope="module")
def call_clip(tmp_path_factory, frames) -> Path:
    """3 s of the real clip at 30 fps with an AAC tone: a recorded call."""
    return make_clip(tmp_path_factory.mktemp("call") / "call.mp4", frames, [i / 30 for i in range(90)])


def filter_file(source: Path, output: Path, *extra: str) -> subprocess.CompletedProcess:
    result = run_cli("--input", str(source), "--output", str(output), "--no-display", *extra)
    assert result.returncode == 0, result.stderr
    return result


# ---------------------------------------------------------------- sound, codec

def test_a_recorded_call_keeps_its_sound_and_comes_out_h264(call_clip, tmp_path) -> None:
    source = read_back(call_clip)
    out = tmp_path / "filtered.mp4"
    filter_file(call_clip, out, "--mask-output", str(tmp_path / "matte.mp4"))
    result = read_back(out)
    assert result["video"] == "h264" and result["pix_fmt"] == "yuv420p", "what browsers play"
    assert len(result["times"]) == 90 and result["size"] == (320, 240)
    assert result["audio"] == "aac", "AAC in .mp4 is copied as it is"
    assert result["audio_s"] == pytest.approx(source["audio_s"], abs=1 / 30)
    assert result["tone"] == pytest.approx(source["tone"], rel=0.05)
    matte = read_back(tmp_path / "matte.mp4")
    assert "audio" not in matte, "the matte is a picture of who is kept, without sound"
    assert matte["video"] == "h264" and len(matte["times"]) == 90


def test_the_matte_reads_back_grey(call_clip, tmp_path) -> None:
    filter_file(call_clip, tmp_path / "out.mp4", "--mask-output", str(tmp_path / "matte.mkv"))
    capture = cv2.VideoCapture(str(tmp_path / "matte.mkv"))
    ok, picture = capture.read()
    capture.release()
    assert ok
    spread = np.abs(picture.astype(int) - picture.mean(axis=2, keepdims=True)).max()
    assert spread <= 2, "neutral chroma: B = G = R"
    assert picture.min() <= 3 and picture.max() >= 252, "the full 0..255 range survives the MPEG range round trip"


@pytest.mark.parametrize(("suffix", "sound"), [(".mkv", "aac"), (".webm", "opus"), (".mov", "aac")])
def test_other_containers(call_clip, tmp_path, suffix, sound) -> None:
    # .webm: VP9 and Opus (AAC is re-encoded); .mkv/.mov take AAC as it is.
    out = tmp_path / f"out{suffix}"
    filter_file(call_clip, out)
    result = read_back(out)
    assert result["video"] == ("vp9" if suffix == ".webm" else "h264")
    assert result["audio"] == sound and len(result["times"]) == 90
    assert result["audio_s"] == pytest.approx(read_back(call_clip)["audio_s"], abs=0.05)
    assert result["tone"] > 0.15


def test_sound_the_container_cannot_carry_is_re_encoded(frames, tmp_path) -> None:
    # PCM from a .mov does not play in a browser's .mp4: it becomes AAC, of the same length.
    source = make_clip(tmp_path / "pcm.mov", frames, [i / 30 for i in range(90)], audio="pcm_s16le")
    out = tmp_path / "out.mp4"
    filter_file(source, out)
    result, original = read_back(out), read_back(source)
    assert original["audio"] == "pcm_s16le" and result["audio"] == "aac"
    assert result["audio_s"] == pytest.approx(original["audio_s"], abs=0.05)
    assert result["tone"] == pytest.approx(original["tone"], rel=0.1)


def test_a_clip_without_sound_gives_a_video_without_sound(frames, tmp_path) -> None:
    source = make_clip(tmp_path / "mute.mp4", frames[:30], [i / 30 for i in range(30)], audio=None)
    filter_file(source, tmp_path / "out.mp4")
    result = read_back(tmp_path / "out.mp4")
    assert "audio" not in result and len(result["times"]) == 30


# ---------------------------------------------------------------- timing

def test_a_variable_frame_rate_clip_keeps_its_timing(frames, tmp_path) -> None:
    # A webcam dropping to 15 fps in low light: 45 frames at 30 fps, then 45 at 15 fps (4.5 s, not 3 s).
    times = [i / 30 for i in range(45)] + [1.5 + i / 15 for i in range(45)]
    source = make_clip(tmp_path / "vfr.mp4", frames, times)
    out = tmp_path / "out.mp4"
    filter_file(source, out)
    result = read_back(out)
    assert result["times"] == pytest.approx(times, abs=0.002), "each frame at its input time"
    assert all(a < b for a, b in zip(result["times"], result["times"][1:], strict=False))
    span_in, span_out = times[-1] - times[0], result["times"][-1] - result["times"][0]
    assert span_out == pytest.approx(span_in, rel=0.03)
    assert result["audio_end"] == pytest.approx(read_back(source)["audio_end"], abs=0.05), "sound stays in step"


def test_the_reader_gives_each_frame_its_time(frames, tmp_path) -> None:
    times = [i / 30 for i in range(20)] + [20 / 30 + i / 15 for i in range(10)]
    source = open_video_file(make_clip(tmp_path / "vfr.mkv", frames[:30], times, audio=None), width=0).start()
    got = 0
    deadline = time.monotonic() + 10
    while not source.finished and time.monotonic() < deadline:
        got += source.read(timeout=0.5) is not None
    source.stop()
    assert got == 30 and source.clock.times == pytest.approx(times, abs=0.001)


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_a_phone_video_is_read_upright_as_players_show_it(frames, tmp_path, rotation) -> None:
    # Phones store portrait video sideways plus a display rotation; OpenCV's reader (like every player)
    # applies it, and so must ours: the segmenter needs people upright.
    path = tmp_path / "phone.mp4"
    out = av.open(str(path), "w")
    stream = out.add_stream("libx264", rate=30)
    stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
    stream.set_display_rotation(rotation)
    for index, frame in enumerate(frames[:5]):
        picture = av.VideoFrame.from_ndarray(frame, format="bgr24")
        picture.pts = index
        for packet in stream.encode(picture):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)
    out.close()
    capture = cv2.VideoCapture(str(path))
    ok, shown = capture.read()
    capture.release()
    source = open_video_file(path, width=0).start()
    ours = source.read(timeout=5)
    source.stop()
    assert ok and ours is not None
    assert ours.shape == shown.shape == ((240, 320, 3) if rotation == 180 else (320, 240, 3))
    assert np.abs(ours.astype(int) - shown).mean() < 3, "the same way round as OpenCV shows it"


# ---------------------------------------------------------------- Ctrl-C

def test_ctrl_c_leaves_a_playable_file_with_sound_up_to_its_last_frame(tmp_path) -> None:
    long_frames = clip_frames(300, size=None)  # 10 s at 640x480: long enough to be interrupted half-way
    source = make_clip(tmp_path / "long.mp4", long_frames, [i / 30 for i in range(300)])
    out = tmp_path / "out" / "call.mp4"
    out.parent.mkdir()
    process = start_cli("--input", str(source), "--output", str(out), "--no-display")
    stderr = interrupt_when_written(out.parent, process, signal.SIGINT, min_bytes=100_000)  # ~1/6 of the whole
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    result = read_back(out.with_name("call.partial.mp4"))
    frames = len(result["times"])
    assert 0 < frames < 300, "interrupted half-way"
    video_end = result["times"][-1] + 1 / 30
    assert result["audio"] == "aac" and result["audio_end"] == pytest.approx(video_end, abs=0.05), \
        "the sound goes up to the last frame, no further"
    assert result["tone"] > 0.15
    assert [p.name for p in out.parent.iterdir()] == ["call.partial.mp4"], "no temporary file left behind"


# ---------------------------------------------------------------- the sink itself

def test_sink_writes_grey_odd_sizes_and_publishes_only_when_closed(tmp_path) -> None:
    path = tmp_path / "matte.mp4"
    sink = AVVideoSink(path, 30.0, (65, 49), color=False)
    ramp = np.tile(np.linspace(0, 255, 65).astype(np.uint8), (49, 1))
    for _ in range(10):
        sink.write(ramp)
    assert not path.exists()
    sink.close()
    assert path.exists() and video_frames(path) == 10
    capture = cv2.VideoCapture(str(path))
    ok, picture = capture.read()
    capture.release()
    assert ok and picture.shape == (48, 64, 3), "yuv420p needs even sizes: the last row and column go"
    assert np.abs(picture[..., 0].astype(int) - ramp[:48, :64]).mean() < 3


def test_the_clock_sets_each_frame_time_and_past_its_end_frames_follow_on(frames, tmp_path) -> None:
    mute = make_clip(tmp_path / "mute.mp4", frames[:3], [0.0, 0.1, 0.5], audio=None)
    clock = FileClock(mute, times=[0.0, 0.1, 0.5])  # as the reader leaves it after three frames
    sink = AVVideoSink(tmp_path / "out.mkv", 10.0, (64, 48), color=False, clock=clock)
    for value in range(5):
        sink.write(np.full((48, 64), value * 40, np.uint8))
    sink.close()
    with av.open(str(tmp_path / "out.mkv")) as container:
        times = [frame.time for frame in container.decode(video=0)]
    assert times == pytest.approx([0.0, 0.1, 0.5, 0.6, 0.7], abs=0.002)


@pytest.mark.parametrize(("complete", "sound_s"), [(False, 1.0), (True, 3.0)])
def test_a_file_stopped_early_gets_the_sound_of_its_frames_and_a_finished_one_all_of_it(
        call_clip, tmp_path, complete, sound_s) -> None:
    # q in the window after 1 s of a 3 s call: the sound stops with the picture. Read to its end: all of it.
    source = open_video_file(call_clip, width=0).start()
    sink = AVVideoSink(tmp_path / "out.mp4", source.fps, (320, 240), clock=source.clock)
    for _ in range(30):
        sink.write(source.read(timeout=5))
    source.stop()
    sink.close(complete=complete)
    result = read_back(tmp_path / "out.mp4")
    assert len(result["times"]) == 30
    assert result["audio_end"] == pytest.approx(sound_s, abs=0.05)


def test_quality_trades_size_for_fidelity(call_clip, tmp_path) -> None:
    filter_file(call_clip, tmp_path / "best.mp4", "--quality", "12")
    filter_file(call_clip, tmp_path / "small.mp4", "--quality", "35")
    assert (tmp_path / "best.mp4").stat().st_size > 2 * (tmp_path / "small.mp4").stat().st_size


@needs_eval
def test_decoded_frames_are_contiguous_so_the_worker_result_is_used(tmp_path) -> None:
    """Motion JPEG (.avi) decodes through swscale into padded rows. The reader must hand out contiguous
    frames: the loop's ``conform`` would otherwise copy each one, ``concurrent.Lookahead`` would not know the
    copy, and the people stage would run twice per frame (once on the loop's thread, interleaved with the
    worker), at double cost and with results that depend on timing (a flaky only-you walk showed it)."""
    from faultkit import write_video

    from privacy_filter.io.capture import conform

    clip = write_video(tmp_path / "clip.avi", clip_frames(6, size=(600, 450)))
    source = open_video_file(clip).start()
    try:
        seen = 0
        while not source.finished:
            frame = source.read(timeout=2.0)
            if frame is None:
                continue
            seen += 1
            assert frame.flags["C_CONTIGUOUS"], "a strided frame from the reader"
            assert conform(frame, (frame.shape[1], frame.shape[0])) is frame
    finally:
        source.stop()
    assert seen == 6


# ---------------------------------------------------------------- clips that start late (issue 22, item 15)

def make_marked_clip(path: Path, frames: list[np.ndarray], video_start: float, audio_start: float) -> Path:
    """``frames`` (HxWx3 uint8 BGR) at 30 fps from ``video_start`` s, with a white flash as frame 30; a sound
    track from ``audio_start`` s, silent but for a 0.1 s beep starting exactly with the flash. As a recording
    cut from a longer one (or a TS from a running recorder) has: its timestamps do not start at 0, and its
    picture and sound need not start together."""
    rate = 48000
    out = av.open(str(path), "w")
    video = out.add_stream("libx264", rate=30)
    video.height, video.width = frames[0].shape[:2]
    video.pix_fmt = "yuv420p"
    video.codec_context.time_base = Fraction(1, 90000)
    sound = out.add_stream("aac", rate=rate, layout="mono")
    for index, frame in enumerate(frames):
        picture = av.VideoFrame.from_ndarray(np.full_like(frame, 255) if index == 30 else frame, format="bgr24")
        picture.pts, picture.time_base = round((video_start + index / 30) * 90000), Fraction(1, 90000)
        for packet in video.encode(picture):
            out.mux(packet)
    for packet in video.encode(None):
        out.mux(packet)
    flash = video_start + 1.0
    total, done = round((video_start + len(frames) / 30 - audio_start) * rate), 0
    while done < total:
        count = min(1024, total - done)
        when = audio_start + np.arange(done, done + count) / rate
        wave = np.where((when >= flash) & (when < flash + 0.1), 0.5 * np.sin(2 * np.pi * TONE_HZ * when), 0.0)
        chunk = av.AudioFrame.from_ndarray((wave * 32767).astype(np.int16)[None], format="s16", layout="mono")
        chunk.sample_rate, chunk.pts, chunk.time_base = rate, round(audio_start * rate) + done, Fraction(1, rate)
        for packet in sound.encode(chunk):
            out.mux(packet)
        done += count
    for packet in sound.encode(None):
        out.mux(packet)
    out.close()
    return path


def beep_after_flash(path: Path) -> float:
    """When the beep starts minus when the flash is shown (s), as a player decodes ``path``: 0 in step."""
    with av.open(str(path)) as container:
        flash = next(frame.time for frame in container.decode(video=0)
                     if frame.to_ndarray(format="gray").mean() > 200)
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            wave = frame.to_ndarray().astype(np.float64).ravel()
            wave = wave / 32768 if np.abs(wave).max() > 2 else wave
            loud = np.nonzero(np.abs(wave) > 0.1)[0]
            if loud.size:
                return frame.time + loud[0] / frame.sample_rate - flash
    raise AssertionError(f"no beep in {path}")


@pytest.mark.required_in_ci
@pytest.mark.parametrize(("name", "video_start", "audio_start"), [
    ("recorder.ts", 10.0, 10.0),  # a TS from a recorder that had been running
    ("picture-late.ts", 10.2, 10.0),  # ...whose picture starts after its sound
    ("trimmed.mp4", 5.0, 5.0),  # an MP4 cut from a longer one
    ("sound-late.mp4", 5.0, 5.3),
    ("trimmed.mkv", 3.2, 3.0),
])
def test_a_clip_that_starts_late_keeps_its_sound_in_step(frames, tmp_path, name, video_start, audio_start) -> None:
    source = make_marked_clip(tmp_path / name, frames[:60], video_start, audio_start)
    assert abs(beep_after_flash(source)) < 0.005, "the input itself is in step"
    out = tmp_path / "out.mp4"
    result = run_cli("--input", str(source), "--output", str(out), "--no-display")
    assert result.returncode == 0, result.stderr  # a late start is not a truncated file
    assert len(read_back(out)["times"]) == 60
    assert abs(beep_after_flash(out)) < 0.015, f"sound {beep_after_flash(out) * 1000:+.0f} ms off the picture"


# ---------------------------------------------------------------- AVI timing (issue 22, item 10)

@pytest.mark.parametrize("fps", [12.5, 30.0, 30000 / 1001])
def test_an_avi_output_keeps_a_fractional_rate(frames, tmp_path, fps) -> None:
    """AVI has one fixed rate: it must be the input's (12.5 fps was written as 12: 4.96 s became 5.17 s),
    with every frame at its time and the header counting exactly the frames written."""
    times = [i / fps for i in range(len(frames))]
    source = make_clip(tmp_path / "in.mp4", frames, times, audio=None)
    out = tmp_path / "out.avi"
    filter_file(source, out)
    result = read_back(out)
    assert result["times"] == pytest.approx(times, abs=1e-3), "each frame at its input time"
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert float(stream.average_rate) == pytest.approx(fps, abs=1e-3) and stream.frames == len(frames)


# ---------------------------------------------------------------- odd sizes (issue 22, item 11)

def test_an_odd_size_is_said_in_one_line(frames, tmp_path) -> None:
    """4:2:0 video needs even sizes: 481x271 frames come out 480x270, and a note says so (it was silent)."""
    source = tmp_path / "odd.mkv"  # FFV1 (lossless) keeps an odd size, as a screen recorder's file may have
    with av.open(str(source), "w") as container:
        stream = container.add_stream("ffv1", rate=30)
        stream.width, stream.height, stream.pix_fmt = 481, 271, "bgr0"
        for frame in frames[:10]:
            picture = cv2.resize(frame, (481, 271), interpolation=cv2.INTER_AREA)
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    assert read_back(source)["size"] == (481, 271)
    out, matte = tmp_path / "out.mp4", tmp_path / "matte.mp4"
    result = filter_file(source, out, "--mask-output", str(matte))
    notes = [line for line in result.stderr.splitlines() if "note:" in line]
    assert notes == [f"privacy-filter: note: {out} and {matte}: the 481x271 frames are written as 480x270 "
                     "(video files need even sizes)"]
    assert read_back(out)["size"] == read_back(matte)["size"] == (480, 270)
    even = filter_file(make_clip(tmp_path / "even.mp4", frames[:10], [i / 30 for i in range(10)]), tmp_path / "e.mp4")
    assert "note:" not in even.stderr
