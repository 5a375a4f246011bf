"""Background effects: what everything except the user becomes.

Every effect is a callable ``effect(frame) -> background`` with frame and background HxWx3 uint8 BGR of the
same size, made by ``make_effect``. The compositor blends the user back over the result.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from .errors import UserError

Effect = Callable[[np.ndarray], np.ndarray]
EFFECT_NAMES = ("blur", "pixelate", "color", "image", "desaturate")
MAX_KERNEL = 501

# A Gaussian of a big kernel is the slowest part of the seed. Blurring a copy shrunk by DOWNSCALE with a
# kernel shrunk alike, then enlarging it, looks the same (the result has no detail finer than the
# kernel anyway) at a fraction of the cost.
DOWNSCALE = 4


def check_kernel(kernel: int) -> int:
    """The blur kernel must be a positive odd number (as cv2.GaussianBlur wants), at most MAX_KERNEL."""
    if kernel <= 0 or kernel % 2 == 0 or kernel > MAX_KERNEL:
        raise UserError(f"--kernel must be a positive odd number up to {MAX_KERNEL}, not {kernel}")
    return kernel


def blur(frame: np.ndarray, kernel: int) -> np.ndarray:
    """Gaussian blur that looks like ``cv2.GaussianBlur(frame, (kernel, kernel), 0)`` but costs far less.

    frame: HxWx3 (or HxW) uint8 -> the same shape and dtype.
    """
    height, width = frame.shape[:2]
    factor = DOWNSCALE if kernel >= 4 * DOWNSCALE else 1
    if factor == 1 or height < 4 * factor or width < 4 * factor:
        return cv2.GaussianBlur(frame, (kernel, kernel), 0)
    small = cv2.resize(frame, (width // factor, height // factor), interpolation=cv2.INTER_AREA)
    small_kernel = max(3, (kernel // factor) | 1)
    small = cv2.GaussianBlur(small, (small_kernel, small_kernel), 0)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def pixelate(frame: np.ndarray, kernel: int) -> np.ndarray:
    """Blocks of about kernel/2 pixels. frame: HxWx3 uint8 BGR -> HxWx3 uint8 BGR."""
    height, width = frame.shape[:2]
    block = max(2, kernel // 2)
    small = cv2.resize(
        frame, (max(1, width // block), max(1, height // block)), interpolation=cv2.INTER_AREA
    )
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST)


def desaturate(frame: np.ndarray, kernel: int) -> np.ndarray:
    """Grey, lightly blurred background. frame: HxWx3 uint8 BGR -> HxWx3 uint8 BGR."""
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    return cv2.cvtColor(blur(grey, max(3, (kernel // 3) | 1)), cv2.COLOR_GRAY2BGR)


def parse_color(text: str) -> tuple[int, int, int]:
    """'#RRGGBB' (or 'RRGGBB') -> (B, G, R) ints for OpenCV."""
    value = text.strip().lstrip("#")
    if len(value) != 6 or any(c not in "0123456789abcdefABCDEF" for c in value):
        raise UserError(f"--color must look like #RRGGBB, not {text!r}")
    red, green, blue = (int(value[i : i + 2], 16) for i in (0, 2, 4))
    return blue, green, red


def load_background(path: str | Path) -> np.ndarray:
    """Read a background picture (HxWx3 uint8 BGR; grey or with alpha is made BGR) or raise UserError."""
    file = Path(path)
    if not file.exists():
        raise UserError(f"--background {path}: file not found")
    if file.is_dir():
        raise UserError(f"--background {path} is a folder; give a picture file (png, jpg...)")
    try:
        image = cv2.imread(str(file), cv2.IMREAD_COLOR)
    except cv2.error:
        image = None
    if image is None or image.size == 0:
        raise UserError(f"--background {path}: cannot decode it as a picture (png, jpg, bmp, webp, tiff)")
    return image


def cover(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale and centre-crop ``image`` so it covers (W, H) = size without distortion."""
    width, height = size
    scale = max(width / image.shape[1], height / image.shape[0])
    scaled = cv2.resize(
        image,
        (max(width, round(image.shape[1] * scale)), max(height, round(image.shape[0] * scale))),
        interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
    )
    top = (scaled.shape[0] - height) // 2
    left = (scaled.shape[1] - width) // 2
    return np.ascontiguousarray(scaled[top : top + height, left : left + width])


class _ConstantBackground:
    """A background that does not depend on the frame (a colour or a picture), cached per frame size."""

    def __init__(self, make: Callable[[tuple[int, int]], np.ndarray]) -> None:
        self._make = make
        self._cached: np.ndarray | None = None

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        size = (frame.shape[1], frame.shape[0])
        if self._cached is None or self._cached.shape[:2] != frame.shape[:2]:
            self._cached = self._make(size)
        return self._cached


def make_effect(
    name: str,
    kernel: int = 41,
    color: str = "#00b140",
    background: np.ndarray | None = None,
) -> Effect:
    """The background effect called ``name`` (one of EFFECT_NAMES) as a callable frame -> background."""
    if name == "blur":
        return lambda frame: blur(frame, kernel)
    if name == "pixelate":
        return lambda frame: pixelate(frame, kernel)
    if name == "desaturate":
        return lambda frame: desaturate(frame, kernel)
    if name == "color":
        bgr = parse_color(color)
        return _ConstantBackground(lambda size: np.full((size[1], size[0], 3), bgr, np.uint8))
    if name == "image":
        if background is None:
            raise UserError("--effect image needs --background FILE")
        picture = background
        return _ConstantBackground(lambda size: cover(picture, size))
    raise UserError(f"unknown effect {name!r}; choose one of {', '.join(EFFECT_NAMES)}")
