"""The guided filter (He et al., *Guided Image Filtering*, TPAMI 2013; He & Sun, *Fast Guided Filter*, 2015) on
float32 planes: fit alpha ~ a . guide + b in every window of one grid, so that the coefficients can be resized
and applied elsewhere (``matte`` applies them to the full-size frame). Pure functions, plus ``Scratch``, the
reusable planes they compute into.

guide: hxw (grey) or hxwx3 (colour) float32 in [0, 1]; source: hxw float32 in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


def shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-average ``image`` down to ``size`` (w, h): halvings first (OpenCV's INTER_AREA has a fast path
    for exactly 2x, several times cheaper than one big-factor shrink), then one INTER_AREA step."""
    while image.shape[1] >= 2 * size[0] and image.shape[0] >= 2 * size[1]:
        image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
    if image.shape[1] == size[0] and image.shape[0] == size[1]:
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


_KERNELS: dict[int, np.ndarray] = {}


def box_mean(image: np.ndarray, radius: int, out: np.ndarray | None = None) -> np.ndarray:
    """Mean over a (2r+1)^2 window; reflecting borders keep the mean unbiased at the frame edge.

    One float channel: two 1-D passes (``sepFilter2D``), faster than ``cv2.blur``. Up to 4 channels: one
    ``cv2.blur`` call, cheaper than one call per channel (more than 4 channels is much slower: don't).
    """
    if image.ndim == 3:
        return cv2.blur(image, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)
    if radius not in _KERNELS:
        _KERNELS[radius] = np.full(2 * radius + 1, 1.0 / (2 * radius + 1), np.float32)
    kernel = _KERNELS[radius]
    return cv2.sepFilter2D(image, -1, kernel, kernel, dst=out, borderType=cv2.BORDER_REFLECT)


def _steepen(q: np.ndarray, slope: float) -> np.ndarray:
    return np.clip((q - 0.5) * slope + 0.5, 0.0, 1.0)


def guided_coefficients(
    guide: np.ndarray, source: np.ndarray, radius: int, eps: float, passes: int = 1, pass_sharpen: float = 2.0
) -> tuple[np.ndarray, np.ndarray]:
    """Grey-guided filter coefficients (window means of a, b): the filtered source is a * guide + b.

    guide, source: hxw float32 (guide in [0, 1]); radius: window radius in pixels of this grid; eps: the
    regulariser (a variance, in guide units squared): windows whose guide varies less than ~sqrt(eps) are
    smoothed, windows with a stronger edge pass it into the output. ``passes`` > 1 filters the filtered
    source again, its ramp first steepened by ``pass_sharpen`` around 0.5. Returns two hxw float32 arrays.
    """
    # One 4-channel box for the window means of I, I^2, p and I*p.
    means = box_mean(cv2.merge((guide, guide * guide, source, guide * source)), radius)
    mean_i = means[..., 0]
    inv_var = 1.0 / (means[..., 1] - mean_i * mean_i + eps)
    mean_p, corr_ip = means[..., 2], means[..., 3]
    a = b = mean_i  # (set below; the loop runs at least once)
    for index in range(max(1, passes)):
        if index > 0:
            source = _steepen(a * guide + b, pass_sharpen)
            mean_p, corr_ip = box_mean(source, radius), box_mean(guide * source, radius)
        a = (corr_ip - mean_i * mean_p) * inv_var
        b = mean_p - a * mean_i
        a, b = box_mean(a, radius), box_mean(b, radius)
    return a, b


def color_guided_coefficients(
    channels: Sequence[np.ndarray], source: np.ndarray, radius: int, eps: float, passes: int = 1,
    pass_sharpen: float = 2.0,
) -> np.ndarray:
    """Colour-guided filter coefficients: hxwx4 float32 (a_0, a_1, a_2, b), filtered = sum_c a_c I_c + b.

    channels: the guide's 3 colour planes, each hxw float32 in [0, 1]; source: hxw float32. Same meaning of
    radius, eps, passes and pass_sharpen as ``guided_coefficients``. See ``color_guided_planes``.
    """
    return cv2.merge(color_guided_planes(channels, source, radius, eps, passes, pass_sharpen))


def color_guided_planes(
    channels: Sequence[np.ndarray], source: np.ndarray, radius: int, eps: float, passes: int = 1,
    pass_sharpen: float = 2.0, scratch: Scratch | None = None,
) -> list[np.ndarray]:
    """``color_guided_coefficients`` as 4 separate hxw float32 planes [a_0, a_1, a_2, b].

    Per pixel, the 3x3 window covariance of the guide (+ eps I) is inverted in closed form (symmetric,
    cofactors). Every window mean is one ``sepFilter2D`` on one contiguous plane: on the 160x120 work grid
    that is ~12 us a plane, where merging planes into a 4-channel image, ``cv2.blur`` and splitting it
    back cost ~0.25 ms a group (OpenCV 5's split/merge of float images are slow) -- 1.3 ms of the old
    2-ms coefficient step on an AVX2 box.
    """
    # Every plane lives in ``scratch`` (kept by the refiner across frames): ~30 fresh 77 kB numpy temporaries a
    # frame made glibc hand memory back and page-fault it in again, ~0.4 ms of this step's ~1 ms (AVX2 box).
    # The arithmetic and its order are the plain formulas' (the same bits).
    pool = Scratch(source.shape) if scratch is None else scratch
    pool.start(source.shape)
    new = pool.get
    t1 = new()  # the one temporary, reused
    c0, c1, c2 = channels

    def box(image: np.ndarray) -> np.ndarray:
        return box_mean(image, radius, out=new())

    def covariance(x: np.ndarray, y: np.ndarray, mean_x: np.ndarray, mean_y: np.ndarray) -> np.ndarray:
        out = box(np.multiply(x, y, out=t1))
        out -= np.multiply(mean_x, mean_y, out=t1)
        return out

    def difference_of_products(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:
        out = np.multiply(a, b, out=new())  # a * b - c * d
        out -= np.multiply(c, d, out=t1)
        return out

    m0, m1, m2 = box(c0), box(c1), box(c2)
    v00 = covariance(c0, c0, m0, m0)
    v00 += eps
    v01 = covariance(c0, c1, m0, m1)
    v02 = covariance(c0, c2, m0, m2)
    v11 = covariance(c1, c1, m1, m1)
    v11 += eps
    v12 = covariance(c1, c2, m1, m2)
    v22 = covariance(c2, c2, m2, m2)
    v22 += eps
    # Inverse of the symmetric covariance via cofactors, the determinant folded in.
    i00 = difference_of_products(v11, v22, v12, v12)
    i01 = difference_of_products(v02, v12, v01, v22)
    i02 = difference_of_products(v01, v12, v02, v11)
    inv_det = np.multiply(v00, i00, out=new())
    inv_det += np.multiply(v01, i01, out=t1)
    inv_det += np.multiply(v02, i02, out=t1)
    np.divide(1.0, inv_det, out=inv_det)
    i00 *= inv_det
    i01 *= inv_det
    i02 *= inv_det
    i11 = difference_of_products(v00, v22, v02, v02)
    i11 *= inv_det
    i12 = difference_of_products(v01, v02, v00, v12)
    i12 *= inv_det
    i22 = difference_of_products(v00, v11, v01, v01)
    i22 *= inv_det
    planes: list[np.ndarray] = []
    for _ in range(max(1, passes)):
        if planes:
            a0, a1, a2, b = planes
            source = _steepen(a0 * c0 + a1 * c1 + a2 * c2 + b, pass_sharpen)
        mean_p = box(source)
        cov0 = covariance(c0, source, m0, mean_p)
        cov1 = covariance(c1, source, m1, mean_p)
        cov2 = covariance(c2, source, m2, mean_p)
        slopes = []
        for row in ((i00, i01, i02), (i01, i11, i12), (i02, i12, i22)):
            a = np.multiply(row[0], cov0, out=new())  # sum_k row_k cov_k, left to right
            a += np.multiply(row[1], cov1, out=t1)
            a += np.multiply(row[2], cov2, out=t1)
            slopes.append(a)
        b = np.subtract(mean_p, np.multiply(slopes[0], m0, out=t1), out=new())
        b -= np.multiply(slopes[1], m1, out=t1)
        b -= np.multiply(slopes[2], m2, out=t1)
        planes = [box(slopes[0]), box(slopes[1]), box(slopes[2]), box(b)]
    return planes


class Scratch:
    """Float32 planes of one shape, handed out in order and kept for the next call (``start`` rewinds)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape
        self.planes: list[np.ndarray] = []
        self.next = 0

    def start(self, shape: tuple[int, ...]) -> None:
        if shape != self.shape:
            self.shape, self.planes = shape, []
        self.next = 0

    def get(self) -> np.ndarray:
        if self.next == len(self.planes):
            self.planes.append(np.empty(self.shape, np.float32))
        self.next += 1
        return self.planes[self.next - 1]


def guided_filter(guide: np.ndarray, source: np.ndarray, radius: int, eps: float, passes: int = 1) -> np.ndarray:
    """Guided filter on one grid: guide hxw (grey) or hxwx3 (colour) float32 in [0, 1], source hxw -> hxw."""
    if guide.ndim == 3:
        channels = [np.ascontiguousarray(guide[..., k]) for k in range(3)]
        c = color_guided_coefficients(channels, source, radius, eps, passes)
        return (c[..., :3] * guide).sum(axis=2) + c[..., 3]
    a, b = guided_coefficients(guide, source, radius, eps, passes)
    return a * guide + b
