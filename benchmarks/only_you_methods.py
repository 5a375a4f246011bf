"""The methods ``benchmarks.only_you`` compares: each turns frames into an alpha the way one version of the
pipeline does (a people finder, the user selector, the matte), side by side in one run."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from benchmarks.issue24 import (
    BASELINE,
    CROP,
    DEEP,
    FIXED,
    GATED_EDGE,
    GATED_MOTION,
    GATED_TIME,
    GUARD,
    HEAD,
    IDENTITY,
    OURS,
    PRIOR_MOTION,
    PRIOR_TIME,
    PRIOR_TRIGGER,
    PROGRAM,
    SHOW,
    SLIDE,
    SOONER,
    SOONER_GUARD,
    VEIL,
    WALKFACE,
    WIDE,
)
from privacy_filter.people.selection import ENTER_FRAMES, UserSelector
from privacy_filter.pipeline import hide_at_once
from privacy_filter.render.matte import MatteRefiner


class Method:
    """One way to turn frames into an alpha (HxW float32 [0,1]); stateful across a clip, ``reset`` between."""

    def __init__(self, name: str, find: Callable, keep: str, refiner_kwargs: dict, reset: Callable = lambda: None,
                 hide_fast: bool = True, floor: bool = True, veil: bool = False, show_released: bool = False,
                 floor_head: bool = False, veil_grow: tuple | None = None, enter_frames: int = 0):
        # (floor_head, enter_frames: see UserSelector; enter_frames=0: the "coming in" rule off, as measured before)
        self.name, self.find, self.keep, self.reset_find = name, find, keep, reset
        self.selector_kwargs = {"enter_frames": enter_frames}  # (benchmarks.only_you.lone_user_cuts' selector too)
        self.hide_fast = hide_fast  # the pipeline's asymmetric smoothing (pipeline.hide_at_once)
        self.veil = veil  # the pipeline's face veil (render/veil.py): only the Haar count sees it
        self.show_released = show_released  # the pipeline's prompt show where only the floor hid (matte.refine)
        self.selector = UserSelector(keep, floor=floor, floor_head=floor_head, **self.selector_kwargs)
        if veil_grow is not None:
            self.selector.veil_grow = veil_grow
        self.refiner = MatteRefiner(**refiner_kwargs)
        self.veil_boxes: tuple | None = None  # (hidden, spared) normalised boxes of the last frame, when veiled

    def reset(self) -> None:
        self.selector.reset()
        self.refiner.reset()
        self.reset_find()

    def alpha(self, frame: np.ndarray) -> np.ndarray:
        people, grid = self.find(frame)
        kept = self.selector.select(people, grid)
        dropped = hide_at_once(people, kept, self.selector) if self.hide_fast else None
        shown = self.selector.released if self.show_released else None
        if self.veil:
            self.veil_boxes = (self.selector.hidden_faces, self.selector.spared_faces)
        return self.refiner.refine(kept, frame, dropped, shown).copy()


class SharedFind:
    """One stateful finder's answer to each frame, handed to several methods (it must see each frame once)."""

    def __init__(self, find: Callable) -> None:
        self._find, self._frame, self._answer = find, None, None
        self.__self__ = getattr(find, "__self__", None)  # the stage, as for a bound ``find`` (tests look into it)

    def __call__(self, frame: np.ndarray):
        if frame is not self._frame:
            self._frame, self._answer = frame, self._find(frame)  # (keeping the frame keeps its id unique)
        return self._answer

    def forget(self) -> None:
        self._frame, self._answer = None, None


def make_methods(refiner_kwargs: dict, model_selection: int = 1, few: bool = False, walkface: str | None = None,
                 program: bool = False) -> tuple[Callable, list[Method]]:
    """(raw(frame) -> HxW map, [keep-all, regions, ours]). walkface "all": only keep-all, main's default and the
    walk-behind faces variants (``issue24.WALKFACE``); "final": without SOONER and GUARD alone. program: only
    keep-all, the baseline, GATED_EDGE and the program's own stage and selector (``issue24.PROGRAM``)."""
    from privacy_filter.people.bodies import BodyMasker
    from privacy_filter.people.bodysplit import BodySplit
    from privacy_filter.people.faces import FaceDetector
    from privacy_filter.people.multipose import MultiPoseDetector
    from privacy_filter.people.prior import INTERIOR, SilhouettePrior
    from privacy_filter.people.stage import EDGE_SCORE, FacePeople
    from privacy_filter.pipeline import SelfiePeople
    from privacy_filter.segment.selfie import SelfieSegmenter

    segmenter = SelfieSegmenter(model_selection)
    regions = SelfiePeople(segmenter)
    stage = FacePeople(SelfiePeople(segmenter), FaceDetector(min_score=EDGE_SCORE))
    bodies = FacePeople(SelfiePeople(segmenter), FaceDetector(min_score=EDGE_SCORE), bodies=BodyMasker())
    # The same MoveNet stage twice: with and without the face floor (each cue's gain); they share the models.
    detector = MultiPoseDetector()
    movenet = FacePeople(SelfiePeople(segmenter), FaceDetector(min_score=EDGE_SCORE), bodies=BodyMasker(),
                         multipose=BodySplit(detector, identity=False))
    no_floor = FacePeople(SelfiePeople(segmenter), FaceDetector(min_score=EDGE_SCORE), bodies=BodyMasker(),
                          multipose=BodySplit(detector, identity=False))

    # Issue 24's time and motion cues (people/prior.py), each on its own stage (the prior steers the detectors'
    # schedule), selected as main's default (veil + head-shaped floor): each cue's gain over HEAD.
    def with_prior(motion: bool, trigger: bool, gate: bool = False, edge: bool = False, sooner: bool = False,
                   guard: bool = False, interior: float = INTERIOR) -> FacePeople:
        return FacePeople(SelfiePeople(segmenter), FaceDetector(min_score=EDGE_SCORE), bodies=BodyMasker(),
                          multipose=BodySplit(detector, identity=False),
                          prior=SilhouettePrior(motion=motion, edge=edge, interior=interior), prior_trigger=trigger,
                          prior_gate=gate, sooner=sooner, guard=guard)

    if program:  # the program's stage as app.build makes it, its selector with UserSelector's own defaults
        from privacy_filter.app import build, cli

        finder = build.build_finder(cli.parse_args(["--no-display"]))
        gated_edge = with_prior(True, False, True, True)
        return raw_of(segmenter), [
            Method("keep-all", regions.find, "all", refiner_kwargs),
            Method(BASELINE, bodies.find, "user", refiner_kwargs, bodies.reset),
            Method(GATED_EDGE, gated_edge.find, "user", refiner_kwargs, gated_edge.reset, veil=True, floor_head=True),
            Method(PROGRAM, finder.find, "user", refiner_kwargs, finder.reset, veil=True, floor_head=True,
                   enter_frames=ENTER_FRAMES)]
    if walkface:  # main's default (GATED_EDGE) and the walk-behind faces variants, each on its own stage
        stages = {GATED_EDGE: with_prior(True, False, True, True),
                  SOONER: with_prior(True, False, True, True, sooner=True),
                  GUARD: with_prior(True, False, True, True, guard=True),
                  SOONER_GUARD: with_prior(True, False, True, True, sooner=True, guard=True),
                  DEEP: with_prior(True, False, True, True, sooner=True, guard=True, interior=0.06)}
        assert tuple(stages) == WALKFACE
        if walkface == "final":
            del stages[SOONER], stages[GUARD]
        return raw_of(segmenter), [Method("keep-all", regions.find, "all", refiner_kwargs)] + [
            Method(name, stage.find, "user", refiner_kwargs, stage.reset, veil=True, floor_head=True)
            for name, stage in stages.items()]

    priors = {PRIOR_TIME: with_prior(False, False), PRIOR_MOTION: with_prior(True, False),
              PRIOR_TRIGGER: with_prior(True, True), GATED_TIME: with_prior(False, False, True),
              GATED_MOTION: with_prior(True, False, True), GATED_EDGE: with_prior(True, False, True, True)}
    if few:  # (the ungated time + motion stays as the reference; time alone and the trigger were measured before)
        del priors[PRIOR_TIME], priors[PRIOR_TRIGGER]
    # pose_landmark's crops from MoveNet's bodies instead of the pose detector, selected as main's default.
    crop = FacePeople(SelfiePeople(segmenter), FaceDetector(min_score=EDGE_SCORE), bodies=BodyMasker(),
                      multipose=BodySplit(detector, identity=False), movenet_crop=True)
    # Main's default with MoveNet's bodies followed from run to run (people/bodysplit.py ``BodyTracks``).
    identity = FacePeople(SelfiePeople(segmenter), FaceDetector(min_score=EDGE_SCORE), bodies=BodyMasker(),
                          multipose=BodySplit(detector, identity=True))
    shared = SharedFind(movenet.find)
    # Main's default stage, its answers shared with the "coming in" selector (the rule is the selector's only).
    gated = SharedFind(priors[GATED_EDGE].find)

    def forget_gated() -> None:
        gated.forget()
        priors[GATED_EDGE].reset()

    def forget() -> None:
        shared.forget()
        movenet.reset()

    methods = [
        Method("keep-all", regions.find, "all", refiner_kwargs),
        Method("regions (previous default)", regions.find, "user", refiner_kwargs),
        Method("people stage, faces only (round one)", stage.find, "user", refiner_kwargs, stage.reset),
        Method(BASELINE, bodies.find, "user", refiner_kwargs, bodies.reset),
        Method("+ MoveNet bodies, no face floor", no_floor.find, "user", refiner_kwargs, no_floor.reset, floor=False),
        # The same finder's people, selected and refined with the floor's follow-ups (tests take the last: ours).
        Method(VEIL, shared, "user", refiner_kwargs, forget, veil=True),
        Method(SHOW, shared, "user", refiner_kwargs, forget, veil=True, show_released=True),
        Method(HEAD, shared, "user", refiner_kwargs, forget, veil=True, floor_head=True),
        Method(FIXED, shared, "user", refiner_kwargs, forget, veil=True, floor_head=True, show_released=True),
        Method(WIDE, shared, "user", refiner_kwargs, forget, veil=True, floor_head=True, veil_grow=(0.7, 0.8, 0.5)),
        *(Method(name, gated if name == GATED_EDGE else stage.find, "user", refiner_kwargs,
                 forget_gated if name == GATED_EDGE else stage.reset, veil=True, floor_head=True)
          for name, stage in priors.items()),
        Method(SLIDE, gated, "user", refiner_kwargs, forget_gated, veil=True, floor_head=True,
               enter_frames=ENTER_FRAMES),
        Method(CROP, crop.find, "user", refiner_kwargs, crop.reset, veil=True, floor_head=True),
        Method(IDENTITY, identity.find, "user", refiner_kwargs, identity.reset, veil=True, floor_head=True),
        Method(OURS, shared, "user", refiner_kwargs, forget),
    ]
    if few:  # keep-all (the user-cut reference), the baseline, main's default and the prior's cues, ours last
        methods = [m for m in methods if m.name in ("keep-all", BASELINE, HEAD, *priors, SLIDE, IDENTITY, OURS)]
    return raw_of(segmenter), methods


def raw_of(segmenter) -> Callable[[np.ndarray], np.ndarray]:
    """raw(frame) -> HxW float32: the selfie map at the frame's size (everyone, no people stage)."""

    def raw(frame: np.ndarray) -> np.ndarray:
        return cv2.resize(segmenter.process(frame), (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_LINEAR)

    return raw
