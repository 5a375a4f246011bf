#!/usr/bin/env python3
"""Webcam privacy filter — keeps you sharp, blurs (or replaces) everything else.

Usage: python instance_segmentation.py [--input 0|FILE] [--output FILE] [--no-display] ...
(``python instance_segmentation.py --help`` lists every flag.)
"""

import os
import signal
import sys


def _stopped_while_starting(signum: int, _frame: object) -> None:
    # Nothing has been read or written yet: say so in one line and end with the usual status, rather than a
    # KeyboardInterrupt traceback from inside the imports below (OpenCV, numpy, LiteRT take a moment).
    sys.stderr.write("privacy-filter: interrupted\n")
    sys.stderr.flush()
    os._exit(128 + signum)  # as shells report it: 130 SIGINT, 143 SIGTERM, 129 SIGHUP


# Installed before the heavy imports; privacy_filter.app.main replaces them with its own once it runs.
for _name in ("SIGINT", "SIGTERM", "SIGHUP"):
    if hasattr(signal, _name):
        signal.signal(getattr(signal, _name), _stopped_while_starting)

from privacy_filter.app.main import main  # noqa: E402  (after the handlers, on purpose)

if __name__ == "__main__":
    sys.exit(main())
