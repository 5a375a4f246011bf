"""The program: open the source, build the filter, run the loop, close the sinks.

``main(argv) -> exit status``: 0 done, 1 a problem explained in one line on stderr, 2 bad flags, 130 interrupted
before anything could be saved. No traceback reaches the user (PRIVACY_FILTER_DEBUG=1 shows them).

One input (a camera, a video, an image) is one *job*; a folder or glob of inputs is a batch of jobs sharing
one filter (and one window). Ctrl-C (SIGINT), SIGTERM or SIGHUP (the terminal closed, SSH dropped) finishes
the current file cleanly: a playable file with the frames done so far (and the matte file with as many).
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from . import cli
from .avfile import DEFAULT_QUALITY, AVVideoSink, FileClock, video_frames
from .concurrent import overlap
from .controls import KEY_HELP, Controls, apply_clicks
from .effects import EFFECT_NAMES, load_background, make_effect
from .errors import SourceError, UserError, native_stderr_silenced, one_line
from .matte import MatteRefiner
from .overlay import draw_lines, lost_screen, mark_kept
from .people.selection import UserSelector
from .pipeline import FrameProcessor, InstancePeople, PeopleFinder, SelfiePeople
from .progress import Progress
from .sinks import IMAGE_EXTENSIONS as WRITABLE_IMAGES
from .sinks import (
    VIDEO_CODECS,
    ImageFileSink,
    PreviewWindow,
    alpha_to_gray,
    check_display,
    check_output_path,
)
from .sources import IMAGE_EXTENSIONS, ImageSource, Source, conform, is_camera, is_image_name, open_source
from .virtualcam import VirtualCamera, import_pyvirtualcam

PROGRAM = "privacy-filter"
CAMERA_LOST_AFTER_S = 0.5  # no new frame for this long: the camera is lost, say so on screen
CAMERA_GIVE_UP_AFTER_S = 10.0  # ...and for this long: stop with an error
STILL_INTERVAL_S = 1 / 30  # a paused video or a still image is re-filtered (and streamed) at this rate
# What a folder of inputs may hold (other files in it are left alone).
VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".3gp"}
)


class Interrupted(BaseException):
    """SIGINT, SIGTERM or SIGHUP arrived: finish the files cleanly and stop.

    A BaseException, like KeyboardInterrupt: the signal lands wherever the main thread is, often inside the
    filter, whose ``except Exception`` (fail closed) must not swallow it."""


class JobInterrupted(Exception):
    """A job was interrupted after its files were closed; ``delivered`` frames had gone out by then."""

    def __init__(self, delivered: int) -> None:
        super().__init__(delivered)
        self.delivered = delivered


# The signals that stop the program cleanly. SIGHUP is what a closed terminal or a dropped SSH session sends.
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class _Deferral:
    """While ``depth`` > 0 a stop signal is only noted in ``pending``, and raised when the block ends."""

    depth = 0
    pending: int | None = None


def _raise_interrupted(signum: int, _frame: object) -> None:
    if _Deferral.depth:
        _Deferral.pending = _Deferral.pending or signum
        return
    raise Interrupted(signal.Signals(signum).name)


@contextlib.contextmanager
def _stop_signals_handled() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP raise Interrupted inside the block (in the main thread); restored after."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    _Deferral.pending = None
    previous = {sig: signal.signal(sig, _raise_interrupted) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """A stop signal arriving inside the block is acted on when the block ends: what the block does (write a
    frame to both the output and the matte file) happens entirely or not at all."""
    _Deferral.depth += 1
    try:
        yield
    finally:
        _Deferral.depth -= 1
        # Taken in any case (an error leaving the block wins over the signal; the program stops either way).
        signum = None if _Deferral.depth else _Deferral.pending
        if signum is not None:
            _Deferral.pending = None
    if signum is not None:
        raise Interrupted(signal.Signals(signum).name)


@contextlib.contextmanager
def _no_interrupts() -> Iterator[None]:
    """While files are being finished, a second Ctrl-C must not leave them half-written."""
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def build_finder(args: argparse.Namespace) -> PeopleFinder:
    """The segmenter the flags ask for, wrapped to return people; with ``--keep user`` (the default) and the
    selfie model, inside the people stage (``people.stage.FacePeople``)."""
    if args.backend == "mask-rcnn":
        from .mask_rcnn import MaskRCNNSegmenter

        with native_stderr_silenced():  # libprotobuf prints parse errors of a broken .pbtxt itself
            segmenter = MaskRCNNSegmenter(Path(args.mask_rcnn), confidence=args.confidence)
        instances = InstancePeople(segmenter, threshold=args.threshold)
        # Instances need no split; faces tell which one is the user. Mask R-CNN runs seconds apart, so the
        # faces are looked for on every one of its runs.
        return _people_stage(args, instances, every=1)
    from .selfie import SelfieSegmenter

    # PRIVACY_FILTER_MODEL_DIR: another folder with the selfie models (still checked by their sha256).
    model_dir = os.environ.get("PRIVACY_FILTER_MODEL_DIR") or None
    regions = SelfiePeople(SelfieSegmenter(model_selection=args.model_selection, model_dir=model_dir))
    return _people_stage(args, regions)


def _people_stage(args: argparse.Namespace, finder: PeopleFinder, every: int | None = None) -> PeopleFinder:
    """Only you: the people stage around the segmenter's finder (faces tell the people in one selfie region
    apart, and the user from the others); with --keep all, the finder as it is (no need to tell people apart)."""
    if getattr(args, "keep", "user") != "user":
        return finder
    from .people.faces import FaceDetector
    from .people.stage import EDGE_SCORE, FacePeople

    model_dir = os.environ.get("PRIVACY_FILTER_MODEL_DIR") or None
    detector = FaceDetector("full", min_score=EDGE_SCORE, model_dir=model_dir)
    if every is None:
        # The selfie map fuses touching people: each face's region is also cut to that person's pose mask.
        # On cv2.dnn (the fallback runtime) the pose detector does not load: faces alone, as before.
        from .people.bodies import BodiesUnavailable, BodyMasker

        try:
            bodies = BodyMasker(model_dir=model_dir)
        except BodiesUnavailable:  # (the startup line already names cv2.dnn as the runtime)
            bodies = None
        return FacePeople(finder, detector, bodies=bodies, multipose=_multipose(model_dir))
    return FacePeople(finder, detector, idle_every=every, busy_every=every)


def _multipose(model_dir: str | None):
    """MoveNet MultiPose inside the people stage (``people.bodysplit.BodySplit``), or None on cv2.dnn (it cannot
    load the file): the stage then tells people apart by their faces alone, and the startup line says so."""
    from .people.bodies import BodiesUnavailable
    from .people.bodysplit import BodySplit
    from .people.multipose import MultiPoseDetector

    try:
        return BodySplit(MultiPoseDetector(model_dir=model_dir))
    except BodiesUnavailable:
        return None


def describe_models(finder: object) -> str:
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


@dataclass
class Job:
    """One input and where its results go. video: the outputs are videos (else images)."""

    input: str
    output: Path | None
    mask_output: Path | None
    video: bool


@dataclass
class Outputs:
    """Where one job's filtered frames go: files (opened lazily on the first frame, whose size is not known
    before) and the virtual camera (opened on the first frame too, at that frame's size and the source's rate)."""

    output: Path | None
    mask_output: Path | None
    video: bool
    fps: float
    virtual_cam: bool = False
    virtual_cam_device: str | None = None
    models: str = ""  # the model line (``describe_models``), said when the virtual camera opens headless
    overwrite: bool = False
    clock: FileClock | None = None  # a video file input's frame times and sound (PyAV), for the video files
    quality: int = DEFAULT_QUALITY
    sinks: dict[str, AVVideoSink | ImageFileSink] = field(default_factory=dict)
    camera: VirtualCamera | None = None

    def write(self, output: np.ndarray, alpha: np.ndarray | None) -> None:
        """Files: output HxWx3 uint8 BGR; alpha HxW float32 [0,1] (None: nobody kept, the matte is black).

        A frame goes to both files or to neither: a stop signal landing between the two writes waits for the
        second (else the matte video would end one frame short of the output)."""
        size = (output.shape[1], output.shape[0])
        gray = None
        if self.mask_output is not None:
            gray = alpha_to_gray(alpha) if alpha is not None else np.zeros(output.shape[:2], np.uint8)
        with _signals_deferred():
            if self.output is not None:
                self._sink("output", self.output, size, color=True).write(output)
            if self.mask_output is not None:
                self._sink("mask", self.mask_output, size, color=False).write(gray)

    def frames(self, key: str) -> int:
        """Frames written to the "output" or "mask" file so far."""
        sink = self.sinks.get(key)
        return sink.frames if sink is not None else 0

    def stream(self, output: np.ndarray) -> None:
        """The virtual camera (if asked for): output HxWx3 uint8 BGR, what the call sees."""
        if not self.virtual_cam:
            return
        if self.camera is None:
            size = (output.shape[1], output.shape[0])
            self.camera = VirtualCamera(size, self.fps, self.virtual_cam_device)
            print(f"virtual camera: {self.camera.device}, {size[0]}x{size[1]} at {self.fps:g} FPS "
                  "(pick it in the call app)", file=sys.stderr)
            if self.models:
                print(f"Model: {self.models}", file=sys.stderr)
        self.camera.write(output)

    @property
    def streamed(self) -> int:
        return self.camera.frames if self.camera is not None else 0

    def _sink(self, key: str, path: Path, size: tuple[int, int], color: bool) -> AVVideoSink | ImageFileSink:
        if key not in self.sinks:
            self.sinks[key] = (
                AVVideoSink(path, self.fps, size, color, clock=self.clock, quality=self.quality,
                            overwrite=self.overwrite)
                if self.video else ImageFileSink(path, overwrite=self.overwrite)
            )
        return self.sinks[key]

    def close(self, publish: bool = True, complete: bool = False) -> int:
        """Close every sink and the virtual camera; the number of frames in the filtered output file.
        complete: the input was read to its end (a video file then gets all of its sound)."""
        frames, error = 0, None
        try:
            for key, sink in self.sinks.items():
                try:  # every sink gets closed (its temporary file finished or removed) even if one fails
                    if isinstance(sink, AVVideoSink):
                        sink.close(publish, complete=complete)
                    else:
                        sink.close(publish)
                except UserError as exc:
                    error = error or exc
                if key == "output":
                    frames = sink.frames
        finally:
            if self.camera is not None:
                self.camera.close()
        if error is not None:
            raise error
        return frames


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


def check_outputs(args: argparse.Namespace) -> bool:
    """Validate --output/--mask-output before any work; True if they are videos (else images)."""
    video = not (not is_camera(args.input) and is_image_name(args.input))
    for flag, value in (("--output", args.output), ("--mask-output", args.mask_output)):
        if value:
            refuse_overwriting_inputs(flag, value, input_files(args, args.input))
            check_output_path(Path(value), args.overwrite, video=video, flag=flag)
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
        if args.skip_existing:
            video = is_camera(args.input) or not is_image_name(Path(args.input))
            wanted = {"--output": args.output, "--mask-output": args.mask_output}
            left = without_existing(args.input, {k: Path(v) for k, v in wanted.items() if v}, video)
            if not left and (args.output or args.mask_output) and not args.virtual_cam:
                return [], False
            args.output, args.mask_output = left.get("--output"), left.get("--mask-output")
        video = check_outputs(args)
        output = Path(args.output) if args.output else None
        mask = Path(args.mask_output) if args.mask_output else None
        return [Job(args.input, output, mask, video)], False
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
        if args.skip_existing:
            targets = without_existing(str(source), targets, video)
            if not targets:
                continue
        for flag, target in targets.items():
            if same_file(target, source):
                raise UserError(f"{flag} {folders[flag]} would overwrite the input {source}; choose another folder")
            refuse_overwriting_inputs(flag, target, input_files(args, None))
            if target.resolve() in taken:
                raise UserError(f"{taken[target.resolve()]} and {source} would both be written to {target}")
            check_output_path(target, args.overwrite, video=video, flag=flag)
            taken[target.resolve()] = source
        jobs.append(Job(str(source), targets.get("--output"), targets.get("--mask-output"), video))
    return jobs, True


def without_existing(source: str, targets: dict[str, Path], video: bool) -> dict[str, Path]:
    """--skip-existing: ``targets`` (flag -> file) less those that exist, each skipped with a line saying so.

    Outputs are published only once complete (written beside, then renamed), so an existing one is a finished
    result; one that does not read back (not ours, or damaged since) is an error rather than silently kept.
    """
    left = {}
    for flag, target in targets.items():
        if not target.exists():
            left[flag] = target
            continue
        if video:
            complete = target.is_file() and video_frames(target) is not None
        else:
            with native_stderr_silenced():
                complete = target.is_file() and cv2.imread(str(target), cv2.IMREAD_UNCHANGED) is not None
        if not complete:
            raise UserError(f"{flag} {target} exists but does not read back as a {'video' if video else 'picture'}; "
                            "remove it to filter its input again")
        print(f"skipped: {one_line(str(target))} exists (from {one_line(source)})", file=sys.stderr)
    return left


def check_snapshot_dir(value: str) -> Path:
    folder = Path(value)
    if not folder.is_dir():
        raise UserError(f"--snapshot-dir {value} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"--snapshot-dir {value} is not writable")
    return folder


def snapshot_path(folder: Path, now: float | None = None) -> Path:
    """A new file name for a snapshot: privacy-filter-YYYYmmdd-HHMMSS-mmm.png, never an existing file."""
    now = time.time() if now is None else now
    stem = time.strftime("privacy-filter-%Y%m%d-%H%M%S", time.localtime(now)) + f"-{int(now * 1000) % 1000:03d}"
    path = folder / f"{stem}.png"
    number = 1
    while path.exists():
        path = folder / f"{stem}-{number}.png"
        number += 1
    return path


def available_effects(background: np.ndarray | None) -> tuple[str, ...]:
    """The effects the b key cycles through: 'image' only when there is a --background picture."""
    return tuple(name for name in EFFECT_NAMES if name != "image" or background is not None)


@dataclass
class Session:
    """What the jobs of one run share: the flags, the filter, the keys' state and the window."""

    args: argparse.Namespace
    processor: FrameProcessor
    controls: Controls
    background: np.ndarray | None
    snapshot_dir: Path
    display: bool
    window: PreviewWindow | None = None

    def ensure_window(self) -> PreviewWindow | None:
        """The preview window, opened the first time a source is ready (so a bad input never flashes one)."""
        if self.display and self.window is None:
            self.window = PreviewWindow(self.controls.title(None))
            print(f"Model: {describe_models(self.processor.finder)}", file=sys.stderr)
            print("Keys: " + ", ".join(f"{key} {what}" for key, what in KEY_HELP), file=sys.stderr)
        return self.window

    def close(self) -> None:
        if self.window is not None:
            self.window.close()
            self.window = None


def run(args: argparse.Namespace) -> int:
    if args.download_mask_rcnn:
        from .download import download_mask_rcnn

        download_mask_rcnn(Path(args.mask_rcnn))
        print(f"Mask R-CNN model ready in {args.mask_rcnn}", file=sys.stderr)
        return 0
    jobs, batch = plan_jobs(args)
    if not jobs:  # --skip-existing: every output is there already
        print("nothing to do: every output exists already (--skip-existing)", file=sys.stderr)
        return 0
    if args.virtual_cam:
        import_pyvirtualcam()  # not installed: say how to install it before any work
    background = load_background(args.background) if args.background else None
    display = not args.no_display
    if not display and not (args.output or args.mask_output or args.virtual_cam):
        what = "a camera" if is_camera(args.input) else "a file"
        raise UserError(f"nothing to do: --no-display with {what} needs --output, --mask-output or --virtual-cam")
    snapshot_dir = check_snapshot_dir(args.snapshot_dir) if display else Path(args.snapshot_dir)
    if display:
        check_display()
    controls = Controls(
        privacy=not args.no_privacy, effect=args.effect, kernel=args.kernel, effects=available_effects(background)
    )
    processor = build_processor(args, controls, background)
    session = Session(args, processor, controls, background, snapshot_dir, display)
    try:
        if not batch:
            run_job(session, jobs[0])
            return 0
        return run_batch(session, jobs)
    except JobInterrupted as stop:
        return 0 if stop.delivered else 130
    finally:
        session.close()


def run_batch(session: Session, jobs: list[Job]) -> int:
    """Each file in turn; one that cannot be read is reported and skipped. 1 if any failed.

    Interrupted (Ctrl-C, SIGTERM, SIGHUP) with files still to do: the current file is finished as for one
    input, the files never started are named, and the exit status is 130."""
    failed = 0
    for number, job in enumerate(jobs, 1):
        started = False
        try:
            targets = ", ".join(str(path) for path in (job.output, job.mask_output) if path is not None)
            print(f"[{number}/{len(jobs)}] {one_line(f'{job.input} -> {targets}')}", file=sys.stderr)
            session.processor.refiner.reset()
            session.processor.selector.reset()
            started = True
            run_job(session, job)
        except SourceError as exc:
            print(f"{PROGRAM}: error: {one_line(str(exc))}", file=sys.stderr)
            failed += 1
        except (JobInterrupted, KeyboardInterrupt, Interrupted):
            skipped = jobs[number:] if started else jobs[number - 1:]
            if not skipped:
                raise
            names = ", ".join(one_line(skip.input) for skip in skipped)
            print(f"{PROGRAM}: interrupted at file {number} of {len(jobs)}; not filtered: {names}", file=sys.stderr)
            return 130
        if session.controls.quit:
            print(f"stopped after {number} of {len(jobs)} files", file=sys.stderr)
            break
    if failed:
        print(f"{PROGRAM}: error: {failed} of {len(jobs)} files could not be filtered", file=sys.stderr)
        return 1
    return 0


def run_job(session: Session, job: Job) -> int:
    """Filter one input into its outputs; the number of frames written. Raises JobInterrupted on Ctrl-C,
    SIGTERM or SIGHUP (see ``main``) once the files so far are safely closed."""
    args = session.args
    source = open_source(job.input, args.width).start()
    try:  # segmentation on a worker thread, overlapped with compositing (Mask R-CNN in real time: asynchronous)
        source = overlap(source, session.processor, realtime=session.display or bool(args.virtual_cam),
                         idle=lambda: session.controls.paused)
    except BaseException:
        source.stop()
        raise
    outputs = Outputs(
        job.output, job.mask_output, video=job.video, fps=source.fps or 30.0,
        virtual_cam=args.virtual_cam, virtual_cam_device=args.virtual_cam_device, overwrite=args.overwrite,
        models="" if session.display else describe_models(session.processor.finder),
        clock=getattr(source, "clock", None), quality=args.quality,
    )
    progress = Progress(source.frame_count) if (job.output or job.mask_output) and not source.live else None
    loop: Loop | None = None
    try:
        window = session.ensure_window()
        loop = Loop(args, source, session.processor, outputs, window, session.controls, session.background,
                    progress, input_spec=job.input, snapshot_dir=session.snapshot_dir)
        loop.run()
    except (KeyboardInterrupt, Interrupted):
        with _no_interrupts():
            (loop.source if loop else source).stop()
            outputs.close(publish=True)
            # After SIGHUP the terminal may be gone (writing to it fails): the files are saved all the same.
            with contextlib.suppress(OSError):
                if progress:
                    progress.finish()
                saved = interrupted_message(job, outputs)
                if saved:
                    print(saved, file=sys.stderr)
        raise JobInterrupted(max(outputs.frames("output"), outputs.frames("mask"), outputs.streamed)) from None
    except SourceError as exc:
        # The input died mid-way (camera gone, file truncated): what was filtered so far is good, keep it.
        with _no_interrupts():
            (loop.source if loop else source).stop()
            frames = outputs.close(publish=True)
        if job.output and frames:
            raise SourceError(f"{exc}; {job.output} holds the {frames} frames done before") from None
        raise
    except BaseException:
        with _no_interrupts():
            (loop.source if loop else source).stop()
            outputs.close(publish=False)
        raise
    finally:
        session.processor.close()  # end the segmentation worker (after a model run in progress)
    with _no_interrupts():
        loop.source.stop()
        # Read to its end (not quit with q half-way): the file gets all of the input's sound.
        frames = outputs.close(publish=True, complete=not session.controls.quit)
        if progress:
            progress.finish()
    if job.output:
        print(f"wrote {frames} frame{'' if frames == 1 else 's'} to {one_line(str(job.output))}", file=sys.stderr)
    return frames


def interrupted_message(job: Job, outputs: Outputs) -> str | None:
    """What an interrupted job saved, in one line (None if it had no files to write)."""
    saved = [(path, outputs.frames(key)) for key, path in (("output", job.output), ("mask", job.mask_output)) if path]
    if not saved:
        return None
    if not any(count for _, count in saved):
        return "interrupted before any frame was filtered: nothing was saved"
    counts = {count for _, count in saved}
    if len(counts) > 1:  # cannot happen since a frame goes to both or neither; said plainly if it ever does
        return "interrupted: " + " and ".join(
            f"{one_line(str(path))} holds {count} frame{'' if count == 1 else 's'}" for path, count in saved
        )
    (count,) = counts
    names = " and ".join(one_line(str(path)) for path, _ in saved)
    verb = "holds" if len(saved) == 1 else "hold"
    return f"interrupted: {names} {verb} the {count} frame{'' if count == 1 else 's'} done so far"


@dataclass
class Loop:
    """The per-frame loop: read, filter, write, stream, show, react to keys."""

    args: argparse.Namespace
    source: Source
    processor: FrameProcessor
    outputs: Outputs
    window: PreviewWindow | None
    controls: Controls
    background: np.ndarray | None
    progress: Progress | None
    input_spec: str = ""
    snapshot_dir: Path = Path(".")
    size: tuple[int, int] | None = None
    last_frame: np.ndarray | None = None
    still: bool = False  # an image input: keep filtering it (keys still change the result) until quit
    fps: float = 0.0
    lost: bool = False  # the live source has been silent for CAMERA_LOST_AFTER_S

    def run(self) -> None:
        last_time = time.perf_counter()
        interval = 0.0  # moving average of the time between frames; FPS = 1 / it (an average of 1/dt is biased)
        # A file shown in the window or streamed as a camera plays at its own rate, not as fast as we can.
        realtime = self.window is not None or self.outputs.virtual_cam
        pace = 1.0 / self.source.fps if (realtime and not self.source.live and self.source.fps) else 0.0
        while not self.controls.quit:
            if (self.still or self.controls.paused) and self.last_frame is not None:
                self._replay()
                continue
            frame = self.source.read(timeout=0.25)
            if frame is None:
                if self._no_frame():
                    return
                continue
            frame = conform(frame, self.size)
            if frame is None:
                continue  # not a picture at all: skip it, the next one will do
            if self.size is None:
                self.size = (frame.shape[1], frame.shape[0])
            if self.lost:
                self.lost = False
                print(f"{self.source.name} is back", file=sys.stderr)
            self.last_frame = frame
            start = time.perf_counter()
            result = self.processor.process(frame)
            self.outputs.write(result.output, result.alpha)
            self.outputs.stream(result.output)
            if self.progress:
                self.progress.update()
            now = time.perf_counter()
            interval = 0.9 * interval + 0.1 * (now - last_time) if interval else now - last_time
            self.fps = 1.0 / max(interval, 1e-6)
            last_time = now
            if self.window is not None:
                self._show(result.output, result.alpha)
            self._wait(pace, start)

    def _replay(self) -> None:
        """Paused, or a still image: filter the same frame again (keys still change the result) and keep the
        virtual camera fed. Nothing goes to the files: they hold each input frame once."""
        assert self.last_frame is not None
        start = time.perf_counter()
        result = self.processor.process(self.last_frame)
        self.outputs.stream(result.output)
        if self.window is not None:
            self._show(result.output, result.alpha)
        self._wait(STILL_INTERVAL_S, start)

    def _wait(self, interval: float, start: float) -> None:
        """Until ``interval`` s after ``start``, reading keys meanwhile if there is a window."""
        remaining = interval - (time.perf_counter() - start)
        if self.window is not None:
            self._wait_keys(max(1, int(remaining * 1000)))
        elif remaining > 0:
            time.sleep(remaining)

    def _no_frame(self) -> bool:
        """No new frame: True if the loop should end."""
        source = self.source
        realtime = self.window is not None or self.outputs.virtual_cam
        if source.finished and getattr(source, "ended_early", False):
            raise SourceError(f"{source.name} {source.shortfall}: the file is truncated or corrupt")
        if source.finished:
            if isinstance(source, ImageSource) and realtime and self.last_frame is not None:
                self.still = True
                return False
            if realtime and self.args.loop and not source.live:
                source.stop()
                self.source = overlap(open_source(self.input_spec, self.args.width).start(), self.processor,
                                      realtime=True, replay=True, idle=lambda: self.controls.paused)
                # The clip starts over: forget the matte history and the tracked user, as after a cut.
                self.processor.refiner.reset()
                self.processor.selector.reset()
                return False
            return True
        if source.live:
            silent = time.monotonic() - source.last_frame_time
            if silent > CAMERA_GIVE_UP_AFTER_S:
                raise SourceError(f"{source.name} stopped delivering frames for {silent:.0f} s; giving up")
            if silent > CAMERA_LOST_AFTER_S and not self.lost:
                self.lost = True
                print(f"{source.name} lost - retrying for up to {CAMERA_GIVE_UP_AFTER_S:.0f} s", file=sys.stderr)
            if silent > CAMERA_LOST_AFTER_S and self.size is not None:
                lost = lost_screen(self.size, f"{source.name} lost - retrying...")
                self.outputs.stream(lost)  # the call sees the notice, never a frozen picture of the room
                if self.window is not None:
                    self.window.show(lost)
                    self._wait_keys(30)
        elif self.window is not None:
            self._wait_keys(1)
        return False

    def _show(self, output: np.ndarray, alpha: np.ndarray | None) -> None:
        assert self.window is not None
        picture = output
        if self.controls.show_matte and alpha is not None:
            picture = cv2.cvtColor(alpha_to_gray(alpha), cv2.COLOR_GRAY2BGR)
        if self.controls.snapshot:
            self.controls.snapshot = False
            self._snapshot(picture)  # the picture itself, without the text drawn over it
        lines = []
        if self.controls.show_fps:
            ms = self.processor.stage_ms
            period = ms.get("mask_period", float("nan"))  # Mask R-CNN on its worker: masks come slower
            lines.append(f"{self.fps:.1f} FPS" + (f", masks {1000 / period:.2f}/s" if period > 0 else ""))
            lines.append(describe_models(self.processor.finder))
            stages = [f"{k} {v:.1f}" for k, v in ms.items()]
            lines += ["ms: " + " ".join(stages[i : i + 4]) for i in range(0, len(stages), 4)]  # fit a 600 px frame
            picture = mark_kept(picture, self.processor.selector)  # who is kept: green boxes on their faces
        if self.controls.show_help:
            lines += [f"{key}: {what}" for key, what in KEY_HELP]
        if self.controls.paused:
            lines.append("paused (space to resume)")
        if lines:
            picture = draw_lines(picture, lines)
        self.window.show(picture)
        self.window.set_title(self.controls.title(self.fps))

    def _snapshot(self, picture: np.ndarray) -> None:
        path = snapshot_path(self.snapshot_dir)
        try:
            saved = cv2.imwrite(str(path), picture)
        except cv2.error:
            saved = False
        if saved:
            print(f"snapshot saved: {path.resolve()}", file=sys.stderr)
        else:
            print(f"{PROGRAM}: could not save a snapshot to {path}", file=sys.stderr)

    def _wait_keys(self, wait_ms: int) -> None:
        assert self.window is not None
        key = self.window.key(wait_ms)
        apply_clicks(self.window, self.processor.selector)  # a click toggles a person sharp/hidden
        if self.window.closed:
            self.controls.quit = True
            return
        if key < 0:
            return
        before = (self.controls.effect, self.controls.kernel)
        if self.controls.handle_key(key) and (self.controls.effect, self.controls.kernel) != before:
            self.processor.effect = build_effect(
                self.args, self.controls.effect, self.controls.kernel, self.background
            )
        self.processor.privacy = self.controls.privacy
        if self.controls.repick:
            self.controls.repick = False
            self.processor.selector.repick()


def main(argv: Sequence[str] | None = None) -> int:
    """The program; its exit status. SIGINT (Ctrl-C), SIGTERM and SIGHUP stop it cleanly from here on (the
    handlers are restored on return)."""
    try:
        with _stop_signals_handled():
            return _main(argv)
    except (KeyboardInterrupt, Interrupted):  # landed outside _main's own handling (while it returned, say)
        print(f"{PROGRAM}: interrupted", file=sys.stderr)
        return 130


def _main(argv: Sequence[str] | None) -> int:
    args = cli.parse_args(argv)  # exits 2 on bad flags, as argparse does
    logging.basicConfig(level=logging.ERROR, format=f"{PROGRAM}: %(message)s")
    _quiet_opencv()
    debug = bool(os.environ.get("PRIVACY_FILTER_DEBUG"))
    try:
        return run(args)
    except UserError as exc:
        print(f"{PROGRAM}: error: {one_line(str(exc))}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Interrupted):
        print(f"{PROGRAM}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            raise
        message = str(exc).strip().splitlines()
        print(f"{PROGRAM}: unexpected error: {type(exc).__name__}: {one_line(message[-1]) if message else ''} "
              f"(set PRIVACY_FILTER_DEBUG=1 for details)", file=sys.stderr)
        return 1


def _quiet_opencv() -> None:
    """OpenCV's own warnings (e.g. 'can't open camera by index') would add lines to our one-line errors."""
    with contextlib.suppress(AttributeError):
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
