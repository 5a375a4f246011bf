"""Output files: what a run may write (``check_output_path``, before any work) and how a finished file takes
its name (``publish``): frames go to a hidden temporary file beside the target (``temporary_beside``), which is
put under the target's name only once complete, never over an existing file without --overwrite (not even
one that appeared during the run: another run with the same --output, say).

The lowest layer of ``io``: ``sinks`` (images, the window) and ``avfile`` (videos) both use it.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import av

from ..errors import SinkError
from ..imagefiles import can_write_image
from .capture import SHORT_BY_FRACTION, SHORT_BY_FRAMES

# The encoder PyAV (avfile.py) writes each video container with: H.264 plays everywhere; browsers play VP9 in .webm;
# .avi (which cannot time B-frames) keeps Motion JPEG, as before.
VIDEO_CODECS = {
    ".mp4": "libx264", ".m4v": "libx264", ".mov": "libx264", ".mkv": "libx264", ".avi": "mjpeg",
    ".webm": "libvpx-vp9",
}
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
MIN_FREE_BYTES = 1 << 20  # refuse an output on a disk with less free space than this (1 MB)


def check_output_path(path: Path, overwrite: bool, video: bool, flag: str = "--output") -> Path:
    """Refuse, before any work is done, an output that cannot be written. Returns the path.

    video: True if a video file is expected here (else an image). Checks the extension, that the folder
    exists and really takes a new file (a probe file is created and removed: permissions, read-only or full
    disks, /proc... all show up), that the encoder for the extension opens, and that an existing file is
    only replaced with ``overwrite``.
    """
    try:
        return _check_output_path(Path(path), overwrite, video, flag)
    except (OSError, ValueError) as exc:  # a NUL byte, a name too long...
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SinkError(f"{flag} {path}: cannot write there ({reason})") from None


def _check_output_path(path: Path, overwrite: bool, video: bool, flag: str) -> Path:
    suffix = path.suffix.lower()
    allowed = VIDEO_CODECS if video else IMAGE_EXTENSIONS
    if suffix not in allowed:
        kind = "a video" if video else "an image"
        raise SinkError(
            f"{flag} {path}: cannot write {kind} with extension {suffix or '(none)'}; "
            f"use one of {', '.join(sorted(allowed))}"
        )
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.exists():
        raise SinkError(f"{flag} {path}: folder {folder} does not exist")
    if not folder.is_dir():
        raise SinkError(f"{flag} {path}: {folder} is a file, not a folder")
    if path.is_dir():
        raise SinkError(f"{flag} {path} is a folder, not a file name")
    if path.is_symlink() and not path.exists() and not overwrite:
        # A dangling link is a name that is taken: publishing would find it there only at the end of the run.
        raise SinkError(f"{flag} {path} already exists (a link to {os.readlink(path)}, which is missing); "
                        "pass --overwrite to replace it")
    if path.exists() and not overwrite:
        raise SinkError(f"{flag} {path} already exists; pass --overwrite to replace it")
    try:
        probe = temporary_beside(path)
    except OSError as exc:
        raise SinkError(f"{flag} {path}: folder {folder} is not writable ({exc.strerror or exc})") from None
    try:
        free = shutil.disk_usage(folder).free
        if free < MIN_FREE_BYTES:
            raise SinkError(f"{flag} {path}: the disk holding {folder} is full ({free // 1024} kB free)")
        if video:
            problem = check_encoder(path)
            if problem:
                raise SinkError(f"{flag} {path}: {problem}; try .mp4")
        elif not can_write_image(path):
            raise SinkError(f"{flag} {path}: this OpenCV cannot write {suffix} images; try .png")
    finally:
        probe.unlink(missing_ok=True)
    return path


def temporary_beside(path: Path) -> Path:
    """A fresh hidden file name in the target's folder, with the target's extension (OpenCV picks the
    format from it); same folder so that publishing is a link or rename, never a copy.

    The name is ``.STEM.XXXXXXXX.partial.EXT``, with STEM shortened if need be so that the name fits the
    folder's limit (255 bytes on most file systems): any name the target may have, its temporary may have.
    """
    folder = str(path.parent) or "."
    suffix = f".partial{path.suffix}"
    stem = _fit_stem(path.stem, folder, budget=len(os.fsencode(f"..{'X' * 8}{suffix}")))
    handle, name = tempfile.mkstemp(prefix=f".{stem}.", suffix=suffix, dir=folder)
    os.close(handle)
    # mkstemp makes the file private (0600); the published file should get the user's usual permissions.
    os.chmod(name, 0o666 & ~_UMASK)
    return Path(name)


def _fit_stem(stem: str, folder: str, budget: int) -> str:
    """``stem`` cut (at a character boundary) so that it plus ``budget`` bytes fit a file name in ``folder``."""
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    room = max(1, limit - budget)
    while len(os.fsencode(stem)) > room:
        stem = stem[:-1]
    return stem


def publish(temporary: Path, target: Path, overwrite: bool, what: str = "file") -> Path:
    """Put the finished ``temporary`` file under the user's name ``target``; the path it ended up at.

    Without ``overwrite`` an existing file is never replaced, not even one that appeared during the run
    (another run with the same --output): the name is taken with ``os.link``, which fails if it exists
    (where hard links are not supported, e.g. some FUSE or SMB mounts, the name is reserved with O_EXCL and
    the file renamed onto that reservation). If the name was taken meanwhile, the result is saved under the
    first free name ``STEM-2.EXT``, ``STEM-3.EXT``... and SinkError says so: both files are kept.
    With ``overwrite``, an atomic rename over the target.
    Raises SinkError, keeping ``temporary``, if it cannot be put anywhere. ``what``: "video" or "image".
    """
    try:
        if overwrite:
            os.replace(temporary, target)
            return target
        if _publish_new(temporary, target):
            return target
        for number in range(2, 1000):
            other = target.with_name(f"{target.stem}-{number}{target.suffix}")
            if _publish_new(temporary, other):
                raise SinkError(
                    f"{target} appeared while this run was writing (another run or program made it); "
                    f"it is left as it was, and this {what} is saved as {other}"
                )
        raise FileExistsError(errno.EEXIST, "every name tried exists")
    except OSError as exc:
        raise SinkError(
            f"cannot save {target} ({exc.strerror or exc}); the finished {what} is kept as {temporary}"
        ) from None


def partial_name(target: Path) -> Path:
    """Where a result that is not complete (an interrupted run, a truncated input) goes: ``STEM.partial.EXT``
    beside ``target``, so that the user's name only ever holds a complete result."""
    return target.with_name(f"{target.stem}.partial{target.suffix}")


def publish_partial(temporary: Path, target: Path, what: str = "video") -> Path:
    """Put the finished but incomplete ``temporary`` under ``target``'s partial name (the first free one of
    ``STEM.partial.EXT``, ``STEM.partial-2.EXT``...), never over any file; the path it ended up at.
    Raises SinkError, keeping ``temporary``, if it cannot be put anywhere."""
    first = partial_name(target)
    try:
        for number in range(1, 1000):
            name = first if number == 1 else first.with_name(f"{first.stem}-{number}{first.suffix}")
            if _publish_new(temporary, name):
                return name
        raise FileExistsError(errno.EEXIST, "every name tried exists")
    except OSError as exc:
        raise SinkError(f"cannot save the partial {what} beside {target} ({exc.strerror or exc}); "
                        f"it is kept as {temporary}") from None


def _publish_new(temporary: Path, target: Path) -> bool:
    """Move ``temporary`` to ``target`` if nothing has that name; False (temporary untouched) if something has."""
    try:
        os.link(temporary, target)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK, errno.EXDEV):
            raise
        # No hard links here: reserve the name (O_EXCL fails if it exists), then rename onto the reservation.
        try:
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 & ~_UMASK))
        except FileExistsError:
            return False
        try:
            os.replace(temporary, target)
        except OSError:
            target.unlink(missing_ok=True)  # our empty reservation, not a file of the user's
            raise
        return True
    temporary.unlink(missing_ok=True)
    return True


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def removed_during_run(temporary: Path) -> str | None:
    """Why the temporary file being written is no longer there (its folder or itself was removed), or None.
    Such a file was written to the end without an error (an open file outlives its name): it is not the disk."""
    if not temporary.parent.is_dir():
        return f"the folder {temporary.parent} was removed during the run"
    if not temporary.exists():
        return f"its temporary file {temporary.name} was removed during the run"
    return None


def check_encoder(path: Path) -> str | None:
    """Why a video cannot be written at ``path`` (by extension), or None if this PyAV can: the container and
    its encoder both exist."""
    suffix = path.suffix.lower()
    codec = VIDEO_CODECS.get(suffix)
    if codec is None:
        return f"no video encoder for {suffix} files"
    try:
        av.codec.Codec(codec, "w")
        av.format.ContainerFormat(format_name(suffix), "w")
    except (ValueError, av.error.FFmpegError):
        return f"this PyAV has no {codec} encoder for {suffix} files"
    return None


def format_name(suffix: str) -> str:
    return {".mkv": "matroska", ".m4v": "mp4"}.get(suffix, suffix.lstrip("."))


# ------------------------------------------------------------------- does a finished video read back

def video_frames(path: Path) -> int | None:
    """How many frames the video at ``path`` holds (its first frame decoded, its video packets counted), or
    None if it does not decode."""
    try:
        with av.open(str(path), "r") as container:
            stream = container.streams.video[0]
            packets = 0
            decoded = False
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue  # AVI's "repeat the last frame" chunks and the end marker
                packets += 1
                if not decoded:
                    decoded = bool(packet.decode()) or decoded
            if not decoded:  # the first frames sit in the decoder until it is flushed
                decoded = bool(stream.codec_context.decode(None))
            return packets if decoded and packets else None
    except (av.error.FFmpegError, IndexError, OSError):
        return None


def unreadable_video(path: Path, frames: int) -> str | None:
    """Why the video at ``path`` is not a complete ``frames``-frame video, or None if it is."""
    return short_of(video_frames(path), frames)


def short_of(count: int | None, frames: int) -> str | None:
    if count is None:
        return "the file does not read back as a video"
    if count < frames:
        return f"only {count} of its {frames} frames read back"
    return None


# ------------------------------------------------------------------- is a video already there complete

@dataclass(frozen=True)
class Extent:
    """How much of a video a file holds: ``packets`` video packets ending at ``end`` s (0 if unknown), and what
    its header announces: ``frames`` (0: the container has no count) and ``duration`` s (0: none)."""

    packets: int
    end: float
    frames: int
    duration: float


def video_extent(path: Path, count: bool = True) -> Extent | None:
    """The ``Extent`` of the video at ``path`` (count=False: the header only, packets 0), or None if it has no
    video stream. Packets are counted without decoding: a few seconds for an hour of video."""
    try:
        with av.open(str(path), "r") as container:
            stream = container.streams.video[0]
            start = container.start_time / av.time_base if container.start_time else 0.0
            duration = container.duration / av.time_base if container.duration else 0.0
            if duration and "matroska" in container.format.name:
                duration -= start  # its Duration is the last timestamp (see avfile.AVCapture._duration)
            packets, end = 0, 0.0
            if count:
                for packet in container.demux(stream):
                    if packet.size == 0 or packet.pts is None:
                        continue  # AVI's repeat chunks and the end marker
                    packets += 1
                    end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base) - start)
            return Extent(packets, end, int(stream.frames or 0), duration)
    except (av.error.FFmpegError, IndexError, OSError):
        return None


def is_short(done: float, announced: float, step: float) -> bool:
    """True if ``done`` (frames, or seconds) falls clearly short of ``announced``: by more than SHORT_BY_FRAMES
    steps (``step``: 1 frame, or one frame's time) and SHORT_BY_FRACTION of it (the rule a truncated input is
    judged by)."""
    return done + max(SHORT_BY_FRAMES * step, announced * SHORT_BY_FRACTION) < announced


def unfinished(output: Path, source: Path | None) -> str | None:
    """Why the video ``output`` is not a complete result of the video file ``source`` (None: a camera or a
    pipe, judged by the output alone), or None if it is complete: its own header must match what it holds
    (a truncated copy does not), and it must hold as many frames as the input announces (an interrupted
    run's output from before partial names existed does not)."""
    mine = video_extent(output)
    if mine is None or not mine.packets:
        return "it does not read back as a video"
    if mine.frames and is_short(mine.packets, mine.frames, 1):
        return f"its header announces {mine.frames} frames but it holds {mine.packets}"
    if not mine.frames and mine.duration and is_short(mine.end, mine.duration, 0.1):
        return f"its header announces {mine.duration:.1f} s but it ends at {mine.end:.1f} s"
    theirs = video_extent(source, count=False) if source is not None and source.is_file() else None
    if theirs is None:
        return None
    if theirs.frames and is_short(mine.packets, theirs.frames, 1):
        return f"it holds {mine.packets} of its input's {theirs.frames} frames"
    if not theirs.frames and theirs.duration and is_short(mine.end, theirs.duration, 0.1):
        return f"it ends at {mine.end:.1f} s of its input's {theirs.duration:.1f} s"
    return None
