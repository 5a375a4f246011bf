"""File sinks: outputs are checked before any work, written atomically, and published only when complete.

Read-only folders are made honestly although the tests run as root (root may write into a chmod 555
folder): an immutable folder (``chattr +i``), /proc, a path whose "folder" is a file; as another user, a
chmod 555 folder. The read-only and full *filesystems* are tested through the real CLI in
``test_bad_input`` and ``test_faults`` (they need a private mount namespace).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import needs_eval
from faultkit import clip_frames, read_video

from privacy_filter.errors import SinkError
from privacy_filter.io.avfile import AVVideoSink as VideoFileSink  # video files are written through PyAV
from privacy_filter.io.files import IMAGE_EXTENSIONS, VIDEO_CODECS, check_output_path, unreadable_video
from privacy_filter.io.sinks import ImageFileSink


@contextlib.contextmanager
def read_only_folder(path: Path):
    """A folder no file can be created in, even by root."""
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        try:
            yield path
        finally:
            path.chmod(0o755)
        return
    if shutil.which("chattr") is None:
        pytest.skip("running as root without chattr: cannot make a folder read-only for root")
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"chattr +i not supported here: {done.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial" in p.name)


# ---------------------------------------------------------------- checked before any work

def test_every_listed_extension_is_accepted_and_really_writes(tmp_path) -> None:
    for suffix in VIDEO_CODECS:
        path = tmp_path / f"out{suffix}"
        assert check_output_path(path, overwrite=False, video=True) == path
        sink = VideoFileSink(path, 30.0, (64, 48))
        for value in range(3):
            sink.write(np.full((48, 64, 3), 80 * value, np.uint8))
        sink.close()
        assert len(read_video(path)) == 3, suffix
    for suffix in IMAGE_EXTENSIONS:
        path = tmp_path / f"out{suffix}"
        assert check_output_path(path, overwrite=False, video=False) == path
    assert leftovers(tmp_path) == [], "the probe files are removed"


@pytest.mark.parametrize(("name", "video", "message"), [
    ("out.gif", True, "cannot write a video with extension .gif"),
    ("out", True, r"extension \(none\)"),
    ("out.mp4", False, "cannot write an image with extension .mp4"),
    ("out.txt", False, "use one of .bmp"),
])
def test_unwritable_extensions(tmp_path, name, video, message) -> None:
    with pytest.raises(SinkError, match=message):
        check_output_path(tmp_path / name, overwrite=False, video=video)


def test_missing_folder_file_as_folder_and_folder_as_file(tmp_path) -> None:
    with pytest.raises(SinkError, match="does not exist"):
        check_output_path(tmp_path / "missing" / "out.mp4", False, True)
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(SinkError, match="is a file, not a folder"):
        check_output_path(tmp_path / "file.txt" / "out.mp4", False, True)
    (tmp_path / "dir.mp4").mkdir()
    with pytest.raises(SinkError, match="is a folder, not a file name"):
        check_output_path(tmp_path / "dir.mp4", True, True)


def test_existing_file_needs_overwrite(tmp_path) -> None:
    path = tmp_path / "out.mp4"
    path.write_bytes(b"precious")
    with pytest.raises(SinkError, match="already exists; pass --overwrite"):
        check_output_path(path, overwrite=False, video=True)
    assert check_output_path(path, overwrite=True, video=True) == path
    assert path.read_bytes() == b"precious", "checking never touches the file"


@pytest.mark.required_in_ci
def test_read_only_folder(tmp_path) -> None:
    with read_only_folder(tmp_path / "locked") as folder:
        for video, name in ((True, "out.mp4"), (False, "out.png")):
            with pytest.raises(SinkError, match="is not writable"):
                check_output_path(folder / name, False, video)


def test_proc_and_odd_names(tmp_path) -> None:
    with pytest.raises(SinkError, match=r"--output /proc/out\.mp4: folder /proc is not writable"):
        check_output_path(Path("/proc/out.mp4"), False, True)
    with pytest.raises(SinkError, match="cannot write there"):
        check_output_path(tmp_path / ("x" * 300 + ".mp4"), False, True)
    with pytest.raises(SinkError, match="cannot write there"):
        check_output_path(tmp_path / "a\x00b.mp4", False, True)


def test_flag_name_is_in_the_message(tmp_path) -> None:
    with pytest.raises(SinkError, match=r"^--mask-output "):
        check_output_path(tmp_path / "m.gif", False, True, flag="--mask-output")


# ---------------------------------------------------------------- atomic writes

@needs_eval
def test_video_is_written_beside_and_renamed_only_when_closed(tmp_path) -> None:
    frames = clip_frames(12)
    path = tmp_path / "out.mp4"
    sink = VideoFileSink(path, 30.0, (frames[0].shape[1], frames[0].shape[0]))
    for frame in frames:
        sink.write(frame)
    assert not path.exists(), "nothing under the chosen name while writing"
    (partial,) = leftovers(tmp_path)
    assert partial.startswith(".out.") and partial.endswith(".partial.mp4")
    sink.close()
    assert path.exists() and leftovers(tmp_path) == []
    assert len(read_video(path)) == 12 and unreadable_video(path, 12) is None
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode == 0o666 & ~current_umask(), "the published file gets the usual permissions, not mkstemp's 0600"
    sink.close()  # closing twice is harmless


def test_existing_file_survives_until_the_new_one_is_complete(tmp_path) -> None:
    path = tmp_path / "out.avi"
    path.write_bytes(b"old")
    sink = VideoFileSink(path, 30.0, (64, 48))
    sink.write(np.zeros((48, 64, 3), np.uint8))
    assert path.read_bytes() == b"old"
    sink.close(publish=False)
    assert path.read_bytes() == b"old" and leftovers(tmp_path) == [], "a discarded video leaves no trace"
    sink = VideoFileSink(path, 30.0, (64, 48), overwrite=True)
    sink.write(np.zeros((48, 64, 3), np.uint8))
    sink.close()
    assert len(read_video(path)) == 1


def test_no_frames_no_file(tmp_path) -> None:
    VideoFileSink(tmp_path / "out.mp4", 30.0, (64, 48)).close()
    ImageFileSink(tmp_path / "out.png").close()
    assert list(tmp_path.iterdir()) == []


def test_frames_of_another_size_are_resized_and_grey_sink(tmp_path) -> None:
    sink = VideoFileSink(tmp_path / "mask.avi", 30.0, (64, 48), color=False)
    sink.write(np.full((48, 64), 255, np.uint8))
    sink.write(np.full((100, 30), 0, np.uint8))
    sink.close()
    frames = read_video(tmp_path / "mask.avi")
    assert len(frames) == 2 and frames[1].shape[:2] == (48, 64)


def test_a_broken_video_is_not_published(tmp_path) -> None:
    # What a full disk leaves behind: a file whose end (the mp4 index) never made it.
    good = tmp_path / "good.mp4"
    sink = VideoFileSink(good, 30.0, (64, 48))
    for value in range(30):
        sink.write(np.full((48, 64, 3), value * 8, np.uint8))
    sink.close()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert "does not read back" in unreadable_video(broken, 30)
    assert "only 30 of its 300 frames" in unreadable_video(good, 300)
    assert unreadable_video(good, 30) is None


def test_image_sink_is_atomic_and_keeps_the_last_frame(tmp_path) -> None:
    path = tmp_path / "out.png"
    path.write_bytes(b"old")
    sink = ImageFileSink(path, overwrite=True)
    sink.write(np.zeros((8, 8, 3), np.uint8))
    sink.write(np.full((8, 8, 3), 200, np.uint8))
    assert path.read_bytes() == b"old"
    sink.close()
    import cv2

    assert cv2.imread(str(path))[0, 0, 0] == 200 and leftovers(tmp_path) == []


@pytest.mark.required_in_ci
def test_publishing_into_a_folder_that_turned_read_only_keeps_the_work(tmp_path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    sink = VideoFileSink(folder / "out.avi", 30.0, (64, 48))
    sink.write(np.zeros((48, 64, 3), np.uint8))
    if os.geteuid() == 0 and shutil.which("chattr") is None:
        pytest.skip("cannot make a folder read-only for root without chattr")
    lock = ["chattr", "+i", str(folder)] if os.geteuid() == 0 else None
    if lock:
        if subprocess.run(lock, capture_output=True).returncode != 0:
            pytest.skip("chattr +i not supported here")
    else:
        folder.chmod(0o555)
    try:
        with pytest.raises(SinkError, match=r"the finished video is kept as .*partial\.avi"):
            sink.close()
    finally:
        if lock:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        else:
            folder.chmod(0o755)
    (kept,) = leftovers(folder)
    assert len(read_video(folder / kept)) == 1


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# ---------------------------------------------------------------- publishing never replaces without --overwrite


def write_some(sink, frames: int = 3) -> None:
    for value in range(frames):
        sink.write(np.full((48, 64, 3), 40 * value, np.uint8))


@pytest.mark.parametrize("kind", ["video", "image"])
def test_a_file_that_appears_during_the_run_is_not_replaced(tmp_path, kind) -> None:
    # Another run with the same --output finished first: its file must survive this run's close().
    path = tmp_path / ("out.avi" if kind == "video" else "out.png")
    sink = VideoFileSink(path, 30.0, (64, 48)) if kind == "video" else ImageFileSink(path)
    write_some(sink)
    path.write_bytes(b"the other run's result")
    with pytest.raises(SinkError, match=r"appeared while this run was writing.*saved as .*out-2\.(avi|png)$"):
        sink.close()
    assert path.read_bytes() == b"the other run's result"
    saved = tmp_path / f"out-2{path.suffix}"
    assert (len(read_video(saved)) == 3) if kind == "video" else saved.stat().st_size > 100
    assert leftovers(tmp_path) == []


def test_overwrite_replaces_a_file_that_appeared(tmp_path) -> None:
    path = tmp_path / "out.avi"
    sink = VideoFileSink(path, 30.0, (64, 48), overwrite=True)
    write_some(sink)
    path.write_bytes(b"old")
    sink.close()
    assert len(read_video(path)) == 3 and sorted(p.name for p in tmp_path.iterdir()) == ["out.avi"]


def test_without_hard_links_the_name_is_still_taken_exclusively(tmp_path, monkeypatch) -> None:
    # Some FUSE and SMB mounts refuse link(2) (EPERM/ENOTSUP): publishing falls back to an O_EXCL reservation.
    import errno

    def no_links(*_args, **_kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    free = tmp_path / "free.avi"
    sink = VideoFileSink(free, 30.0, (64, 48))
    write_some(sink)
    sink.close()
    assert len(read_video(free)) == 3
    taken = tmp_path / "taken.avi"
    sink = VideoFileSink(taken, 30.0, (64, 48))
    write_some(sink)
    taken.write_bytes(b"keep me")
    with pytest.raises(SinkError, match="saved as"):
        sink.close()
    assert taken.read_bytes() == b"keep me" and len(read_video(tmp_path / "taken-2.avi")) == 3
    assert leftovers(tmp_path) == []


def test_a_name_as_long_as_the_folder_allows_is_accepted(tmp_path) -> None:
    # 244 + ".mp4" = 248 bytes: a valid name, though ".NAME.XXXXXXXX.partial.mp4" would not fit 255 bytes.
    limit = os.pathconf(tmp_path, "PC_NAME_MAX")
    path = tmp_path / ("x" * (limit - 11) + ".mp4")
    assert check_output_path(path, False, True) == path
    sink = VideoFileSink(path, 30.0, (64, 48))
    write_some(sink)
    sink.close()
    assert len(read_video(path)) == 3 and leftovers(tmp_path) == []
    image = tmp_path / ("é" * ((limit - 4) // 2) + ".png")  # two bytes a character: cut at a character
    sink = ImageFileSink(image)
    write_some(sink)
    sink.close()
    assert image.stat().st_size > 100 and leftovers(tmp_path) == []


def test_a_folder_removed_during_the_run_is_not_called_a_full_disk(tmp_path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    sink = VideoFileSink(folder / "out.mp4", 30.0, (64, 48))
    write_some(sink)
    shutil.rmtree(folder)
    with pytest.raises(SinkError) as caught:
        sink.close()
    assert f"the folder {folder} was removed during the run; nothing was saved" in str(caught.value)
    assert "disk" not in str(caught.value)
    folder.mkdir()
    sink = ImageFileSink(folder / "out.png")
    write_some(sink)
    shutil.rmtree(folder)
    with pytest.raises(SinkError, match="was removed during the run") as caught:
        sink.close()
    assert "disk" not in str(caught.value)
