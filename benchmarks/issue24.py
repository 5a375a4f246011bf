"""Issue 24's rows for ``benchmarks.only_you``: the method names compared, DAVIS per clip, Haar face counts, and
the target table (baseline = today's stage, ours = + MoveNet bodies + face floor)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

BASELINE = "baseline: today's stage (faces + pose masks)"
OURS = "ours: + MoveNet bodies + face floor"
# The floor's follow-ups (faces veiled; the user not cut by a passer-by's face box): ours with each change.
VEIL = "ours + face veil"
SHOW = "ours + face veil + show released"
HEAD = "ours + face veil + head-shaped floor"
FIXED = "ours + face veil + head-shaped floor + show released"
WIDE = "ours + wide face veil + head-shaped floor"
# The time and motion cues (people/prior.py) on main's default (HEAD): the user's silhouette before someone arrived
# (time), an arrival only where the piece moves on its own (motion), and the arrival running the detectors at once.
PRIOR_TIME = "main + time (silhouette prior)"
PRIOR_MOTION = "main + time + motion"
PRIOR_TRIGGER = "main + time + motion + trigger"
# The same cues armed only after a sign of someone else (a second region, face or body, within ~2 s): the stage's
# ``prior_gate`` (the others above run with the gate off, as measured before it).
GATED_TIME = "main + gated time"
GATED_MOTION = "main + gated time + motion"
GATED_EDGE = "main + gated time + motion, edge arms"  # (the region reaching the frame's side arms it too)
# pose_landmark's crops from MoveNet's bodies instead of the pose detector (``FacePeople(movenet_crop=True)``),
# with the default's selection (veil, head-shaped floor): compared with HEAD, the default, side by side.
CROP = "ours + face veil + head-shaped floor + MoveNet crops"
# MoveNet's bodies followed from run to run (``BodySplit(identity=True)``): among faceless bodies the one there first
# owns a fused region, faces go to bodies nearest pair first; selected as main's default (HEAD), side by side.
IDENTITY = "main + body identity"
# Main's default (GATED_EDGE) with the selector's "coming in" rule (``UserSelector(enter_frames=ENTER_FRAMES)``): a
# faceless piece picked afresh at the frame's side grows through it without a merge guard, and is given up at once
# for a person with a face when lost; every other method runs with the rule off (enter_frames=0, as measured before).
SLIDE = "main + coming in"
# Issue 24's walk-behind faces (branch ``walkface``), on main's default (GATED_EDGE): faces every busy_every frames
# while the prior is armed (``FacePeople(sooner=True)``), and the user's pre-arrival silhouette kept off the splits
# and the face floor (``guard=True``, ``people/company.py``).
SOONER = "main + faces sooner when armed"
GUARD = "main + silhouette guard"
SOONER_GUARD = "main + faces sooner + silhouette guard"
DEEP = "main + faces sooner + silhouette guard + deeper interior"  # (the prior's motion INTERIOR 0.03 -> 0.06)
WALKFACE = (GATED_EDGE, SOONER, GUARD, SOONER_GUARD, DEEP)
# The program's own people stage and selector, built as instance_segmentation.py builds them (``app.build``): what a
# user runs, whatever the options above say (``--program``: only it, keep-all, the baseline and GATED_EDGE).
PROGRAM = "the program's default (app.build)"
COMPARED = (BASELINE, OURS, VEIL, SHOW, HEAD, FIXED, WIDE, PRIOR_TIME, PRIOR_MOTION, PRIOR_TRIGGER, GATED_TIME,
            GATED_MOTION, GATED_EDGE, SLIDE, CROP, IDENTITY, SOONER, GUARD, SOONER_GUARD, DEEP, PROGRAM)
# one-person clips, DAVIS:
LONE_COMPARED = (BASELINE, OURS, HEAD, PRIOR_TIME, PRIOR_MOTION, PRIOR_TRIGGER, GATED_TIME, GATED_MOTION,
                 GATED_EDGE, SLIDE, CROP, IDENTITY, SOONER, GUARD, SOONER_GUARD, DEEP, PROGRAM)


def count_faces(haar, frame: np.ndarray, instances: np.ndarray, alphas: dict, counts: dict,
                veils: dict | None = None) -> None:
    """Add to ``counts`` the other people's faces (instances >= 2) Haar finds in the input ("input") and in the
    compared methods' output (the CLI's default blur), frame: HxWx3 uint8 BGR, alphas: {method: HxW};
    veils: {method: (hidden face boxes, spared boxes) or None}: the faces that method's pipeline veils."""
    from benchmarks.haar import faces_on
    from privacy_filter.render.compositor import Compositor
    from privacy_filter.render.effects import make_effect
    from privacy_filter.render.veil import veil_faces

    background = make_effect("blur")(frame)  # the CLI's default effect and strength
    counts["input"] = counts.get("input", 0) + faces_on(haar.detect(frame), instances)
    for name in COMPARED:
        if name in alphas:
            veil = (veils or {}).get(name)
            veiled = background if veil is None else veil_faces(background.copy(), *veil)
            output = Compositor().blend(frame, veiled, alphas[name])
            counts[name] = counts.get(name, 0) + faces_on(haar.detect(output), instances)


def davis_rows(methods: Sequence, davis: Path, raw) -> list[tuple[str, int, float, dict[str, float]]]:
    """DAVIS person clips (fast motion, one masked subject): per clip (name, frames, raw IoU, {method: IoU})."""
    from benchmarks import metrics

    rows = []
    for folder in sorted(p for p in (davis / "images").iterdir() if p.is_dir()):
        for method in methods:
            method.reset()
        raw_iou, ious = [], {m.name: [] for m in methods}
        for image in sorted(folder.glob("*.jpg")):
            frame = cv2.imread(str(image))
            truth = cv2.imread(str(davis / "masks" / folder.name / f"{image.stem}.png"), cv2.IMREAD_GRAYSCALE) > 127
            raw_iou.append(metrics.iou(raw(frame), truth))
            for method in methods:
                ious[method.name].append(metrics.iou(method.alpha(frame), truth))
        rows.append((folder.name, len(raw_iou), float(np.mean(raw_iou)),
                     {name: float(np.mean(v)) for name, v in ious.items()}))
    return rows


def targets(results: dict, lone: dict[str, int], davis, haar_on: bool) -> list[str]:
    """Issue 24's target rows, baseline vs ours."""
    names = [name for name in COMPARED if any(name in v.methods for v in results.values())]
    lines = ["| target (issue 24) | value | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    near = "hidden >= 0.95, IoU >= 0.93"
    for key, label, want in (("touching", "touching (side-by-side, lean-in) and peek-in", near),
                             ("walk", "walk-behind", near),
                             ("COCO", "COCO, main person >= 5 % of frame", "hidden >= 0.90, IoU >= 0.60")):
        chosen = [v for k, v in results.items() if (key in k or (key == "touching" and k in ("lean-in", "peek-in")))]
        cells = []
        for name in names:
            hidden = np.mean([h for v in chosen for h in v.methods[name].hidden]) if chosen else float("nan")
            iou = np.mean([u for v in chosen for u in v.methods[name].user_iou]) if chosen else float("nan")
            cut = sum(v.cut_frames[name] for v in chosen)
            cells.append(f"{hidden:.3f} / {iou:.3f} ({cut} cut)")
        lines.append(f"| {label} | {want} | " + " | ".join(cells) + " |")
    if lone:
        lines.append("| one-person clips, frames with > 5 % of the user hidden | 0 | "
                     + " | ".join(str(lone[name]) if name in lone else "" for name in names) + " |")
    if davis:
        cells = [f"{sum(ious[name] >= r for _, _, r, ious in davis)} of {len(davis)}" if name in davis[0][3] else ""
                 for name in names]
        lines.append(f"| DAVIS: ours >= raw IoU on every clip | all {len(davis)} | " + " | ".join(cells) + " |")
    if haar_on:
        found = {name: sum(v.haar.get(name, 0) for v in results.values()) for name in ("input", *names)}
        lines.append(f"| other people's faces Haar finds in the output (input: {found['input']}) | 0 | "
                     + " | ".join(str(found[name]) for name in names) + " |")
    return lines
