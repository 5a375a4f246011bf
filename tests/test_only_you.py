""""Only you" on real footage: a passer-by walks behind the user, through the real program.

The walks are those of ``benchmarks/separation.py``: the person of eg1800 portrait 2i+1, cut out by its
hand-made mask, walks left to right behind the user of portrait 2i in 30 frames, so every pixel's owner is
known (1 = the user, 2 = the passer-by where seen). Two kinds of walk:

- *close*: the benchmark's own, scaled to 60 % and standing on the frame's bottom edge, as someone passing
  right behind the chair; the passer-by touches the user in almost every frame;
- *far*: scaled to 40 % and higher in the picture, as someone crossing the room; apart from the user in
  part of the walk.

All walks go through ``python instance_segmentation.py --input WALKS/ --mask-output MATTES/`` in one batch
(each file starts afresh, as separate recordings), and the matte says who was kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import PORTRAITS, needs_eval, run_cli
from faultkit import read_video, write_video

from benchmarks.separation import passer_by_frame

pytestmark = needs_eval

WALKS = 10  # pairs of portraits per kind of walk (the benchmark's number)
STEPS = 30  # frames per walk
SCORED = 0.005  # frames where less than this share of the image is passer-by are not judged (entering, leaving)
APART_PX = 20  # a passer-by farther than this from the user is apart: nothing of them may be kept
KINDS = {"close": dict(scale=0.6, top=None), "far": dict(scale=0.4, top=20)}


@dataclass
class Judged:
    """One frame of a walk, judged: what share of the user's core and of the passer-by the matte kept."""

    walk: str
    step: int
    user_kept: float
    passer_by_kept: float
    apart: bool  # the passer-by is more than APART_PX from the user everywhere


@pytest.fixture(scope="module")
def judged(tmp_path_factory) -> list[Judged]:
    """Build the walks, filter them all with the real CLI in one batch, judge every scored frame."""
    folder = tmp_path_factory.mktemp("walks")
    (folder / "in").mkdir()
    images = sorted((PORTRAITS / "images").glob("*.jpg"))[: 2 * WALKS]
    assert len(images) == 2 * WALKS, f"{PORTRAITS} has fewer than {2 * WALKS} portraits"

    def read(path: Path) -> tuple[np.ndarray, np.ndarray]:
        mask = cv2.imread(str(PORTRAITS / "masks" / f"{path.stem}.png"), cv2.IMREAD_GRAYSCALE)
        return cv2.imread(str(path)), mask > 127

    owners: dict[str, list[np.ndarray]] = {}
    for kind, how in KINDS.items():
        for number, (user_path, other_path) in enumerate(zip(images[::2], images[1::2], strict=True)):
            (user, user_mask), (other, other_mask) = read(user_path), read(other_path)
            walker = round(np.ptp(np.nonzero(other_mask)[1]) * how["scale"])
            frames, truths = [], []
            for step in range(STEPS):
                x = round(-walker + step * (user.shape[1] + walker) / (STEPS - 1))
                frame, truth = passer_by_frame(user, user_mask, other, other_mask, x, **how)
                frames.append(frame)
                truths.append(truth)
            name = f"{kind}-{number:02d}"
            # MJPG at OpenCV's quality: the person's edges survive; the truth is the composite's, not re-derived.
            write_video(folder / "in" / f"{name}.avi", frames)
            owners[name] = truths
    result = run_cli("--input", str(folder / "in"), "--mask-output", str(folder / "mattes"), "--no-display",
                     timeout=600)
    assert result.returncode == 0, result.stderr
    judged = []
    core_kernel = np.ones((15, 15), np.uint8)  # the user's core: away from the edge the matte may soften
    for name, truths in owners.items():
        mattes = read_video(folder / "mattes" / f"{name}.avi")
        assert len(mattes) == STEPS, f"{name}: {len(mattes)} mattes"
        for step, (matte, truth) in enumerate(zip(mattes, truths, strict=True)):
            user, passer_by = truth == 1, truth == 2
            if np.count_nonzero(passer_by) < SCORED * truth.size:
                continue
            kept = matte[..., 0] > 127
            core = cv2.erode(user.astype(np.uint8), core_kernel) > 0
            distance = cv2.distanceTransform((~user).astype(np.uint8), cv2.DIST_L2, 5)
            judged.append(Judged(name, step, float(kept[core].mean()), float(kept[passer_by].mean()),
                                 bool(distance[passer_by].min() > APART_PX)))
    assert len(judged) > WALKS * STEPS, "most frames of the walks are judged"
    return judged


def test_the_user_is_never_hidden_and_never_swapped_for_the_passer_by(judged) -> None:
    worst = min(judged, key=lambda frame: frame.user_kept)
    assert worst.user_kept >= 0.9, f"{worst}: the user is (partly) hidden"
    swapped = [frame for frame in judged if frame.passer_by_kept > 0.5 and frame.user_kept < 0.5]
    assert not swapped, f"the passer-by was kept instead of the user: {swapped[:3]}"


def test_a_passer_by_apart_from_the_user_is_hidden(judged) -> None:
    apart = [frame for frame in judged if frame.apart]
    assert len(apart) >= 20, f"only {len(apart)} frames with the passer-by apart: the walks do not test it"
    shown = [frame for frame in apart if frame.passer_by_kept > 0.05]
    assert not shown, f"{len(shown)} of {len(apart)} frames keep the passer-by: {shown[:3]}"


@pytest.mark.xfail(strict=True, reason=(
    "issue 12: a passer-by touching the user merges into the user's region in the selfie map (measured: 39 % "
    "of the passer-by kept on average, more than half of them in 67 of 187 close-walk frames); the people "
    "stage is to fix it. Remove this mark when it lands: this test then has to pass."))
def test_a_passer_by_touching_the_user_is_hidden(judged) -> None:
    touching = [frame for frame in judged if not frame.apart]
    shown = [frame for frame in touching if frame.passer_by_kept > 0.05]
    assert not shown, f"{len(shown)} of {len(touching)} frames keep the passer-by: {shown[:3]}"


def test_a_touching_passer_by_is_kept_no_more_than_measured(judged) -> None:
    """The upper bound the strict xfail above lacks: until the people stage hides a passer-by who touches the
    user, it may keep part of them, but no more than measured (issue 22 item 14): a change that keeps more (a
    shorter user-switch delay, a weaker merge guard) fails here, while the xfail would still "fail as expected".
    Measured on these walks: 28 % of the passer-by kept on average, more than half of them in 24 % of the 384
    touching frames, with the silhouette prior the program builds (people/prior.py, armed by a sign of someone
    else); 35 % and 33 % without it (the bounds were 0.42 and 0.40 then: removing the prior fails here now).
    The bounds leave a margin for other machines' decoders."""
    touching = [frame for frame in judged if not frame.apart]
    mean = float(np.mean([frame.passer_by_kept for frame in touching]))
    most = sum(frame.passer_by_kept > 0.5 for frame in touching) / len(touching)
    assert mean <= 0.35, f"the touching passer-by: {mean:.0%} kept on average"
    assert most <= 0.30, f"more than half of the passer-by kept in {most:.0%} of the touching frames"
