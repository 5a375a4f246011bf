"""Fetch the seed's Mask R-CNN model into a folder (``--download-mask-rcnn``), safely.

Two files come from two places (both Apache-2.0):
- ``frozen_inference_graph.pb`` (the weights): member of the TensorFlow model-zoo tarball ``TF_ZOO_URL``;
- ``mask_rcnn_inception_v2_coco_2018_01_28.pbtxt`` (OpenCV's text graph): ``OPENCV_PBTXT_URL``,
  checked against its SHA-256.
The labels file is written from ``COCO_LABELS`` if absent.

Everything is downloaded to temporary files inside the destination folder, checked (the text graph's
checksum, the tarball's member, and that the pair loads *and runs* in cv2.dnn with outputs of the expected
shapes), and only then moved into place with ``os.replace``: the folder never holds a half-written model
file, nothing is left behind on failure, and files already there are untouched unless the new ones are good.
Standard library only (urllib, tarfile).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

from ..errors import ModelError, UserError
from .mask_rcnn import (
    GRAPH_NAME,
    LABELS_NAME,
    OUTPUT_NAMES,
    WEIGHTS_NAME,
    opencv_message,
    read_net,
    run_net,
)
from .models import sha256_of

TF_ZOO_URL = "http://download.tensorflow.org/models/object_detection/mask_rcnn_inception_v2_coco_2018_01_28.tar.gz"
TARBALL_MEMBER = "mask_rcnn_inception_v2_coco_2018_01_28/frozen_inference_graph.pb"
OPENCV_PBTXT_URL = (
    "https://raw.githubusercontent.com/opencv/opencv_extra/4.x/testdata/dnn/"
    "mask_rcnn_inception_v2_coco_2018_01_28.pbtxt"
)
PBTXT_SHA256 = "090923144d81b2e442093f965be27eccda11ce5f781eaf1c7ec76932ce99641e"
TIMEOUT_S = 30.0  # per network operation (connect, each read), not for the whole download
CHUNK = 1 << 16
PART_PREFIX = ".download-"  # temporary files in the destination folder; removed on success and failure

# The 90 COCO class names of the TF object-detection models, line i = class id i as OpenCV reports it
# (the model's background class is dropped, so "person" is 0). Same as object_detection_classes_coco.txt.
COCO_LABELS = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "street sign", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse",
    "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "hat", "backpack", "umbrella", "shoe",
    "eye glasses", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle", "plate",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant", "bed",
    "mirror", "dining table", "window", "desk", "toilet", "door", "tv", "laptop", "mouse", "remote",
    "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "blender", "book",
    "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
)
EXPECTED_MASKS_SHAPE = (len(COCO_LABELS), 15, 15)  # per detection


def download_mask_rcnn(
    dest_dir: Path,
    tarball_url: str = TF_ZOO_URL,
    pbtxt_url: str = OPENCV_PBTXT_URL,
    progress: bool = True,
) -> None:
    """Install frozen_inference_graph.pb, the .pbtxt text graph and the COCO labels into ``dest_dir``.

    Raises UserError (network, disk) or ModelError (wrong checksum, broken tarball, missing member,
    model does not load or run) with a one-line message; ``dest_dir`` is then as it was before (and is
    removed again if this call created it).
    """
    dest_dir = Path(dest_dir)
    created = not dest_dir.exists()
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the model folder {dest_dir}: {exc.strerror or exc}") from None
    try:
        _install(dest_dir, tarball_url, pbtxt_url, _progress_printer if progress else None)
    except BaseException:
        if created:  # leave no empty folder behind either
            with contextlib.suppress(OSError):
                dest_dir.rmdir()
        raise


def _install(dest_dir: Path, tarball_url: str, pbtxt_url: str, report: Callable | None) -> None:
    """download_mask_rcnn's work, in an existing folder."""
    with _temporary_files(dest_dir) as temp:
        graph = temp()
        _fetch(pbtxt_url, graph, "text graph", report)
        digest = sha256_of(graph)
        if digest != PBTXT_SHA256:
            raise ModelError(
                f"the text graph from {pbtxt_url} is not the expected file "
                f"(sha256 {digest[:12]}…, expected {PBTXT_SHA256[:12]}…); not installed"
            )
        tarball = temp()
        _fetch(tarball_url, tarball, "model tarball", report)
        weights = temp()
        _extract_member(tarball, TARBALL_MEMBER, weights, tarball_url)
        tarball.unlink()  # it also holds checkpoints we do not need: free the space before the load check
        check_model_pair(weights, graph)
        labels = None
        if not (dest_dir / LABELS_NAME).is_file():
            labels = temp()
            labels.write_text("\n".join(COCO_LABELS) + "\n", encoding="utf-8")
        try:
            os.replace(weights, dest_dir / WEIGHTS_NAME)
            os.replace(graph, dest_dir / GRAPH_NAME)
            if labels is not None:
                os.replace(labels, dest_dir / LABELS_NAME)
        except OSError as exc:
            raise UserError(f"cannot write the model into {dest_dir}: {exc.strerror or exc}") from None


def main(dest_dir: Path, progress: bool = True, **urls: str) -> int:
    """Command-line style wrapper: 0 on success, 1 with the one-line reason on stderr.

    urls: ``tarball_url`` / ``pbtxt_url`` overrides (mirrors, tests).
    """
    try:
        download_mask_rcnn(Path(dest_dir), progress=progress, **urls)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Mask R-CNN model ready in {dest_dir}", file=sys.stderr)
    return 0


def check_model_pair(weights: Path, graph: Path) -> None:
    """The pair loads in cv2.dnn and a forward pass gives outputs of the real model's shapes, else ModelError.

    Loading alone is not enough: weights whose tensors do not fit the text graph parse fine and fail only
    when the network runs.
    """
    try:
        net = read_net(weights, graph)
        boxes, masks = run_net(net, np.zeros((64, 64, 3), np.uint8))
    except cv2.error as exc:
        raise ModelError(
            f"the downloaded model does not load in OpenCV ({opencv_message(exc)}); not installed"
        ) from None
    if boxes.ndim != 4 or boxes.shape[-1] != 7 or masks.ndim != 4 or masks.shape[1:] != EXPECTED_MASKS_SHAPE:
        raise ModelError(
            f"the downloaded model gives outputs of unexpected shapes ({OUTPUT_NAMES[0]} {boxes.shape}, "
            f"{OUTPUT_NAMES[1]} {masks.shape}); not installed"
        )


# ---------------------------------------------------------------- helpers

@contextlib.contextmanager
def _temporary_files(folder: Path) -> Iterator[Callable[[], Path]]:
    """Yield a factory of empty temporary files in ``folder``; whatever is left of them is removed at exit."""
    made: list[Path] = []

    def new() -> Path:
        try:
            handle, name = tempfile.mkstemp(prefix=PART_PREFIX, dir=folder)
        except OSError as exc:
            raise UserError(f"cannot write into {folder}: {exc.strerror or exc}") from None
        os.close(handle)
        made.append(Path(name))
        return made[-1]

    try:
        yield new
    finally:
        for path in made:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def _fetch(url: str, dest: Path, what: str, report: Callable | None) -> None:
    """Download ``url`` into the file ``dest`` (UserError on any network problem)."""
    request = urllib.request.Request(url, headers={"User-Agent": "privacy-filter"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response, open(dest, "wb") as out:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            done, started, shown = 0, time.monotonic(), 0.0
            while chunk := response.read(CHUNK):
                out.write(chunk)
                done += len(chunk)
                now = time.monotonic()
                if report and now - shown >= 0.1:
                    report(what, done, total, now - started, final=False)
                    shown = now
            if report:
                report(what, done, total, time.monotonic() - started, final=True)
    except urllib.error.HTTPError as exc:
        raise UserError(f"cannot download the {what}: HTTP {exc.code} {exc.reason} from {url}") from None
    except urllib.error.URLError as exc:
        raise UserError(
            f"cannot download the {what} from {url}: {exc.reason} "
            "(no internet? the manual steps are in mask-rcnn-coco/README.md)"
        ) from None
    except (OSError, ValueError) as exc:  # timeouts, resets, disk full, bad URL
        raise UserError(f"cannot download the {what} from {url}: {exc}") from None
    if total is not None and done != total:
        raise UserError(f"the {what} download from {url} was cut short ({done} of {total} bytes)")


def _extract_member(tarball: Path, member: str, dest: Path, url: str) -> None:
    """Stream ``member`` of a .tar.gz into the file ``dest`` (ModelError if broken or absent)."""
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            # Match "dir/file" and "./dir/file" alike: tar tools differ in how they write names.
            found = [info for info in archive.getmembers() if info.name.removeprefix("./") == member]
            if not found:
                raise ModelError(f"the tarball from {url} has no {member}; not installed")
            info = found[-1]  # as tar itself: a later member of the same name wins
            source = archive.extractfile(info) if info.isfile() else None
            if source is None:
                raise ModelError(f"{member} in the tarball from {url} is not a file; not installed")
            with source, open(dest, "wb") as out:
                shutil.copyfileobj(source, out, CHUNK)
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ModelError(f"the tarball from {url} is broken ({reason}); not installed") from None
    except OSError as exc:
        raise UserError(f"cannot extract the model from the tarball: {exc.strerror or exc}") from None


def _progress_printer(what: str, done: int, total: int | None, elapsed: float, final: bool) -> None:
    """One self-overwriting line on stderr: bytes, percent, speed."""
    speed = done / elapsed if elapsed > 0 else 0.0
    if total:
        line = f"{what}: {_mb(done)} / {_mb(total)} MB  {100.0 * done / total:5.1f}%  {_mb(speed)} MB/s"
    else:
        line = f"{what}: {_mb(done)} MB  {_mb(speed)} MB/s"
    sys.stderr.write("\r" + line.ljust(72) + ("\n" if final else ""))
    sys.stderr.flush()


def _mb(count: float) -> str:
    return f"{count / 1e6:.1f}"
