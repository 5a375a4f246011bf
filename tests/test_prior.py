"""Time and motion cues (issue 24): the user's silhouette just before someone arrived (``people/prior.py``).

Real models on real frames: eg1800 portraits (the user of one, a passer-by cut out of the next and walked in
behind them, as ``benchmarks.only_you``'s walk-behind scenes; tune-half portraits) and the one-person webcam clip.
Each scene test runs main's stage (no prior) beside the stage with the prior on the same frames, so it fails
where the prior adds nothing.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import PORTRAITS, SPEED_CLIP, needs_eval

from benchmarks.evalsets import _read, _sample
from benchmarks.only_you import clip_frames, lone_user_cuts, portrait_pairs
from benchmarks.separation import passer_by_frame
from privacy_filter.people.prior import SilhouettePrior
from privacy_filter.people.selection import UserSelector
from privacy_filter.person import Person

WALK_FRAMES = 30
SCALE = 0.6  # as benchmarks.only_you.walk_behind


@pytest.fixture(scope="module")
def stages():
    """(main's stage before the prior: faces, pose masks, MoveNet; the same with the prior as the program builds
    it: time + motion, armed by a sign of someone else, no detector trigger)."""
    from privacy_filter.people.bodies import BodyMasker
    from privacy_filter.people.bodysplit import BodySplit
    from privacy_filter.people.faces import FaceDetector
    from privacy_filter.people.multipose import MultiPoseDetector
    from privacy_filter.people.stage import EDGE_SCORE, FacePeople
    from privacy_filter.pipeline import SelfiePeople
    from privacy_filter.segment.selfie import SelfieSegmenter

    segmenter, detector = SelfieSegmenter(), MultiPoseDetector()

    def stage(prior):
        return FacePeople(SelfiePeople(segmenter), FaceDetector(min_score=EDGE_SCORE), bodies=BodyMasker(),
                          multipose=BodySplit(detector), prior=prior, prior_trigger=False)

    return stage(None), stage(SilhouettePrior(motion=True, edge=True))


def walk(pair: int):
    """Portrait 2*pair's user, portrait 2*pair+1's person walked behind them left to right: (frame, instances)."""
    images = portrait_pairs(PORTRAITS, pair + 1, "tune")
    user, user_mask, _ = _read(_sample(PORTRAITS, images[2 * pair]))
    other, other_mask, _ = _read(_sample(PORTRAITS, images[2 * pair + 1]))
    width = user.shape[1]
    walker = round(np.ptp(np.nonzero(other_mask)[1]) * SCALE)
    for k in range(WALK_FRAMES):
        yield passer_by_frame(user, user_mask, other, other_mask, round(-walker + k * (width + walker) / 29), SCALE)


def hidden_share(stage, frames) -> tuple[float, float]:
    """(share of the passer-by's pixels the selection hides, share of the user's it hides), pooled over the
    frames where the passer-by shows (>= 0.5 % of the frame), the selection as the program's default."""
    stage.reset()
    selector = UserSelector("user")
    other_hidden = other_total = user_hidden = user_total = 0
    for frame, instances in frames:
        people, grid = stage.find(frame)
        kept = cv2.resize(selector.select(people, grid), (frame.shape[1], frame.shape[0])) > 0.5
        if np.count_nonzero(instances == 2) < 0.005 * instances.size:
            continue
        other_hidden += np.count_nonzero((instances == 2) & ~kept)
        other_total += np.count_nonzero(instances == 2)
        user_hidden += np.count_nonzero((instances == 1) & ~kept)
        user_total += np.count_nonzero(instances == 1)
    return other_hidden / max(1, other_total), user_hidden / max(1, user_total)


@needs_eval
def test_a_walker_merging_behind_a_still_user_is_hidden_by_the_silhouette_before(stages) -> None:
    """Tune-half walk 0: the walker comes in at the frame's edge and merges into the user's region at once (no
    face, MoveNet finds no body in most frames): main's stage keeps most of what the selfie map shows of them;
    the pieces beyond the user's silhouette of before are hidden, and the user is not cut more."""
    main, prior = stages
    main_other, main_user = hidden_share(main, walk(0))
    other, user = hidden_share(prior, walk(0))
    assert prior.prior is not None and prior.prior.arrivals >= 1
    assert other >= main_other + 0.10, f"others hidden {other:.3f} with the prior, {main_other:.3f} without"
    assert user <= main_user + 0.005, f"user hidden {user:.3f} with the prior, {main_user:.3f} without"


@needs_eval
def test_the_user_moving_as_a_whole_is_not_an_arrival() -> None:
    """Motion: the user's picture sliding sideways grows their region beyond the silhouette of before, but the
    growth moves with the user (their whole body moves): no arrival, nothing cut. Time alone takes it for one."""
    from privacy_filter.pipeline import SelfiePeople
    from privacy_filter.segment.selfie import SelfieSegmenter

    images = portrait_pairs(PORTRAITS, 1, "tune")
    user, _, _ = _read(_sample(PORTRAITS, images[0]))
    width = user.shape[1]
    finder = SelfiePeople(SelfieSegmenter())
    results = {}
    for motion in (True, False):
        prior = SilhouettePrior(motion=motion)
        cut = 0.0
        for k in range(40):
            dx = 0 if k < 20 else 6 * (k - 19)  # still for 20 frames, then sliding right 6 px a frame
            frame = cv2.warpAffine(user, np.float32([[1, 0, dx], [0, 1, 0]]), (width, user.shape[0]),
                                   borderMode=cv2.BORDER_REPLICATE)
            people, grid = finder.find(frame)
            prior.check(frame, people, [], grid, alone=len(people) == 1)
            parts = prior.apply(people, [])
            cut = max(cut, sum(p.area for p in parts if p.face is None and len(parts) > len(people)))
        results[motion] = (prior.arrivals, cut)
    assert results[True] == (0, 0.0), results
    assert results[False][0] >= 1, results  # without motion the same growth is taken for someone arriving


@needs_eval
def test_a_lone_signer_is_not_cut_by_the_prior(stages) -> None:
    """The one-person webcam clip (a signer: arms out and back all the time), 300 frames: no frame hides more
    than 5 % of the user with the prior on, as without it."""
    prior = stages[1]
    frames = clip_frames(SPEED_CLIP)[:300]
    cuts = lone_user_cuts(prior.find, frames, prior.reset)
    assert (cuts > 0.05).sum() == 0, f"user cut in {(cuts > 0.05).sum()} frames (max {cuts.max():.3f})"


@needs_eval
def test_time_alone_never_cuts_a_lone_signer_while_nobody_else_was_seen() -> None:
    """The gate: the signer's arms swing out beyond their silhouette all the time, and time alone (no motion)
    takes that for someone arriving: ungated it cuts the user; armed only by a sign of someone else (a second
    region, face or body) it never does, for nobody else is ever seen in the clip. Fails if the gate goes."""
    from privacy_filter.people.faces import FaceDetector
    from privacy_filter.people.stage import EDGE_SCORE, FacePeople
    from privacy_filter.pipeline import SelfiePeople
    from privacy_filter.segment.selfie import SelfieSegmenter

    segmenter, frames = SelfieSegmenter(), clip_frames(SPEED_CLIP)[:300]
    cut = {}
    for gate in (True, False):
        stage = FacePeople(SelfiePeople(segmenter), FaceDetector(min_score=EDGE_SCORE),
                           prior=SilhouettePrior(motion=False, edge=True), prior_trigger=False, prior_gate=gate)
        cuts = lone_user_cuts(stage.find, frames, stage.reset)
        assert stage.prior is not None
        cut[gate] = (int((cuts > 0.05).sum()), stage.prior.arrivals)
    assert cut[True] == (0, 0), f"gated: user cut in {cut[True][0]} frames, {cut[True][1]} arrivals"
    assert cut[False][0] >= 5, f"ungated time alone cut the signer in only {cut[False][0]} frames: the test is void"


@needs_eval
def test_the_program_builds_the_gated_prior() -> None:
    """The shipped defaults: the people stage carries the silhouette prior (time + motion), gated, no trigger."""
    from privacy_filter.app import build as app
    from privacy_filter.app import cli

    finder = app.build_finder(cli.parse_args(["--no-display"]))
    try:
        prior = getattr(finder, "prior", None)
        assert isinstance(prior, SilhouettePrior) and prior.motion and prior.edge
        assert finder.prior_gate and not finder.prior_trigger
    finally:
        finder.close()


def test_apply_gives_the_pieces_outside_the_silhouette_to_someone_faceless() -> None:
    """Pure arrays: a still square 'user' learnt as the prior, then a block grown onto its side in one frame
    with motion of its own: an arrival; the block is a faceless Person, the user keeps their face and square."""
    grid = (64, 64)
    user = np.zeros(grid, np.float32)
    user[20:60, 20:40] = 1.0
    face = (20 / 64, 20 / 64, 40 / 64, 30 / 64)
    frame = np.full((64, 64, 3), 90, np.uint8)
    prior = SilhouettePrior()
    for _ in range(15):
        prior.check(frame, [Person(1.0, (0.3, 0.3, 0.6, 0.9), user, face)], [face], grid, alone=True)
    merged = user.copy()
    merged[40:60, 40:56] = 1.0
    moved = frame.copy()
    moved[40:60, 40:56] = 200  # the newcomer's pixels change; the user's do not
    people = [Person(1.0, (0.3, 0.3, 0.9, 0.9), merged, face)]
    assert prior.check(moved, people, [face], grid, alone=True) and prior.active
    parts = prior.apply(people, [face])
    assert len(parts) == 2
    mine = next(p for p in parts if p.face == face)
    theirs = next(p for p in parts if p.face is None)
    assert np.count_nonzero(mine.mask[20:60, 20:40] > 0.5) == 40 * 20
    assert np.count_nonzero(theirs.mask[40:60, 44:56] > 0.5) == 20 * 12  # (beyond the margin of 1 px)


def test_unarmed_the_prior_only_learns_unless_the_region_reaches_the_frames_side() -> None:
    """Pure arrays, time alone: a block grown onto the user's side is no arrival while nothing says anyone else is
    about (armed=False), and is not learnt either: arming later starts the arrival. A block that reaches the frame's
    side beyond the silhouette arms the prior by itself (edge); with edge=False it does not."""
    grid = (64, 64)
    user = np.zeros(grid, np.float32)
    user[20:60, 20:40] = 1.0
    frame = np.full((64, 64, 3), 90, np.uint8)

    def learnt(edge: bool) -> SilhouettePrior:
        prior = SilhouettePrior(motion=False, edge=edge)
        for _ in range(15):
            prior.check(frame, [Person(1.0, (0.3, 0.3, 0.6, 0.9), user)], [], grid, alone=True, armed=False)
        return prior

    inner, side = user.copy(), user.copy()
    inner[40:60, 40:56] = 1.0  # grown beside the user, away from the frame's side
    side[40:60, 40:64] = 1.0  # ...reaching the frame's right side
    prior = learnt(edge=True)
    for _ in range(20):
        assert not prior.check(frame, [Person(1.0, (0.3, 0.3, 0.9, 0.9), inner)], [], grid, alone=True, armed=False)
    assert not prior.active and prior.arrivals == 0
    assert prior.check(frame, [Person(1.0, (0.3, 0.3, 0.9, 0.9), inner)], [], grid, alone=False, armed=True)
    for edge in (True, False):
        prior = learnt(edge)
        arrived = prior.check(frame, [Person(1.0, (0.3, 0.3, 1.0, 0.9), side)], [], grid, alone=True, armed=False)
        assert arrived == edge and prior.active == edge, f"edge={edge}: arrival {arrived}"
