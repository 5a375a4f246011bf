"""'Only you' when people touch: scenes built from real portraits, the people stage's scores, a contact sheet.

``python -m benchmarks.only_you`` prints, for each scene kind, raw (the selfie map, everyone) vs keep-all
(our pipeline keeping everyone) vs regions (the selfie map's connected regions and the user tracker, without
the people stage: the previous default) vs ours (the people stage: faces, split, identity): share of the other
people hidden, user IoU, and frames where the user was cut (ours hides more than 5 % of the user's truth
beyond what keep-all hides). It also writes the three-person clip's contact sheet (``--sheet``).

Issue 24 (bodies): the methods also include today's stage as the **baseline** (faces + pose masks), the same
with MoveNet bodies but no face floor, and **ours** (+ MoveNet bodies + face floor), and the run ends with the
issue's target rows, baseline vs ours: touching/peek-in, walk-behind, COCO (main person >= 5 %), one-person clips
(frames with the user cut), DAVIS (ours >= raw IoU per clip) and other people's faces that OpenCV's Haar
frontal-face cascade still finds in the output (``benchmarks/haar.py``; every 3rd scored frame).
**Tune and check halves** (``--half``): the people stage's constants were tuned on the TUNE half only (the
first half of the eg1800 portraits, sorted by name, and the COCO photos at even positions); the numbers to
report are the CHECK half's (the second half of the portraits, the COCO photos at odd positions), the default.

Scenes (``touching_scenes``): the user of eg1800 portrait 2i; the person of portrait 2i+1, cut out by its
mask, scaled and pasted *behind* the user so that they touch, comes in from the side over 10 frames, stays
10, leaves over 10; frames with less than 0.5 % of the image showing the other person are not scored.

* side-by-side: scale 1.0, heads at the same height, a tenth of them behind the user;
* lean-in: scale 0.8, head at the user's head height, 30 % of them behind the user;
* peek-in: scale 0.55, a head coming in beside the user's head ("the kid peeking over your shoulder").
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from benchmarks.evalsets import _read, _sample, shared_dir
from benchmarks.issue24 import (
    BASELINE,
    CROP,
    GATED_EDGE,
    GATED_MOTION,
    GATED_TIME,
    IDENTITY,
    LONE_COMPARED,
    OURS,
    PRIOR_MOTION,
    PRIOR_TRIGGER,
    SLIDE,
    count_faces,
    davis_rows,
    targets,
)
from benchmarks.only_you_methods import Method, make_methods
from benchmarks.separation import LONE_USER_CLIPS, PASSER_BY_SET, OnlyYou, passer_by_frame, user_cut
from privacy_filter.people.selection import UserSelector

THREE_PEOPLE_CLIP = Path("videos") / "face-demographics-walking-and-pause.mp4"
HAAR_EVERY = 3  # the Haar face detector judges every 3rd scored frame (as issue 24 did)
CUT_SHARE = 0.05  # a frame where ours hides this much more of the user than keep-all counts as "user cut"
FAR_SHARE = 0.04  # a shown pixel of another person farther than this (frame widths) from the user is not an edge


@dataclass(frozen=True)
class Scene:
    name: str
    scale: float
    behind: float  # share of the other person's pasted mask hidden behind the user at the closest point
    head_level: bool  # True: their head top at the user's head top; False: feet at the frame's bottom


SCENES = (
    Scene("side-by-side touching", 1.0, 0.10, True),
    Scene("lean-in", 0.8, 0.30, True),
    Scene("peek-in", 0.55, 0.25, True),
)


# --- scenes --------------------------------------------------------------------------------------------------


def paste_behind(user: np.ndarray, user_mask: np.ndarray, person: np.ndarray, cut: np.ndarray,
                 x: int, top: int) -> tuple[np.ndarray, np.ndarray]:
    """``person`` (hxwx3, its mask ``cut``) pasted behind the user with its top-left corner at (x, top).

    user: HxWx3 uint8, user_mask: HxW bool. Returns (frame, instances: 1 = user, 2 = the other person seen).
    """
    height, width = user_mask.shape
    frame, instances = user.copy(), user_mask.astype(np.uint8)
    h, w = cut.shape
    x1, x2, y1, y2 = max(0, x), min(width, x + w), max(0, top), min(height, top + h)
    if x2 <= x1 or y2 <= y1:
        return frame, instances
    region = (slice(y1, y2), slice(x1, x2))
    piece = (slice(y1 - top, y2 - top), slice(x1 - x, x2 - x))
    visible = cut[piece] & ~user_mask[region]
    frame[region][visible] = person[piece][visible]
    instances[region][visible] = 2
    return frame, instances


def scene_frames(user, user_mask, other, other_mask, scene: Scene, from_left: bool, steps: int = 10):
    """The frames (and instances) of one scene: come in over ``steps``, stay ``steps``, leave over ``steps``."""
    height, width = user_mask.shape
    ys, xs = np.nonzero(other_mask)
    y1, y2, x1, x2 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    size = (max(1, round((x2 - x1) * scene.scale)), max(1, round((y2 - y1) * scene.scale)))
    person = cv2.resize(other[y1:y2, x1:x2], size, interpolation=cv2.INTER_AREA)
    cut = cv2.resize(other_mask[y1:y2, x1:x2].astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    if not from_left:
        person, cut = person[:, ::-1], cut[:, ::-1]
    user_top = int(np.nonzero(user_mask.any(axis=1))[0].min())
    top = user_top if scene.head_level else height - size[1]
    start = -size[0] if from_left else width
    direction = 1 if from_left else -1
    # The closest point: moving in, the first position where `behind` of them is hidden by the user.
    target = start
    total = np.count_nonzero(cut)
    for x in range(start, start + direction * (width + size[0]), direction * 4):
        x1, x2, y1, y2 = max(0, x), min(width, x + size[0]), max(0, top), min(height, top + size[1])
        if x2 <= x1:
            continue
        behind = np.count_nonzero(cut[y1 - top:y2 - top, x1 - x:x2 - x] & user_mask[y1:y2, x1:x2])
        if behind >= scene.behind * total:
            target = x
            break
    path = [round(start + (target - start) * k / steps) for k in range(1, steps + 1)]
    path += [target] * steps + path[::-1]
    for x in path:
        yield paste_behind(user, user_mask, person, cut, x, top)


@dataclass
class SceneScores:
    raw: OnlyYou = field(default_factory=OnlyYou)
    methods: dict[str, OnlyYou] = field(default_factory=dict)
    cut_frames: dict[str, int] = field(default_factory=dict)
    shown_px: dict[str, int] = field(default_factory=dict)  # the others' pixels each method showed
    far_px: dict[str, int] = field(default_factory=dict)  # ...of which farther than FAR_SHARE from the user
    frames: int = 0
    haar: dict[str, int] = field(default_factory=dict)  # other people's faces Haar finds: "input", and per method


def score_clip(frames, raw: Callable, methods: Sequence[Method], scores: SceneScores, haar=None) -> None:
    """Run every method over one clip of (frame, instances), scoring frames with enough of the others seen.
    haar: a ``haar.HaarFaces``: on every HAAR_EVERY-th scored frame, the other people's faces it finds in the
    input and in the baseline's and our output (the default blur, as the user's audience sees it)."""
    for method in methods:
        method.reset()
    for frame, instances in frames:
        alphas = {m.name: m.alpha(frame) for m in methods}
        if np.count_nonzero(instances == 2) < 0.005 * instances.size:
            continue
        scores.frames += 1
        scores.raw.add(raw(frame), instances)
        user, others = instances == 1, instances >= 2
        keep_all_hidden = np.count_nonzero(user & (alphas["keep-all"] <= 0.5))
        # Is what is shown of the others a matte-edge error (a few pixels along the user's outline) or whole
        # parts of them the selection kept? Distance of each shown pixel from the user's truth says which.
        far = others & (cv2.distanceTransform((~user).astype(np.uint8), cv2.DIST_L2, 5)
                        > FAR_SHARE * instances.shape[1])
        for name, alpha in alphas.items():
            scores.methods.setdefault(name, OnlyYou()).add(alpha, instances)
            scores.shown_px[name] = scores.shown_px.get(name, 0) + int(np.count_nonzero(others & (alpha > 0.5)))
            scores.far_px[name] = scores.far_px.get(name, 0) + int(np.count_nonzero(far & (alpha > 0.5)))
            hidden = np.count_nonzero(user & (alpha <= 0.5))
            cut = (hidden - keep_all_hidden) / max(1, np.count_nonzero(user)) > CUT_SHARE
            scores.cut_frames[name] = scores.cut_frames.get(name, 0) + int(cut)
        if haar is not None and scores.frames % HAAR_EVERY == 1:
            count_faces(haar, frame, instances, alphas, scores.haar, {m.name: m.veil_boxes for m in methods})


def portrait_pairs(portraits: Path, pairs: int, half: str) -> list[Path]:
    """The portraits a scene kind uses: ``pairs`` pairs (user 2i, other 2i+1) from one half of the set.
    TUNE half: the set's first half (sorted by name); CHECK half: its second half. The people stage's constants
    were tuned on the tune half only; the numbers to report are the check half's."""
    images = sorted((portraits / "images").glob("*.jpg"))
    middle = len(images) // 2 - (len(images) // 2) % 2
    chosen = images[:middle] if half == "tune" else images[middle:]
    return chosen[: 2 * pairs]


def touching_scenes(raw, methods, portraits: Path, pairs: int, half: str = "check", haar=None
                    ) -> dict[str, SceneScores]:
    images = portrait_pairs(portraits, pairs, half)
    results = {}
    for scene in SCENES:
        scores = SceneScores()
        for k, (user_path, other_path) in enumerate(zip(images[::2], images[1::2], strict=False)):
            user, user_mask, _ = _read(_sample(portraits, user_path))
            other, other_mask, _ = _read(_sample(portraits, other_path))
            frames = scene_frames(user, user_mask, other, other_mask, scene, from_left=k % 2 == 0)
            score_clip(frames, raw, methods, scores, haar)
        results[scene.name] = scores
    return results


def walk_behind(raw, methods, portraits: Path, walks: int, frames: int = 30, scale: float = 0.6,
                half: str = "check", haar=None) -> SceneScores:
    """benchmarks.quality's passer-by walks (portrait 2i+1 walked behind the user of 2i), scored here too."""
    images = portrait_pairs(portraits, walks, half)
    scores = SceneScores()
    for user_path, other_path in zip(images[::2], images[1::2], strict=False):
        user, user_mask, _ = _read(_sample(portraits, user_path))
        other, other_mask, _ = _read(_sample(portraits, other_path))
        width = user.shape[1]
        walker = round(np.ptp(np.nonzero(other_mask)[1]) * scale)
        steps = (round(-walker + k * (width + walker) / (frames - 1)) for k in range(frames))
        score_clip((passer_by_frame(user, user_mask, other, other_mask, x, scale) for x in steps), raw, methods,
                   scores, haar)
    return scores


# --- the lone user is never cut: real one-person clips, also played fast and with the user leaving -----------


def clip_frames(clip: Path) -> list[np.ndarray]:
    """Every frame of a video file, HxWx3 uint8 BGR (the eval clips are short: a few hundred frames)."""
    capture = cv2.VideoCapture(str(clip))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def leave_and_return(frames: list[np.ndarray], away: int = 30, step: float = 0.1) -> list[np.ndarray]:
    """The clip's first half, then the picture slides sideways until the user is out of it (the frame's edge
    column repeated behind), stays empty for ``away`` frames, slides back, and the clip's second half."""
    half = len(frames) // 2
    last, back = frames[half - 1], frames[half]
    width = last.shape[1]

    def shifted(frame: np.ndarray, share: float) -> np.ndarray:
        dx = round(share * width)
        matrix = np.float32([[1, 0, dx], [0, 1, 0]])
        return cv2.warpAffine(frame, matrix, (width, frame.shape[0]), borderMode=cv2.BORDER_REPLICATE)

    out = shifted(last, 1.0)
    leave = [shifted(last, k * step) for k in range(1, round(1 / step) + 1)]
    come = [shifted(back, 1 - k * step) for k in range(round(1 / step) + 1)]
    return frames[:half] + leave + [out] * away + come + frames[half:]


def lone_user_variants(clip: Path) -> dict[str, list[np.ndarray]]:
    """One-person clip -> {variant name: frames}: as recorded, 4x fast (every 4th frame), leaves and returns."""
    frames = clip_frames(clip)
    return {"as recorded": frames, "4x fast": frames[::4], "leaves and comes back": leave_and_return(frames)}


def lone_user_cuts(find, frames: list[np.ndarray], reset=lambda: None, **selector_kwargs) -> np.ndarray:
    """user_cut per frame (benchmarks.quality) with the default selector (or one built with ``selector_kwargs``);
    find(frame) -> (people, grid)."""
    reset()
    selector, cuts = UserSelector("user", **selector_kwargs), []
    for frame in frames:
        people, grid = find(frame)[:2]
        cuts.append(user_cut(people, grid, selector.select(people, grid)))
    return np.array(cuts)


def coco_scores(raw, methods, coco: Path, big_main: float = 0.05, half: str = "check", haar=None) -> SceneScores:
    """COCO photos with several people and the main one (instances==1) >= ``big_main`` of the frame.
    TUNE half: the photos at even positions (sorted by name); CHECK half: at odd positions."""
    scores = SceneScores()
    for image in sorted((coco / "images").glob("*.jpg"))[0 if half == "tune" else 1::2]:
        sample = _sample(coco, image)
        if sample is None or sample.instances is None:
            continue
        frame, _, instances = _read(sample)
        if instances.max() < 2 or np.count_nonzero(instances == 1) < big_main * instances.size:
            continue
        score_clip([(frame, instances)], raw, methods, scores, haar)
    return scores


def table(results: dict[str, SceneScores]) -> list[str]:
    """Markdown rows per scene and method. "shown far": of the others' pixels a method showed, the share more
    than FAR_SHARE of the frame's width from the user (the rest is along the user's outline: matte edges)."""
    lines = ["| scene | frames | method | others hidden: mean | pooled | user IoU mean | frames user cut "
             "| shown far |", "|---|---|---|---|---|---|---|---|"]
    for name, s in results.items():
        rows = [("raw (selfie map, everyone)", s.raw, None)] + [(m, o, s.cut_frames[m]) for m, o in s.methods.items()]
        for method, o, cut in rows:
            if not o.hidden:
                continue
            far = "" if cut is None else f"{s.far_px[method] / max(1, s.shown_px[method]):.2f}"
            lines.append(f"| {name} | {s.frames} | {method} | {np.mean(o.hidden):.3f} | "
                         f"{o.hidden_px / max(1, o.others_px):.3f} | {np.mean(o.user_iou):.3f} | "
                         f"{'' if cut is None else cut} | {far} |")
    return lines


# --- the three-person clip -----------------------------------------------------------------------------------


def contact_sheet(method: Method, clip: Path, out: Path, every: int = 5, columns: int = 3) -> np.ndarray:
    """Every ``every``-th frame of the clip as the user sees it (the filter's output, blurred background),
    with its frame number; written to ``out`` as PNG. Returns the per-frame alphas (HxW float32)."""
    from privacy_filter.render.compositor import Compositor
    from privacy_filter.render.effects import make_effect

    effect, compositor = make_effect("blur", kernel=41), Compositor()
    capture = cv2.VideoCapture(str(clip))
    method.reset()
    tiles, alphas, index = [], [], 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        alpha = method.alpha(frame)
        alphas.append(alpha)
        if index % every == 0:
            tile = compositor.blend(frame, effect(frame), alpha).copy()
            cv2.putText(tile, f"{index}", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 255), 2)
            tiles.append(tile)
        index += 1
    capture.release()
    while len(tiles) % columns:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.hstack(tiles[i:i + columns]) for i in range(0, len(tiles), columns)]
    cv2.imwrite(str(out), np.vstack(rows))
    return np.stack(alphas)


def time_finders(frames: list[np.ndarray], finders: dict[str, Callable], repeats: int = 3) -> dict[str, tuple]:
    """{name: (median wall ms, mean wall ms, mean CPU ms, 99th percentile wall ms, frames over 33 ms per 1000)}
    per frame of find(frame), side by side, each run ``repeats`` times over the frames, interleaved so that the
    machine's load hits both alike. The last two are the hitches: a find longer than a 30 fps camera's frame
    time costs a frame even on the worker thread."""
    walls: dict[str, list[float]] = {name: [] for name in finders}
    cpus: dict[str, list[float]] = {name: [] for name in finders}
    for _ in range(repeats):
        for name, find in finders.items():
            reset = getattr(getattr(find, "__self__", None), "reset", None)
            if reset is not None:
                reset()
            for frame in frames:
                wall, cpu = time.perf_counter(), time.process_time()
                find(frame)
                walls[name].append((time.perf_counter() - wall) * 1000)
                cpus[name].append((time.process_time() - cpu) * 1000)
    return {name: (float(np.median(walls[name])), float(np.mean(walls[name])), float(np.mean(cpus[name])),
                   float(np.percentile(walls[name], 99)), 1000.0 * float(np.mean(np.array(walls[name]) > 1000 / 30)))
            for name in finders}


def speed_table(eval_root: Path) -> list[str]:
    """What the people stage adds to the segmenter, per frame, on a one-person and the three-person clip."""
    from privacy_filter.people.bodies import BodyMasker
    from privacy_filter.people.bodysplit import BodySplit
    from privacy_filter.people.faces import FaceDetector
    from privacy_filter.people.multipose import MultiPoseDetector
    from privacy_filter.people.prior import SilhouettePrior
    from privacy_filter.people.stage import EDGE_SCORE, FacePeople
    from privacy_filter.pipeline import SelfiePeople
    from privacy_filter.segment.selfie import SelfieSegmenter

    segmenter = SelfieSegmenter()
    regions = SelfiePeople(segmenter)
    baseline = FacePeople(SelfiePeople(segmenter), FaceDetector(min_score=EDGE_SCORE), bodies=BodyMasker())
    split = BodySplit(MultiPoseDetector(), identity=False)
    ours = FacePeople(SelfiePeople(segmenter), FaceDetector(min_score=EDGE_SCORE), bodies=BodyMasker(),
                      multipose=split)
    detector = split.detector
    # Bodies followed from run to run (``BodySplit(identity=True)``), beside main's (``ours``).
    identity = FacePeople(SelfiePeople(segmenter), FaceDetector(min_score=EDGE_SCORE), bodies=BodyMasker(),
                          multipose=BodySplit(detector, identity=True))
    priors = {name: FacePeople(SelfiePeople(segmenter), FaceDetector(min_score=EDGE_SCORE), bodies=BodyMasker(),
                               multipose=BodySplit(detector, identity=False),
                               prior=SilhouettePrior(motion=motion, edge=edge), prior_trigger=trigger, prior_gate=gate)
              for name, motion, trigger, gate, edge in (
                  (PRIOR_MOTION, True, False, False, False), (PRIOR_TRIGGER, True, True, False, False),
                  (GATED_TIME, False, False, True, False), (GATED_MOTION, True, False, True, False),
                  (GATED_EDGE, True, False, True, True))}
    crop = FacePeople(SelfiePeople(segmenter), FaceDetector(min_score=EDGE_SCORE), bodies=BodyMasker(),
                      multipose=BodySplit(detector, identity=False), movenet_crop=True)
    lines = ["| clip | frames | finder | median ms | mean ms | mean CPU ms | p99 ms | over 33 ms (per 1000) "
             "| MoveNet runs |", "|---|---|---|---|---|---|---|---|---|"]
    for clip in (LONE_USER_CLIPS[0], THREE_PEOPLE_CLIP):
        frames = clip_frames(eval_root / clip)[:300]
        finders = {"selfie regions": regions.find, BASELINE: baseline.find, OURS: ours.find,
                   **{name: stage.find for name, stage in priors.items()}, CROP: crop.find, IDENTITY: identity.find}
        splits = {OURS: split, **{name: stage.multipose for name, stage in priors.items()}, CROP: crop.multipose,
                  IDENTITY: identity.multipose}
        before = {name: s.runs for name, s in splits.items()}
        checked = {OURS: ours, CROP: crop}  # pose checks: the pose detector's runs, and MoveNet's crops instead
        checks = {name: (stage.body_detections, stage.body_crops) for name, stage in checked.items()}
        timed = time_finders(frames, finders)
        runs = {name: (s.runs - before[name]) / 3 for name, s in splits.items()}
        for name, (median, mean, cpu, p99, over) in timed.items():
            count = f"{runs[name]:.0f} of {len(frames)}" if name in runs else ""
            if name in checked:
                detections = (checked[name].body_detections - checks[name][0]) / 3
                crops = (checked[name].body_crops - checks[name][1]) / 3
                count += f"; pose detector {detections:.0f}" + (f", MoveNet crops {crops:.0f}" if name == CROP else "")
            lines.append(f"| {clip.name} | {len(frames)} | {name} | {median:.2f} | {mean:.2f} | {cpu:.2f} | {p99:.1f} "
                         f"| {over:.0f} | {count} |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.only_you", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=10, help="portrait pairs per scene (default %(default)s)")
    parser.add_argument("--half", choices=("tune", "check"), default="check",
                        help="which half of each set: tune on 'tune', report 'check' (default %(default)s)")
    parser.add_argument("--sheet", type=Path, default=None, help="contact sheet of the three-person clip (PNG)")
    parser.add_argument("--walks", type=int, default=10, help="walk-behind scenes (0 = skip; default %(default)s)")
    parser.add_argument("--no-coco", action="store_true")
    parser.add_argument("--no-davis", action="store_true")
    parser.add_argument("--no-lone", action="store_true", help="skip the one-person clips")
    parser.add_argument("--few", action="store_true", help="only the baseline, main's default and the prior's cues")
    parser.add_argument("--walkface", nargs="?", const="all", choices=("all", "final"), default=None,
                        help="only keep-all, main's default and the walk-behind faces variants (issue24.WALKFACE; "
                             "final: without the two single options)")
    parser.add_argument("--program", action="store_true", help="only keep-all, the baseline, stop 22's default "
                        "(GATED_EDGE) and the program's own stage and selector, as app.build makes them")
    parser.add_argument("--speed", action="store_true", help="only time the people stage against the segmenter")
    parser.add_argument("--only", default="", help="main's default and the 'coming in' rule only (with keep-all): "
                        "'slide' (they share one stage: a fifth of --few's cost on a loaded box)")
    args = parser.parse_args(argv)
    eval_root = shared_dir() / "eval"
    if not eval_root.is_dir():
        print(f"error: no eval data at {eval_root}", file=sys.stderr)
        return 1
    if args.speed:
        print(f"OpenCV: {cv2.getNumThreads()} threads, {cv2.getCPUFeaturesLine()}\n")
        print("\n".join(speed_table(eval_root)))
        return 0
    from benchmarks.haar import HaarFaces

    haar = HaarFaces() if HaarFaces.available() else None
    started = time.perf_counter()
    raw, methods = make_methods({}, few=args.few, walkface=args.walkface, program=args.program)
    if args.only == "slide":
        methods = [m for m in methods if m.name in ("keep-all", GATED_EDGE, SLIDE)]
    results = touching_scenes(raw, methods, eval_root / PASSER_BY_SET, args.pairs, args.half, haar)
    if args.walks:
        results[f"walk-behind ({args.walks} walks)"] = walk_behind(raw, methods, eval_root / PASSER_BY_SET,
                                                                  args.walks, half=args.half, haar=haar)
    if not args.no_coco:
        results["COCO, >1 person, main >= 5% of frame"] = coco_scores(raw, methods, eval_root / "coco128seg_person",
                                                                     half=args.half, haar=haar)
    print(f"`python -m benchmarks.only_you {' '.join(sys.argv[1:] if argv is None else argv)}` "
          f"({args.half} half of each set; {time.perf_counter() - started:.0f} s)\n")
    print("\n".join(table(results)) + "\n")
    if haar is None:
        print("(Haar face counts left out: no OpenCV 4 with CascadeClassifier on HAAR_PYTHONPATH; "
              "see benchmarks/haar.py)\n")
    lone: dict[str, int] = {}
    if not args.no_lone:
        print("The lone user kept whole (share of the person the selection hides; must be 0):\n\n"
              "| clip | variant | frames | method | mean hidden | frames with > 5 % hidden | max |\n"
              "|---|---|---|---|---|---|---|")
        for clip in LONE_USER_CLIPS:
            if not (eval_root / clip).is_file():
                continue
            for variant, frames in lone_user_variants(eval_root / clip).items():
                for method in (m for m in methods if m.name in LONE_COMPARED):
                    cuts = lone_user_cuts(method.find, frames, method.reset_find, **method.selector_kwargs)
                    lone[method.name] = lone.get(method.name, 0) + int((cuts > 0.05).sum())
                    print(f"| {clip.name} | {variant} | {len(cuts)} | {method.name} | {cuts.mean():.4f} | "
                          f"{int((cuts > 0.05).sum())} | {cuts.max(initial=0.0):.3f} |")
        print()
    davis = []
    if not args.no_davis and (eval_root / "davis2016_person").is_dir():
        davis = davis_rows([m for m in methods if m.name in LONE_COMPARED], eval_root / "davis2016_person", raw)
        names = [name for name in LONE_COMPARED if name in davis[0][3]] if davis else []
        print("DAVIS (fast motion), user IoU per clip:\n\n| clip | frames | raw | " + " | ".join(names) + " |\n"
              "|---|---|---|" + "---|" * len(names))
        for name, frames, raw_iou, ious in davis:
            print(f"| {name} | {frames} | {raw_iou:.3f} | " + " | ".join(f"{ious[n]:.3f}" for n in names) + " |")
        print()
    print("\n".join(targets(results, lone, davis, haar is not None)) + "\n")
    print("Pose checks over the whole run (pose_landmark crops: the pose detector's, followed, or MoveNet's):\n\n"
          "| finder | pose checks | pose detector runs | MoveNet crops |\n|---|---|---|---|")
    for method in (m for m in methods if m.name in (BASELINE, OURS, CROP)):
        stage = getattr(method.find, "__self__", None)
        if stage is not None:
            print(f"| {method.name} | {stage.body_checks} | {stage.body_detections} | {stage.body_crops} |")
    print()
    if haar is not None:
        haar.close()
    clip = eval_root / THREE_PEOPLE_CLIP
    if clip.is_file() and args.sheet:
        contact_sheet(methods[-1], clip, args.sheet)
        print(f"three-person clip, ours: {args.sheet}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

