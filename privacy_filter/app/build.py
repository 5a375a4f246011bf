"""Building the filter from the flags: the segmenter wrapped as a people finder (with the people stage for
``--keep user``), the effect, and the whole per-frame ``FrameProcessor`` (``benchmarks.run`` measures exactly this).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import native_stderr_silenced
from ..people.bodies import BodiesUnavailable, BodyMasker
from ..people.bodysplit import BodySplit
from ..people.faces import FaceDetector
from ..people.multipose import MultiPoseDetector
from ..people.prior import SilhouettePrior
from ..people.selection import UserSelector
from ..people.stage import EDGE_SCORE, FacePeople
from ..pipeline import FrameProcessor, InstancePeople, PeopleFinder, SelfiePeople
from ..render.effects import EFFECT_NAMES, make_effect
from ..render.matte import MatteRefiner
from ..segment.mask_rcnn import MaskRCNNSegmenter
from ..segment.selfie import SelfieSegmenter
from .controls import Controls


def build_finder(args: argparse.Namespace) -> PeopleFinder:
    """The segmenter the flags ask for, wrapped to return people; with ``--keep user`` (the default) and the
    selfie model, inside the people stage (``people.stage.FacePeople``)."""
    if args.backend == "mask-rcnn":
        with native_stderr_silenced():  # libprotobuf prints parse errors of a broken .pbtxt itself
            segmenter = MaskRCNNSegmenter(Path(args.mask_rcnn), confidence=args.confidence)
        instances = InstancePeople(segmenter, threshold=args.threshold)
        # Instances need no split; faces tell which one is the user. Mask R-CNN runs seconds apart, so the
        # faces are looked for on every one of its runs.
        return _people_stage(args, instances, every=1)
    # PRIVACY_FILTER_MODEL_DIR: another folder with the selfie models (still checked by their sha256).
    model_dir = os.environ.get("PRIVACY_FILTER_MODEL_DIR") or None
    regions = SelfiePeople(SelfieSegmenter(model_selection=args.model_selection, model_dir=model_dir))
    return _people_stage(args, regions)


def _people_stage(args: argparse.Namespace, finder: PeopleFinder, every: int | None = None) -> PeopleFinder:
    """Only you: the people stage around the segmenter's finder (faces tell the people in one selfie region
    apart, and the user from the others); with --keep all, the finder as it is (no need to tell people apart)."""
    if getattr(args, "keep", "user") != "user":
        return finder
    model_dir = os.environ.get("PRIVACY_FILTER_MODEL_DIR") or None
    detector = FaceDetector("full", min_score=EDGE_SCORE, model_dir=model_dir)
    if every is None:
        # The selfie map fuses touching people: each face's region is also cut to that person's pose mask.
        # On cv2.dnn (the fallback runtime) the pose detector does not load: faces alone, as before.
        try:
            bodies = BodyMasker(model_dir=model_dir)
        except BodiesUnavailable:  # (the startup line already names cv2.dnn as the runtime)
            bodies = None
        # The user's silhouette before someone arrived (time + motion, people/prior.py), armed only by a sign of
        # someone else (the stage's prior_gate; or the region reaching the frame's side beyond it: edge), so a
        # lone user is not cut by it and pays ~0.1 CPU-ms a frame; no detector trigger (its MoveNet runs cost more
        # than they gave). benchmarks/RESULTS.md, "The prior armed by a sign of someone else".
        # Once a sign of someone else arms the prior, faces are looked for every busy_every frames (sooner), and the
        # user's silhouette of before is kept off the splits and the face floor that follow a walker's face found
        # half behind them (guard; people/company.py). benchmarks/RESULTS.md, "Walk-behind faces".
        return FacePeople(finder, detector, bodies=bodies, multipose=_multipose(model_dir),
                          prior=SilhouettePrior(motion=True, edge=True), prior_trigger=False,
                          sooner=True, guard=True)
    return FacePeople(finder, detector, idle_every=every, busy_every=every)


def _multipose(model_dir: str | None) -> BodySplit | None:
    """MoveNet MultiPose inside the people stage (``people.bodysplit.BodySplit``), or None on cv2.dnn (it cannot
    load the file): the stage then tells people apart by their faces alone, and the startup line says so."""
    try:
        return BodySplit(MultiPoseDetector(model_dir=model_dir))
    except BodiesUnavailable:
        return None


def describe_models(finder: Any) -> str:  # any finder or wrapper: looked into by duck typing
    """The model(s) in use and their runtime, for the startup line and the ``f`` overlay."""
    while hasattr(finder, "finder"):  # a worker wrapper (concurrent.Lookahead / LatestMask)
        finder = finder.finder
    parts = ""
    if hasattr(finder, "base"):  # the people stage (people.stage.FacePeople) around the segmenter's people
        for part in (finder.detector, getattr(finder, "bodies", None), getattr(finder, "multipose", None)):
            describe_part = getattr(part, "describe", None)
            parts += f"; {describe_part()}" if callable(describe_part) else ""
        if getattr(finder, "multipose", False) is None:  # (the people stage without MoveNet: cv2.dnn fallback)
            parts += "; no MoveNet bodies on cv2.dnn (people told apart by faces only)"
        finder = finder.base
    segmenter = getattr(finder, "segmenter", finder)
    describe = getattr(segmenter, "describe", None)
    if callable(describe):
        return f"{describe()}{parts}"
    name = "Mask R-CNN" if type(segmenter).__name__.startswith("MaskRCNN") else type(segmenter).__name__
    return f"{name} on cv2.dnn{parts}"  # Mask R-CNN: the seed's TensorFlow graph, which only cv2.dnn runs


def build_processor(
    args: argparse.Namespace, controls: Controls | None = None, background: np.ndarray | None = None
) -> FrameProcessor:
    """The whole per-frame filter the flags ask for, as the program runs it (``benchmarks.run`` measures
    exactly this): finder, effect, user selection, matte refinement."""
    controls = controls or Controls(privacy=not args.no_privacy, effect=args.effect, kernel=args.kernel)
    return FrameProcessor(
        finder=build_finder(args),
        effect=build_effect(args, controls.effect, controls.kernel, background),
        selector=UserSelector(args.keep),
        refiner=MatteRefiner(),
        privacy=controls.privacy,
        want_alpha=bool(args.mask_output),
    )


def build_effect(args: argparse.Namespace, name: str, kernel: int, background: np.ndarray | None):
    return make_effect(name, kernel=kernel, color=args.color, background=background)



def available_effects(background: np.ndarray | None) -> tuple[str, ...]:
    """The effects the b key cycles through: 'image' only when there is a --background picture."""
    return tuple(name for name in EFFECT_NAMES if name != "image" or background is not None)


