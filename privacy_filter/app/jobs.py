"""Planning the jobs: one input, or a folder or glob of inputs (a batch), each with its output files, every
output checked before any work (never the input itself, never an existing file without --overwrite).
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2

from ..errors import SourceError, UserError, native_stderr_silenced, one_line
from ..imagefiles import read_image
from ..io.files import IMAGE_EXTENSIONS as WRITABLE_IMAGES
from ..io.files import VIDEO_CODECS, check_output_path, unfinished, video_frames
from ..io.sources import IMAGE_EXTENSIONS, is_camera, is_image_name

# What a folder of inputs may hold (other files in it are left alone).
VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".3gp"}
)


@dataclass
class Job:
    """One input and where its results go. video: the outputs are videos (else images)."""

    input: str
    output: Path | None
    mask_output: Path | None
    video: bool
    redo: bool = False  # --skip-existing found an unfinished result under an output's name: replace it


def same_file(a: str | Path, b: str | Path) -> bool:
    """True if the two names are one file however spelled: the same path, a symlink or a hard link to it."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):  # one of them does not exist (yet): compare where the names lead
        try:
            return Path(a).resolve() == Path(b).resolve()
        except (OSError, ValueError, RuntimeError):
            return False


def refuse_overwriting_inputs(flag: str, target: str | Path, inputs: dict[str, str]) -> None:
    """UserError if the output ``target`` is one of the ``inputs`` ({what: file}): even with --overwrite,
    writing it would destroy the very file being read (and a Ctrl-C would leave only the frames done)."""
    for what, name in inputs.items():
        if name and same_file(target, name):
            raise UserError(f"{flag} {target} is the {what} {name} itself; choose another name for the result")


def input_files(args: argparse.Namespace, source: str | None) -> dict[str, str]:
    """The files a run reads ({what: name}): the input file (not a camera) and the --background picture."""
    files = {"--background picture": args.background}
    if source is not None and not is_camera(source):
        files = {"input": source, **files}
    return files


def check_outputs(args: argparse.Namespace, replace: bool = False) -> bool:
    """Validate --output/--mask-output before any work; True if they are videos (else images).
    replace: an existing file there may be replaced (--overwrite, or an unfinished result to redo)."""
    video = not (not is_camera(args.input) and is_image_name(args.input))
    for flag, value in (("--output", args.output), ("--mask-output", args.mask_output)):
        if value:
            refuse_overwriting_inputs(flag, value, input_files(args, args.input))
            check_output_path(Path(value), args.overwrite or replace, video=video, flag=flag)
    if args.output and args.mask_output and same_file(args.output, args.mask_output):
        raise UserError("--output and --mask-output must be different files")
    return video


def is_batch(spec: str) -> bool:
    """A folder, or a glob pattern that is not itself a file name, names several inputs."""
    if is_camera(spec):
        return False
    path = Path(spec)
    return path.is_dir() or (not path.exists() and glob.has_magic(spec))


def batch_inputs(spec: str) -> list[Path]:
    """The files a folder (its videos and images, not recursing) or a glob pattern (every file it matches)
    names, sorted; SourceError if none."""
    path = Path(spec)
    if path.is_dir():
        files = [
            p for p in path.iterdir()
            if p.is_file() and not p.name.startswith(".")
            and p.suffix.lower().strip() in VIDEO_EXTENSIONS | IMAGE_EXTENSIONS
        ]
    else:
        files = [Path(p) for p in glob.glob(spec) if Path(p).is_file()]
    if not files:
        raise SourceError(f"no video or image files in {spec}")
    return sorted(files)


def batch_name(source: Path, folder: Path) -> Path:
    """Where one input's result goes in an output folder: the same name, and the same extension when it is
    one we can write (else .mp4 for a video, .png for an image)."""
    suffix = source.suffix
    if is_image_name(source):
        return folder / (source.stem + (suffix if suffix.lower() in WRITABLE_IMAGES else ".png"))
    return folder / (source.stem + (suffix if suffix.lower() in VIDEO_CODECS else ".mp4"))


def _output_folder(value: str, flag: str) -> Path:
    """--output DIR for a batch: an existing folder, or a new one (made here) in an existing folder."""
    folder = Path(value)
    if folder.is_dir():
        return folder
    if folder.exists():
        raise UserError(f"{flag} {value} is a file; with several inputs give a folder for the results")
    if folder.suffix.lower() in VIDEO_CODECS or folder.suffix.lower() in WRITABLE_IMAGES:
        raise UserError(f"{flag} {value}: with several inputs give a folder for the results, not a file name")
    if not folder.parent.is_dir():
        raise UserError(f"{flag} {value}: folder {folder.parent} does not exist")
    try:
        folder.mkdir()
    except OSError as exc:
        raise UserError(f"{flag} {value}: cannot create the folder ({exc.strerror})") from None
    return folder


def check_loop(args: argparse.Namespace) -> None:
    """--loop plays one video file over and over, in the window or to the virtual camera. Written to a file it
    would never end (and without a window it used to be silently ignored): refused, before any work."""
    if args.loop and (args.output or args.mask_output):
        raise UserError("--loop plays a file over and over, which a file cannot hold; "
                        "drop --loop, or drop --output/--mask-output")


def plan_jobs(args: argparse.Namespace) -> tuple[list[Job], bool]:
    """The jobs the flags ask for, every output checked before any work; True if it is a batch."""
    if not is_batch(args.input):
        check_loop(args)
        redo = False
        if args.skip_existing:
            video = is_camera(args.input) or not is_image_name(Path(args.input))
            wanted = {"--output": args.output, "--mask-output": args.mask_output}
            left, redo = without_existing(args.input, {k: Path(v) for k, v in wanted.items() if v}, video)
            if not left and (args.output or args.mask_output) and not args.virtual_cam:
                return [], False
            args.output, args.mask_output = left.get("--output"), left.get("--mask-output")
        video = check_outputs(args, replace=redo)
        output = Path(args.output) if args.output else None
        mask = Path(args.mask_output) if args.mask_output else None
        return [Job(args.input, output, mask, video, redo=redo)], False
    if args.loop:
        raise UserError("--loop plays one file; it cannot be used with a folder or glob of inputs")
    if args.virtual_cam:
        raise UserError("--virtual-cam streams one input; it cannot be used with a folder or glob of inputs")
    if not (args.output or args.mask_output):
        raise UserError(f"{args.input} names several inputs: give --output DIR (or --mask-output DIR) for the results")
    if args.output and args.mask_output and Path(args.output).resolve() == Path(args.mask_output).resolve():
        raise UserError("--output and --mask-output must be different folders")
    sources = batch_inputs(args.input)
    folders = {
        flag: _output_folder(value, flag)
        for flag, value in (("--output", args.output), ("--mask-output", args.mask_output))
        if value
    }
    if len({folder.resolve() for folder in folders.values()}) < len(folders):
        raise UserError("--output and --mask-output must be different folders")
    jobs = []
    taken: dict[Path, Path] = {}
    for source in sources:
        video = not is_image_name(source)
        targets = {flag: batch_name(source, folder) for flag, folder in folders.items()}
        redo = False
        if args.skip_existing:
            targets, redo = without_existing(str(source), targets, video)
            if not targets:
                continue
        for flag, target in targets.items():
            if same_file(target, source):
                raise UserError(f"{flag} {folders[flag]} would overwrite the input {source}; choose another folder")
            refuse_overwriting_inputs(flag, target, input_files(args, None))
            if target.resolve() in taken:
                raise UserError(f"{taken[target.resolve()]} and {source} would both be written to {target}")
            check_output_path(target, args.overwrite or redo, video=video, flag=flag)
            taken[target.resolve()] = source
        jobs.append(Job(str(source), targets.get("--output"), targets.get("--mask-output"), video, redo=redo))
    return jobs, True


def without_existing(source: str, targets: dict[str, Path], video: bool) -> tuple[dict[str, Path], bool]:
    """--skip-existing: ``targets`` (flag -> file) less those that hold a complete result, each skipped with a
    line saying so; and True if some of those left are unfinished results to replace (each said in a line).

    A run publishes under the output's name only a complete result (the rest goes to ``STEM.partial.EXT``),
    but a file there may be a truncated copy, or an interrupted run's output from an older version: a video
    is complete if it holds what its header announces and as many frames as its input (``files.unfinished``).
    It is then filtered again, and replaced once the new one is complete. A file that does not read back at
    all (not ours, or damaged since) is an error rather than silently replaced.
    """
    left, redo = {}, False
    for flag, target in targets.items():
        if not (target.exists() or target.is_symlink()):
            left[flag] = target
            continue
        if video:
            readable = target.is_file() and video_frames(target) is not None
        else:
            with native_stderr_silenced():
                readable = target.is_file() and read_image(target, cv2.IMREAD_UNCHANGED) is not None
        if not readable:
            raise UserError(f"{flag} {target} exists but does not read back as a {'video' if video else 'picture'}; "
                            "remove it to filter its input again")
        why = unfinished(target, None if is_camera(source) else Path(source)) if video else None
        if why:
            print(f"not complete: {one_line(str(target))} ({why}); filtering {one_line(source)} again "
                  "(the file is replaced once the new one is complete)", file=sys.stderr)
            left[flag], redo = target, True
            continue
        print(f"skipped: {one_line(str(target))} exists (from {one_line(source)})", file=sys.stderr)
    return left, redo
