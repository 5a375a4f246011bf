"""Command-line flags: the seed's (--mask-rcnn, --confidence, --threshold, --kernel) and the product's.

``parse_args`` exits 2 with argparse's usage line for a bad flag value, like any argparse program.

``--width`` has no fixed default: a camera shown in the window runs at the seed's 600 pixels (speed), while
files and the virtual camera keep the input's native size, so that a written video has the input's size and
a call gets the camera's size. An explicit ``--width`` always wins.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn, TypeVar

from ..errors import UserError
from ..io.avfile import DEFAULT_QUALITY
from ..io.cameras import AmbiguousCamera, camera_input
from ..io.capture import MIN_FRAME_SIDE
from ..io.sources import is_camera
from ..people.selection import KEEP_CHOICES
from ..render.effects import DEFAULT_KERNEL, EFFECT_NAMES, KERNEL_FLOOR, MAX_KERNEL, REFERENCE_WIDTH, parse_color
from ..segment.mask_rcnn import default_model_dir
from ..segment.runtime import runtime_env_problem

BACKENDS = ("selfie", "mask-rcnn")
# How the user started it: the installed command (pip install .), or the script in the repository.
PROGRAM = "privacy-filter"
PROGRAM_NAME = "privacy-filter" if Path(sys.argv[0]).name == "privacy-filter" else "instance_segmentation.py"
CAMERA_PREVIEW_WIDTH = 600  # the seed's width: a camera in the window, where speed matters most


_Number = TypeVar("_Number", int, float)


def _number(text: str, kind: Callable[[str], _Number], what: str) -> _Number:
    """``text`` as an int or float, or the flag's one-line error ("must be <what>, not 'x'")."""
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, not {text!r}") from None


def _odd_kernel(text: str) -> int:
    value = _number(text, int, "a whole number")
    if value <= 0 or value % 2 == 0 or value > MAX_KERNEL:
        raise argparse.ArgumentTypeError(f"must be a positive odd number up to {MAX_KERNEL}, not {value}")
    return value


def _unit_interval(text: str) -> float:
    value = _number(text, float, "a number in [0, 1]")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], not {value}")
    return value


def _width(text: str) -> int:
    value = _number(text, int, "a whole number of pixels")
    if value < 0 or value > 7680:
        raise argparse.ArgumentTypeError(f"must be between 0 (native size) and 7680, not {value}")
    if 0 < value < MIN_FRAME_SIDE:  # nothing left to segment, and some encoders refuse such sizes
        raise argparse.ArgumentTypeError(f"must be 0 (native size) or at least {MIN_FRAME_SIDE} pixels, not {value}")
    return value


def _quality(text: str) -> int:
    value = _number(text, int, "a whole number from 0 to 51")
    if not 0 <= value <= 51:
        raise argparse.ArgumentTypeError(f"must be from 0 (best) to 51 (worst), not {value}")
    return value


def _color(text: str) -> str:
    """#RRGGBB, or the CSS shorthand #RGB (#0b4 is #00bb44); returned as #RRGGBB."""
    spelled = text.strip()
    digits = spelled[1:] if spelled.startswith("#") else spelled
    if len(digits) == 3 and all(c in "0123456789abcdefABCDEF" for c in digits):
        spelled = "#" + "".join(c * 2 for c in digits)
    try:
        parse_color(spelled)
    except UserError:
        raise argparse.ArgumentTypeError(
            f"must look like #RRGGBB or #RGB (e.g. #00b140 or #0b4), not {text!r}"
        ) from None
    return spelled


def default_width(args: argparse.Namespace) -> int:
    """The working width when --width is not given: 600 for a camera in the window, else 0 (native size)."""
    if is_camera(args.input) and not args.virtual_cam:
        return CAMERA_PREVIEW_WIDTH
    return 0


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit 2), not the whole usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog=PROGRAM_NAME,
        description="Webcam privacy filter: keeps you sharp and blurs (or replaces) everything else.",
    )
    parser.add_argument("-i", "--input", default="0",
                        help="camera index, device (/dev/video2) or part of its name (see --list-cameras), video "
                             "file or image (default: camera 0); or a folder or a quoted glob ('clips/*.mp4') of "
                             "files, each filtered into --output DIR")
    parser.add_argument("--list-cameras", action="store_true",
                        help="list the cameras (index, device, name, sizes) and exit")
    parser.add_argument("-o", "--output",
                        help="write the filtered video (.mp4/.mov/.mkv/.webm/.avi, with the input's sound) or image "
                             "(.png/.jpg); a folder for several inputs")
    parser.add_argument("--mask-output", help="write the alpha matte as 8-bit grayscale (video or image)")
    parser.add_argument("--no-display", action="store_true", help="no preview window (files, headless machines)")
    parser.add_argument("--backend", choices=BACKENDS, default="selfie", help="segmenter (default: selfie)")
    parser.add_argument("--model-selection", type=int, choices=(0, 1), default=1,
                        help="selfie model: 1 landscape 256x144 (default, faster), 0 general 256x256")
    parser.add_argument("-m", "--mask-rcnn", default=str(default_model_dir()),
                        help="folder with the Mask R-CNN files (default: the project's mask-rcnn-coco/; "
                             "installed: the user's cache folder)")
    parser.add_argument("-c", "--confidence", type=_unit_interval, default=0.5,
                        help="Mask R-CNN: minimum person score (default 0.5)")
    parser.add_argument("-t", "--threshold", type=_unit_interval, default=0.3,
                        help="Mask R-CNN: mask threshold (default 0.3)")
    parser.add_argument("-k", "--kernel", type=_odd_kernel, default=DEFAULT_KERNEL,
                        help=f"strength of blur/pixelate/desaturate, odd: the Gaussian kernel in pixels of the frame "
                             f"scaled to {REFERENCE_WIDTH} px wide, so the same K hides the same at every frame size "
                             f"(default {DEFAULT_KERNEL}; privacy floor {KERNEL_FLOOR}: lower values are raised to it)")
    parser.add_argument("-w", "--width", type=_width, default=None,
                        help="resize frames to this width (16 or more), keeping aspect; 0 = native size (default: "
                             "600 for a camera in the window, native size for files and --virtual-cam)")
    parser.add_argument("--keep", choices=KEEP_CHOICES, default="user",
                        help="who stays sharp: 'user' (only you, default) or 'all' people")
    parser.add_argument("--no-privacy", action="store_true", help="start with privacy off (press p to turn on)")
    parser.add_argument("--effect", choices=EFFECT_NAMES, default="blur", help="what the background becomes")
    parser.add_argument("--background",
                        help="picture for --effect image, scaled to cover the frame (any effect: b can switch to it)")
    parser.add_argument("--color", type=_color, default="#00b140", help="colour for --effect color, as #RRGGBB or #RGB")
    parser.add_argument("--virtual-cam", action="store_true",
                        help="also send the filtered video to a virtual webcam (needs pyvirtualcam and v4l2loopback "
                             "or OBS; see docs/virtual-camera.md)")
    parser.add_argument("--virtual-cam-device", metavar="DEV",
                        help="which virtual camera (e.g. /dev/video10); default: the first one found")
    parser.add_argument("--always-on", action="store_true",
                        help="--virtual-cam on Linux: keep the camera on all the time (default: on only while a call "
                             "watches the virtual camera; released after ~2 s without one)")
    parser.add_argument("--snapshot-dir", default=".", metavar="DIR",
                        help="folder for the snapshots the s key saves (default: the current folder)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.add_argument("--skip-existing", action="store_true",
                        help="leave inputs whose outputs already exist alone (re-running a folder continues where "
                             "it stopped)")
    parser.add_argument("--quality", type=_quality, default=DEFAULT_QUALITY, metavar="CRF",
                        help=f"video quality, 0 (lossless, huge) to 51 (worst); 18 looks like the input "
                             f"(default {DEFAULT_QUALITY}, FFmpeg's)")
    parser.add_argument("--loop", action="store_true",
                        help="play a video file input over and over (in the window or to --virtual-cam)")
    parser.add_argument("--download-mask-rcnn", action="store_true",
                        help="download the Mask R-CNN model into --mask-rcnn and exit")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    problem = runtime_env_problem()
    if problem:
        parser.error(problem)
    if not args.input.strip():
        parser.error("--input is empty; give a camera index, a file, a folder or a glob")
    try:  # a camera named by its device or its name: from here on, its index
        args.input = camera_input(args.input) or args.input
    except AmbiguousCamera as exc:
        parser.error(str(exc))
    if args.effect == "image" and not args.background:
        parser.error("--effect image needs --background FILE")
    if args.skip_existing and args.overwrite:
        parser.error("--skip-existing and --overwrite cannot be used together: one keeps existing outputs, "
                     "the other replaces them")
    if args.virtual_cam_device:
        args.virtual_cam = True
    if args.width is None:
        args.width = default_width(args)
    if args.kernel < KERNEL_FLOOR:
        # Below the floor the room stays recognisable: run at the floor and say so, rather than stop the user.
        print(f"privacy-filter: note: --kernel {args.kernel} is under the privacy floor; using {KERNEL_FLOOR}",
              file=sys.stderr)
        args.kernel = KERNEL_FLOOR
    return args
