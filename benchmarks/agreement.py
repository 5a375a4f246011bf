"""Does ``benchmarks.quality`` score what the program does? Per clip: the IoU of the matte the CLI writes
(``instance_segmentation.py --input CLIP --mask-output MATTE --no-display``, read back from the file) and the
harness's IoU for OURS on the same clip, with the largest per-frame difference.

    python -m benchmarks.agreement                     # every DAVIS clip that has its video
    python -m benchmarks.agreement --clips hike,lucia --limit 20

The CLI runs as a separate process, exactly as a user runs it; its matte is 8-bit H.264 (CRF 23), read back
with PyAV and cut at > 127 (the harness cuts its float matte at > 0.5, the same level).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np

from benchmarks import metrics
from benchmarks.backends import SelfieBackend
from benchmarks.evalsets import EvalSet, clip_frames, clip_name, clip_video, load_set, shared_dir
from benchmarks.quality import Worst, evaluate_set

REPO = Path(__file__).resolve().parent.parent
CLI = REPO / "instance_segmentation.py"


def read_matte(path: Path) -> list[np.ndarray]:
    """The frames of a matte video the CLI wrote: HxW uint8 each (0 hidden ... 255 sharp)."""
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="gray") for frame in container.decode(video=0)]


def cli_matte(video: Path, out: Path, frames: int | None = None, flags: Sequence[str] = ()) -> list[np.ndarray]:
    """Run the CLI on ``video`` (its defaults, plus ``flags``), writing the matte to ``out``; its frames
    (the first ``frames`` if given). Raises RuntimeError with the CLI's stderr if it fails."""
    command = [sys.executable, str(CLI), "--input", str(video), "--mask-output", str(out), "--no-display",
               "--overwrite", *flags]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()}")
    matte = read_matte(out)
    return matte[:frames] if frames else matte


def cli_ious(eval_set: EvalSet, clip: list, folder: Path) -> list[float]:
    """Per-frame IoU of the CLI's written matte for one clip of ``eval_set`` against the truth."""
    video = clip_video(eval_set, clip)
    if video is None:
        raise ValueError(f"{clip_name(clip)} has no video in {eval_set.root}/videos")
    matte = cli_matte(video, folder / f"{clip_name(clip)}.mp4", len(clip))
    truths = [truth for _, _, truth, _ in clip_frames(clip)]
    if len(matte) != len(truths):
        raise RuntimeError(f"{clip_name(clip)}: the CLI wrote {len(matte)} frames for {len(truths)}")
    return [metrics.iou(alpha, truth) for alpha, truth in zip(matte, truths, strict=True)]


def harness_ious(eval_set: EvalSet, clip: list, backend, frames: str = "video") -> list[float]:
    """Per-frame IoU of the harness's OURS (``quality.evaluate_set``, --keep user, the program's refiner) on
    that one clip."""
    one = EvalSet(eval_set.name, [clip], is_video=True, root=eval_set.root)
    return evaluate_set(one, backend, "user", {}, Worst(0), frames).ours.iou


def agreement_table(eval_set: EvalSet, clips: Sequence[str] | None = None, frames: str = "video") -> list[str]:
    lines = ["| clip | frames | CLI's matte (file) IoU | harness OURS IoU | difference | max per-frame difference |",
             "|---|---|---|---|---|---|"]
    backend = SelfieBackend(1)
    with tempfile.TemporaryDirectory(prefix="agreement-") as folder:
        for clip in eval_set.clips:
            name = clip_name(clip)
            if (clips and name not in clips) or clip_video(eval_set, clip) is None:
                continue
            cli, harness = np.array(cli_ious(eval_set, clip, Path(folder))), np.array(
                harness_ious(eval_set, clip, backend, frames))
            lines.append(f"| {name} | {len(clip)} | {cli.mean():.4f} | {harness.mean():.4f} | "
                         f"{harness.mean() - cli.mean():+.4f} | {np.abs(harness - cli).max():.4f} |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.agreement", description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", default="davis2016_person", help="a set of clips under <shared>/eval with videos/")
    parser.add_argument("--clips", default="", help="comma-separated clip names (default: all with a video)")
    parser.add_argument("--limit", type=int, default=None, help="at most N frames per clip")
    parser.add_argument("--frames", choices=("video", "images"), default="video",
                        help="the harness's frames (images: the JPEGs, not what the CLI reads)")
    args = parser.parse_args(argv)
    eval_set = load_set(shared_dir() / "eval" / args.set, args.limit)
    command = "python -m benchmarks.agreement " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"`{command.strip()}`\n")
    print("\n".join(agreement_table(eval_set, [c for c in args.clips.split(",") if c], args.frames)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
