"""Image files in and out by their bytes: OpenCV's ``imread``/``imwrite``/``haveImageWriter`` take the name as
UTF-8 and crash the process (a segmentation fault, no message) on a name that is not (``out\\xfe.png``: Python
holds such a byte as a lone surrogate). Reading the bytes with Python and decoding them with ``imdecode`` (and
the reverse) works with any name the file system allows.

A leaf module (numpy and OpenCV only), so that every layer may use it.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def read_image(path: str | Path, flags: int = cv2.IMREAD_COLOR) -> np.ndarray | None:
    """The picture in the file at ``path`` (HxWx3 uint8 BGR with IMREAD_COLOR), or None if it does not decode.
    Raises OSError if the file cannot be read."""
    data = np.fromfile(str(path), dtype=np.uint8)
    if data.size == 0:
        return None
    try:
        image = cv2.imdecode(data, flags)
    except cv2.error:
        return None
    return image if image is not None and image.size else None


def write_image(path: str | Path, image: np.ndarray) -> bool:
    """Encode ``image`` (HxWx3 uint8 BGR or HxW uint8) in the format ``path``'s extension names and write it;
    False if it cannot be encoded or written (a full disk)."""
    try:
        ok, encoded = cv2.imencode(Path(path).suffix.lower(), image)
    except cv2.error:
        return False
    if not ok:
        return False
    try:
        encoded.tofile(str(path))
    except OSError:
        return False
    return True


def can_write_image(path: str | Path) -> bool:
    """True if this OpenCV writes pictures with ``path``'s extension (by the extension alone)."""
    return bool(cv2.haveImageWriter("image" + Path(path).suffix.lower()))
