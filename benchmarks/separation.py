"""Telling the user from the others, as ``benchmarks.quality`` scores it: "only you" scores (others hidden, the
user's IoU), a real person walked behind portrait users, and the lone user kept whole (no truth needed).

OURS is the program's own filter (``backends.cli_processor``), started afresh for each walk as for an input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from benchmarks import metrics
from benchmarks.backends import new_input, upsampled
from benchmarks.evalsets import _read, _sample
from privacy_filter.people.selection import UserSelector

PASSER_BY_SET = "eg1800_portrait_test"


@dataclass
class OnlyYou:
    """"Only you" scores on images with several annotated people (instances 1 = the main person)."""

    hidden: list[float] = field(default_factory=list)
    user_iou: list[float] = field(default_factory=list)
    hidden_px: int = 0
    others_px: int = 0

    def add(self, alpha: np.ndarray, instances: np.ndarray) -> None:
        others = instances >= 2
        shown = alpha > 0.5
        n_others = int(np.count_nonzero(others))
        n_hidden = n_others - int(np.count_nonzero(shown & others))
        self.hidden.append(n_hidden / n_others if n_others else 1.0)
        self.hidden_px += n_hidden
        self.others_px += n_others
        self.user_iou.append(metrics.iou(shown, instances == 1))


def only_you_table(rows: Sequence[tuple[str, OnlyYou, OnlyYou]]) -> list[str]:
    """rows: (label, raw scores, our scores)."""
    lines = [
        "| images | n | method | others hidden: mean | pooled | user IoU mean | median "
        + "| share with hidden >= 0.9 and user IoU >= 0.9 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, raw, ours in rows:
        for method, o in (("raw (keep all)", raw), ("ours", ours)):
            if not o.hidden:
                continue
            both = np.mean([(h >= 0.9) and (u >= 0.9) for h, u in zip(o.hidden, o.user_iou, strict=True)])
            lines.append(
                f"| {label} | {len(o.hidden)} | {method} | {np.mean(o.hidden):.3f} | "
                f"{o.hidden_px / max(1, o.others_px):.3f} | {np.mean(o.user_iou):.3f} | "
                f"{np.median(o.user_iou):.3f} | {both:.2f} |"
            )
    return lines if len(lines) > 2 else []


# --- "only you" with a passer-by: real portraits, a real person cut out and walked behind the user -------


def passer_by_frame(user: np.ndarray, user_mask: np.ndarray, other: np.ndarray, other_mask: np.ndarray,
                    x: int, scale: float, top: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``other``'s person (cut out by its mask, scaled) pasted behind the user, left edge at ``x``, top edge at
    ``top`` (None: standing on the bottom edge).

    user, other: HxWx3 uint8 BGR; masks: HxW bool. Returns (frame HxWx3 uint8 BGR, instances HxW uint8:
    1 = user, 2 = passer-by where seen, 0 = room).
    """
    height, width = user_mask.shape
    ys, xs = np.nonzero(other_mask)
    y1, y2, x1, x2 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    size = (max(1, round((x2 - x1) * scale)), max(1, round((y2 - y1) * scale)))
    person = cv2.resize(other[y1:y2, x1:x2], size, interpolation=cv2.INTER_AREA)
    cut = cv2.resize(other_mask[y1:y2, x1:x2].astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    frame, instances = user.copy(), user_mask.astype(np.uint8)
    top = max(0, height - size[1]) if top is None else top
    bottom = min(height, top + size[1])
    left, right = max(0, x), min(width, x + size[0])
    if right <= left or bottom <= top:
        return frame, instances
    region = (slice(top, bottom), slice(left, right))
    seen = cut[: bottom - top, left - x : right - x] & ~user_mask[region]
    frame[region][seen] = person[: bottom - top, left - x : right - x][seen]
    instances[region][seen] = 2
    return frame, instances


def passer_by_walks(backend, portraits: Path, walks: int, keep: str, refiner_kwargs: dict,
                    frames: int = 30, scale: float = 0.6) -> tuple[OnlyYou, OnlyYou, int, int]:
    """Walk the person of portrait 2i+1 behind the user of portrait 2i, left to right in ``frames`` frames.

    Each walk is one input to the program's filter (``backend.processor``). Returns (raw scores, our scores,
    frames scored, frames where ours showed the passer-by instead of the user). Frames where less than 0.5 %
    of the image is passer-by are not scored (entering, leaving).
    """
    images = sorted((portraits / "images").glob("*.jpg"))[: 2 * walks]
    raw_scores, our_scores, scored, switched = OnlyYou(), OnlyYou(), 0, 0
    processor = backend.processor(keep, refiner_kwargs)
    for user_path, other_path in zip(images[::2], images[1::2], strict=False):
        user, user_mask, _ = _read(_sample(portraits, user_path))
        other, other_mask, _ = _read(_sample(portraits, other_path))
        width = user.shape[1]
        walker_width = round(np.ptp(np.nonzero(other_mask)[1]) * scale)
        new_input(processor)
        for step in range(frames):
            x = round(-walker_width + step * (width + walker_width) / (frames - 1))
            frame, instances = passer_by_frame(user, user_mask, other, other_mask, x, scale)
            ours = processor.process(frame).alpha
            if np.count_nonzero(instances == 2) < 0.005 * instances.size:
                continue
            raw_scores.add(upsampled(backend.find(frame)[2], frame), instances)
            our_scores.add(ours, instances)
            scored += 1
            shown = ours > 0.5
            switched += bool(shown[instances == 2].mean() > 0.5 and shown[instances == 1].mean() < 0.5)
    processor.close()
    return raw_scores, our_scores, scored, switched


# --- the lone user is kept whole (no truth needed) ------------------------------------------------------------

LONE_USER_CLIPS = (Path("videos") / "asl_webcam_concat.mp4", Path("videos") / "head-pose-face-detection-male.mp4")


def user_cut(people: list, grid: tuple[int, int], kept: np.ndarray) -> float:
    """Share of all people's core (p > 0.5 on the model grid) that ``kept`` (hxw alpha of who stays sharp)
    hides. On a clip with one person in view this is the part of the user wrongly hidden."""
    if not people:
        return 0.0
    everyone = np.maximum.reduce([p.mask for p in people]) > 0.5
    total = np.count_nonzero(everyone)
    return float(np.count_nonzero(everyone & (kept <= 0.5)) / total) if total else 0.0


def lone_user_cut(find, clip: Path, keep: str = "user") -> np.ndarray:
    """user_cut per frame of a one-person clip, the selector running in order. find(frame) -> (people, grid)."""
    capture = cv2.VideoCapture(str(clip))
    selector, cuts = UserSelector(keep), []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        people, grid = find(frame)[:2]
        cuts.append(user_cut(people, grid, selector.select(people, grid)))
    capture.release()
    return np.array(cuts)
