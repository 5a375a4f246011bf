"""The eval sets ``benchmarks.quality`` and ``benchmarks.only_you`` score on: still images and clips with truth.

A set is a folder with ``images/<name>.jpg`` and ``masks/<name>.png`` (0 = background, 255 = person); a set
whose ``images/`` holds sub-folders is a set of clips (``images/<clip>/<frame>.jpg``, frames in name order).
If the set has ``instances/<name>.png`` (uint8 ids, 1 = largest person), the "main person" (id 1) is the truth
when only the user is kept. A clip may also come as the video the program reads, ``videos/<clip>.mp4``
(frame k of the video = the k-th image): ``clip_frames`` then hands out the video's frames, decoded as the
program decodes them, since that video is what ``instance_segmentation.py --input`` filters.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from privacy_filter.errors import UserError

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SETS = ("eg1800_portrait_test", "humanseg_vikramshenoy", "coco128seg_person", "davis2016_person")


def shared_dir() -> Path:
    """The shared data folder: $PRIVACY_FILTER_SHARED, else ../shared next to the repository."""
    return Path(os.environ.get("PRIVACY_FILTER_SHARED", REPO.parent / "shared"))


# --- data -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One image with its truth mask (and, if the set has them, its person instance ids)."""

    name: str
    image: Path
    mask: Path
    instances: Path | None = None


@dataclass
class EvalSet:
    """A set of still images or of clips (each clip a list of consecutive frames)."""

    name: str
    clips: list[list[Sample]]
    is_video: bool
    root: Path | None = None  # the set's folder (its clips' videos are in root/videos/)

    @property
    def count(self) -> int:
        return sum(len(clip) for clip in self.clips)


def _sample(root: Path, image: Path) -> Sample | None:
    relative = image.relative_to(root / "images").with_suffix(".png")
    mask = root / "masks" / relative
    if not mask.is_file():
        return None
    instances = root / "instances" / relative
    return Sample(str(relative.with_suffix("")), image, mask, instances if instances.is_file() else None)


def load_set(root: Path, limit: int | None = None) -> EvalSet:
    """Read a set folder (images/ + masks/, optionally clips in sub-folders). ``limit``: images per set or
    frames per clip. Raises UserError if the folder has no image with a mask."""
    images_dir = root / "images"
    if not images_dir.is_dir() or not (root / "masks").is_dir():
        raise UserError(f"{root} is not an eval set: it needs images/ and masks/ folders")
    clip_dirs = sorted(p for p in images_dir.iterdir() if p.is_dir())
    groups = [sorted(_images(d)) for d in clip_dirs] if clip_dirs else [sorted(_images(images_dir))]
    clips = []
    for group in groups:
        samples = [s for s in (_sample(root, image) for image in group) if s is not None]
        if limit:
            samples = samples[:limit]
        if samples:
            clips.append(samples)
    if not clips:
        raise UserError(f"{root} has no image with a matching mask in masks/")
    return EvalSet(root.name, clips, is_video=bool(clip_dirs), root=root)


def _images(folder: Path) -> Iterator[Path]:
    return (p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp"))


def _read(sample: Sample) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    frame = cv2.imread(str(sample.image), cv2.IMREAD_COLOR)
    truth = cv2.imread(str(sample.mask), cv2.IMREAD_GRAYSCALE)
    if frame is None or truth is None:
        raise UserError(f"cannot read {sample.image} or {sample.mask}")
    if truth.shape != frame.shape[:2]:
        raise UserError(f"{sample.mask} is {truth.shape}, its image {frame.shape[:2]}")
    instances = cv2.imread(str(sample.instances), cv2.IMREAD_GRAYSCALE) if sample.instances else None
    return frame, truth > 127, instances


# --- clips as the program reads them ------------------------------------------------------------------------


def clip_name(clip: list[Sample]) -> str:
    """The clip's folder name under images/ (``images/<clip>/<frame>.jpg``)."""
    return clip[0].name.split("/")[0]


def clip_video(eval_set: EvalSet, clip: list[Sample]) -> Path | None:
    """The clip as a video file (``<set>/videos/<clip>.mp4``), if the set has it."""
    if not eval_set.is_video or eval_set.root is None:
        return None
    video = eval_set.root / "videos" / f"{clip_name(clip)}.mp4"
    return video if video.is_file() else None


def clip_frames(clip: list[Sample], video: Path | None = None
                ) -> Iterator[tuple[Sample, np.ndarray, np.ndarray, np.ndarray | None]]:
    """(sample, frame HxWx3 uint8 BGR, truth HxW bool, instances or None) for each frame of a clip, in order.

    video None: the frames are the images. Else they are the video's, decoded as ``instance_segmentation.py
    --input VIDEO`` decodes them (PyAV, ``privacy_filter.io.avfile``; native size, the CLI's default for a
    file): frame k of the video is the clip's k-th image, so the video must hold one frame per image (else
    UserError). On DAVIS the video is an H.264 copy of the JPEGs (mean |difference| 2.7 grey levels), and
    the user's selection on a crowd clip can go another way on it (breakdance: IoU 0.20 on the JPEGs, 0.31
    on the video, through the same pipeline): a harness that scores the program must read what it reads.
    """
    if video is None:
        for sample in clip:
            frame, truth, instances = _read(sample)
            yield sample, frame, truth, instances
        return
    from privacy_filter.io.avfile import AVCapture, FileClock
    from privacy_filter.io.capture import conform

    folder = clip[0].image.parent
    order = sorted(_images(folder))
    wanted = {sample.image: sample for sample in clip}
    capture = AVCapture(FileClock(video))
    try:
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        if count != len(order):
            raise UserError(f"{video} has {count} frames, {folder} {len(order)} images: frame k of the video "
                            "must be image k")
        left = len(wanted)
        for image in order:
            ok, decoded = capture.read()
            frame = conform(decoded, None) if ok else None
            if frame is None:
                raise UserError(f"{video} ends before {image.name}")
            sample = wanted.get(image)
            if sample is None:
                continue
            _, truth, instances = _read(sample)
            if truth.shape != frame.shape[:2]:
                raise UserError(f"{video} is {frame.shape[1]}x{frame.shape[0]}, {sample.mask} {truth.shape[::-1]}")
            yield sample, frame, truth, instances
            left -= 1
            if not left:
                break
    finally:
        capture.release()
