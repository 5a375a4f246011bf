"""Background effects: what everything except the user becomes.

Every effect is a callable ``effect(frame, alpha=None) -> background``: frame and background HxWx3 uint8 BGR of
the same size; alpha, if given, HxW float32 in [0, 1] (or any grid spanning the frame), the person matte the
compositor will put the sharp person back through. Made by ``make_effect``.

**Strength is relative to the frame.** ``kernel`` means "a kernel x kernel Gaussian on the frame scaled to 600 px
wide" (the seed's working width): at 1920 px wide the blur is 3.2 times wider in pixels, so that the same
flag hides the same amount of detail at every frame size. Pixelate's blocks scale the same way.

**Privacy floor.** No effect goes under ``KERNEL_FLOOR`` (21 at 600 px): a hidden region then keeps at most
about 2x the detail of the seed's look (41 at 600 px). The effects raise a weaker kernel to the floor
themselves; the CLI and the keys say so or stop there.

**No halo.** Given the matte, blur, pixelate and desaturate average the background only: each output pixel is
a weighted mean of frame pixels with weights w = 1 - 2 alpha, clipped to [0, 1] (``sum(w * frame) / sum(w)``
over the kernel), so the
person's own colours do not spread into the room around them. Without a matte (``hide_whole_frame``) the whole
frame is averaged.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from ..errors import UserError
from ..imagefiles import read_image
from .matte import support_of
from .pyramid import halvings

Effect = Callable[..., np.ndarray]
EFFECT_NAMES = ("blur", "pixelate", "color", "image", "desaturate")
MAX_KERNEL = 501
# The default is twice the tutorial's 41: at 41 a hidden face is still a face-shaped blob that a face detector
# (BlazeFace) finds in 10 of 13 cases on the three-person clip and 7 of 7 on a close-up; 81 is the smallest
# kernel where it finds none at 640, 1280 or 1920 px wide (benchmarks/RESULTS.md, "blur kernel needed").
# It also costs less (a coarser working grid). 41 remains the reference of the floor and of --kernel's scale.
DEFAULT_KERNEL = 81
KERNEL_FLOOR = 21  # at 600 px wide; see the module docstring and benchmarks/privacy.py
REFERENCE_WIDTH = 600  # the seed's working width: --kernel K means K at this width
# Pixelate's block edge, per unit of kernel, at 600 px wide (the seed's kernel/2, now scaled to the frame).
# The block means then carry about as much of the room as the blur of the same kernel (benchmarks/privacy.py:
# "block means"; larger blocks did not lower it further on the photos). The blocks are the effect's look.
BLOCK_PER_KERNEL = 0.5
# Pixelate's block edges are softened by a Gaussian of this sigma, in px at 600 px wide (scaled to the frame):
# a hard edge is all Laplacian (12-100x the seed's detail, benchmarks/privacy.py); softened, the output meets
# the same detail target as the blur while the blocks stay plain to see.
BLOCK_SOFTEN = 3.0
BLOCK_FILL = 0.1  # weight of the neighbouring blocks' background in a block's mean (see _block_means)
# The Gaussian runs on a copy shrunk so that its sigma there is about SMALL_SIGMA pixels: the result has no
# detail finer than the kernel anyway, and the cost no longer grows with the kernel or the frame.
SMALL_SIGMA = 1.5
_EPS = 1e-3  # weight below which a pixel counts as all person (deep inside the matte)


# id(background) -> a weak reference to it, for each background an effect made afresh and nobody has blended yet.
_FRESH: dict[int, weakref.ref] = {}


def _fresh(background: np.ndarray) -> np.ndarray:
    """Note ``background`` (a new array made by this call of an effect) as the compositor's to write into."""
    key = id(background)
    # mypy cannot type a lambda with a default-argument parameter:
    _FRESH[key] = weakref.ref(background, lambda _, key=key: _FRESH.pop(key, None))  # type: ignore[misc]
    return background


def is_fresh(background: np.ndarray) -> bool:
    """True if ``background`` is a new array an effect made for this call and nobody has blended yet: its
    owner may write into it (the face veil does); a constant effect's cached picture is not."""
    ref = _FRESH.get(id(background))
    return ref is not None and ref() is background


def take_fresh(background: np.ndarray) -> bool:
    """True, once, if ``background`` is a new array an effect made (blur, pixelate, desaturate): the compositor
    may then write the output into it instead of copying it (it is that call's own array, made for this frame).
    False for anything else, and for the same array asked again (a second blend of it copies it)."""
    ref = _FRESH.pop(id(background), None)
    return ref is not None and ref() is background


def check_kernel(kernel: int) -> int:
    """The blur kernel must be a positive odd number (as cv2.GaussianBlur wants), at most MAX_KERNEL."""
    if kernel <= 0 or kernel % 2 == 0 or kernel > MAX_KERNEL:
        raise UserError(f"--kernel must be a positive odd number up to {MAX_KERNEL}, not {kernel}")
    return kernel


def sigma_at(kernel: int, width: int) -> float:
    """The Gaussian sigma, in pixels of a frame ``width`` wide, of ``kernel`` (at 600 px wide, floor applied).

    OpenCV's own sigma for a kernel size (cv2.getGaussianKernel with sigma 0), scaled to the frame.
    """
    kernel = max(int(kernel), KERNEL_FLOOR)
    return (0.3 * ((kernel - 1) * 0.5 - 1) + 0.8) * width / REFERENCE_WIDTH


def block_at(kernel: int, width: int) -> int:
    """Pixelate's block edge in pixels of a frame ``width`` wide (at least 2)."""
    return max(2, round(max(int(kernel), KERNEL_FLOOR) * BLOCK_PER_KERNEL * width / REFERENCE_WIDTH))


def _small_alpha(alpha: np.ndarray | None, size: tuple[int, int]) -> np.ndarray | None:
    """The background weight 1 - alpha on a (w, h) grid, float32 in [0, 1]; None without a matte."""
    if alpha is None:
        return None
    support = support_of(alpha)
    if support is not None:
        shrunk = _shrunk_support(alpha, support, size)
        if shrunk is not None:
            alpha = shrunk
    if alpha.dtype == np.uint8:
        alpha = alpha.astype(np.float32) * np.float32(1 / 255)
    elif alpha.dtype != np.float32:
        alpha = alpha.astype(np.float32)
    while alpha.shape[1] >= 2 * size[0] and alpha.shape[0] >= 2 * size[1]:  # fast exact halvings first
        alpha = cv2.resize(alpha, (alpha.shape[1] // 2, alpha.shape[0] // 2), interpolation=cv2.INTER_AREA)
    if alpha.shape[1] != size[0] or alpha.shape[0] != size[1]:
        shrinking = alpha.shape[1] >= size[0]
        alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    # Weight 1 - 2 alpha (clipped): a pixel counts as background in proportion to how little of the person it
    # holds, and the edge pixels, which mix the person's colours in (alpha >= 0.5 is the person's side), not at
    # all. NaN counts as background (weight 1): a broken matte never hides the room less.
    weight = np.nan_to_num(alpha, nan=0.0)
    weight *= -2.0
    weight += 1.0
    return np.clip(weight, 0.0, 1.0, out=weight)


def _shrunk_support(alpha: np.ndarray, support: tuple[int, int, int, int], size: tuple[int, int]
                    ) -> np.ndarray | None:
    """The refiner's matte (HxW float32, 0 outside ``support``) area-halved down to (w, h) = size, halving only
    the support: the same bytes as halving all of it (each exact halving averages aligned 2x2 blocks; a block
    outside the support is 0). None unless H x W is exactly size times 2^k (no odd size on the way)."""
    steps = 0
    while (size[0] << steps, size[1] << steps) != (alpha.shape[1], alpha.shape[0]):
        if size[0] << steps > alpha.shape[1] or size[1] << steps > alpha.shape[0]:
            return None
        steps += 1
    if steps == 0 or alpha.dtype != np.float32:
        return None
    step = 1 << steps
    x0, y0, x1, y1 = support
    # The support widened to whole blocks of step x step pixels.
    x0, y0 = x0 // step * step, y0 // step * step
    x1, y1 = min(-(-x1 // step) * step, alpha.shape[1]), min(-(-y1 // step) * step, alpha.shape[0])
    small = np.zeros((size[1], size[0]), np.float32)
    if x1 <= x0 or y1 <= y0:
        return small
    part = alpha[y0:y1, x0:x1]
    for _ in range(steps):
        part = cv2.resize(part, (part.shape[1] // 2, part.shape[0] // 2), interpolation=cv2.INTER_AREA)
    small[y0 // step : y1 // step, x0 // step : x1 // step] = part
    return small


def _weighted(small: np.ndarray, weight: np.ndarray | None, smooth: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """smooth(small * w) / smooth(w): the mean of the background only (w ~ 0 on the person).

    small: hxwx3 (or hxw) uint8; weight: hxw float32 or None -> same shape as small, uint8.
    """
    if weight is None:
        return smooth(small)
    image = small.astype(np.float32)
    numerator = smooth(image * weight[..., None] if image.ndim == 3 else image * weight)
    denominator = smooth(weight)
    # (num + eps * pixel) / (den + eps): the weighted mean wherever there is background within the kernel,
    # the pixel itself deep inside the person (where the compositor shows the person anyway), and never a
    # division by zero. No split/merge (slow in OpenCV 5) and no third blur: ~0.3 ms at 160x120.
    numerator += _EPS * image
    denominator += _EPS
    if image.ndim == 3:
        denominator = denominator[..., None]
    return cv2.convertScaleAbs(numerator / denominator)


def _shrunk(frame: np.ndarray, factor: int) -> np.ndarray:
    """frame shrunk by ``factor`` (a power of two) with area averaging, in halvings: OpenCV's INTER_AREA has
    a fast path for exactly 2x, several times cheaper than one bigger or non-integer step. The halvings are
    shared with the matte's (``pyramid.halvings``: the same frame is halved once a frame, not twice)."""
    steps = 0
    while factor > 1 and frame.shape[0] >> steps >= 2 and frame.shape[1] >> steps >= 2:
        steps += 1
        factor //= 2
    return halvings(frame).level(steps) if steps else frame


def _power_of_two(value: float, limit: int) -> int:
    """The largest power of two <= value (at least 1, at most limit)."""
    factor = 1
    while factor * 2 <= value and factor * 2 <= limit:
        factor *= 2
    return factor


def blur(frame: np.ndarray, kernel: int, alpha: np.ndarray | None = None) -> np.ndarray:
    """Gaussian blur of strength ``kernel`` (at 600 px wide), of the background only if ``alpha`` is given.

    frame: HxWx3 (or HxW) uint8; alpha: HxW float32 [0,1] or None -> the frame's shape, uint8.
    Looks like ``cv2.GaussianBlur`` with the kernel scaled to the frame, at a fraction of the cost: the blur
    runs on a copy shrunk by a power of two (sigma there >= SMALL_SIGMA px), then is enlarged (``_enlarge``).
    """
    return _fresh(_blurred(frame, kernel, alpha))


def _blurred(frame: np.ndarray, kernel: int, alpha: np.ndarray | None, grey: bool = False) -> np.ndarray:
    """``blur``; with ``grey``, of the frame's grey (HxW uint8 out), taken on the shrunk copy: the grey of an
    area mean is the area mean of the grey (to rounding), and the full-size conversion is saved."""
    height, width = frame.shape[:2]
    sigma = sigma_at(kernel, width)
    factor = _power_of_two(sigma / SMALL_SIGMA, min(height, width) // 8)
    small = _shrunk(frame, factor)
    if grey and small.ndim == 3:
        small = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    small_sigma = sigma * small.shape[1] / width

    def smooth(image: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(image, (0, 0), small_sigma, borderType=cv2.BORDER_REFLECT)

    out = _weighted(small, _small_alpha(alpha, (small.shape[1], small.shape[0])), smooth)
    return _enlarge(out, (width, height))


def _enlarge(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """image enlarged to (w, h) = size by Gaussian pyramid steps (``cv2.pyrUp``, exact 2x), then bilinear for
    any remainder. A single bilinear 4x or 8x step leaves a kink every 4 or 8 px, which the eye and the
    detail measure see as a grid (1.29x the seed's detail on the worst photo, 1.07x with pyrUp; +0.1 ms)."""
    while image.shape[1] * 2 <= size[0] and image.shape[0] * 2 <= size[1]:
        image = cv2.pyrUp(image)
    if image.shape[1] != size[0] or image.shape[0] != size[1]:
        image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
    return image


def pixelate(frame: np.ndarray, kernel: int, alpha: np.ndarray | None = None) -> np.ndarray:
    """Blocks of ``block_at(kernel, width)`` pixels with soft edges, averaging the background only if ``alpha``
    is given.

    frame: HxWx3 uint8 BGR; alpha: HxW float32 [0,1] or None -> HxWx3 uint8 BGR.
    Each block is the (background-weighted) mean of its pixels; blocks that are nearly all person take the
    background around them (``BLOCK_FILL``), so the softened edges do not spread the person into the room. The
    block grid is then softened by a Gaussian of ``BLOCK_SOFTEN`` px at 600 px wide: a hard block edge is a
    one-pixel step of up to the whole grey range, far more "detail" than any room keeps under a blur.
    """
    height, width = frame.shape[:2]
    block = block_at(kernel, width)
    grid = (max(1, round(width / block)), max(1, round(height / block)))
    # Weighting needs the products at a resolution finer than the blocks: shrink to >= 8 px per block first.
    small = _shrunk(frame, _power_of_two(block / 8, min(height, width) // 8))
    blocks = _block_means(small, _small_alpha(alpha, (small.shape[1], small.shape[0])), grid)
    soften = BLOCK_SOFTEN * width / REFERENCE_WIDTH  # sigma in pixels of this frame
    if soften <= 0:
        return _fresh(cv2.resize(blocks, (width, height), interpolation=cv2.INTER_NEAREST))
    # The blocks are drawn on a copy shrunk by a power of two and enlarged by pyrUp steps, which soften the
    # edges themselves (each step a Gaussian of ~1 px at its output: variance (factor^2 - 1) / 3 frame px^2
    # in all); a small Gaussian there makes up the rest. As cheap as the blur: no full-size filtering.
    factor = 1
    while (2 * factor <= block / 8 and ((2 * factor) ** 2 - 1) / 3 <= soften**2
           and min(height, width) // (2 * factor) >= 8):
        factor *= 2
    image = cv2.resize(blocks, (width // factor, height // factor), interpolation=cv2.INTER_NEAREST)
    rest = np.sqrt(max(0.0, soften**2 - (factor**2 - 1) / 3)) / factor
    if rest > 0.3:
        image = cv2.GaussianBlur(image, (0, 0), rest, borderType=cv2.BORDER_REFLECT)
    return _fresh(_enlarge(image, (width, height)))


def _block_means(small: np.ndarray, weight: np.ndarray | None, grid: tuple[int, int]) -> np.ndarray:
    """Per block of ``grid`` (w, h), the mean of ``small`` (hxwx3 uint8) weighted by ``weight`` (hxw float32 or
    None) -> grid-sized hxwx3 uint8. Blocks with little weight (all person) are filled from their neighbours."""
    if weight is None:
        return cv2.resize(small, grid, interpolation=cv2.INTER_AREA)
    plain = cv2.resize(small, grid, interpolation=cv2.INTER_AREA).astype(np.float32)
    # float32 in, float32 out (cv2's stubs allow integer arrays too, to which += float would not apply)
    numerator: np.ndarray = cv2.resize(small.astype(np.float32) * weight[..., None], grid, interpolation=cv2.INTER_AREA)
    denominator: np.ndarray = cv2.resize(weight, grid, interpolation=cv2.INTER_AREA)
    if BLOCK_FILL > 0:
        # Normalised convolution on the block grid: a block's own background counts fully, its neighbours'
        # with BLOCK_FILL; a block with no background of its own thus takes its neighbours'.
        numerator += BLOCK_FILL * cv2.GaussianBlur(numerator, (0, 0), 1.0, borderType=cv2.BORDER_REFLECT)
        denominator += BLOCK_FILL * cv2.GaussianBlur(denominator, (0, 0), 1.0, borderType=cv2.BORDER_REFLECT)
    numerator += _EPS * plain  # deep inside the person: the plain mean (the compositor shows the person there)
    denominator += _EPS
    return cv2.convertScaleAbs(numerator / denominator[..., None])


def desaturate(frame: np.ndarray, kernel: int, alpha: np.ndarray | None = None) -> np.ndarray:
    """Grey background blurred like ``blur`` (the floor applies: grey alone hides nobody).

    frame: HxWx3 uint8 BGR; alpha: HxW float32 [0,1] or None -> HxWx3 uint8 BGR (grey).
    """
    # Grey taken on the shrunk copy (shared halvings, one channel to enlarge): ~0.3 ms less at 1280x720.
    return _fresh(cv2.cvtColor(_blurred(frame, kernel, alpha, grey=True), cv2.COLOR_GRAY2BGR))


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
        image = read_image(file)  # by its bytes: cv2.imread crashes on a name that is not UTF-8
    except (cv2.error, OSError):
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

    def __call__(self, frame: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
        size = (frame.shape[1], frame.shape[0])
        if self._cached is None or self._cached.shape[:2] != frame.shape[:2]:
            self._cached = self._make(size)
        return self._cached


def make_effect(
    name: str,
    kernel: int = DEFAULT_KERNEL,
    color: str = "#00b140",
    background: np.ndarray | None = None,
) -> Effect:
    """The background effect called ``name`` (one of EFFECT_NAMES) as a callable
    ``(frame, alpha=None) -> background``. ``kernel`` is the strength at 600 px wide, raised to KERNEL_FLOOR."""
    kernel = max(int(kernel), KERNEL_FLOOR)
    if name == "blur":
        return lambda frame, alpha=None: blur(frame, kernel, alpha)
    if name == "pixelate":
        return lambda frame, alpha=None: pixelate(frame, kernel, alpha)
    if name == "desaturate":
        return lambda frame, alpha=None: desaturate(frame, kernel, alpha)
    if name == "color":
        bgr = parse_color(color)
        return _ConstantBackground(lambda size: np.full((size[1], size[0], 3), bgr, np.uint8))
    if name == "image":
        if background is None:
            raise UserError("--effect image needs --background FILE")
        picture = background
        return _ConstantBackground(lambda size: cover(picture, size))
    raise UserError(f"unknown effect {name!r}; choose one of {', '.join(EFFECT_NAMES)}")
