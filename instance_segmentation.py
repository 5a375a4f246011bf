#!/usr/bin/env python3
"""Webcam privacy filter — keeps you sharp, blurs (or replaces) everything else.

Usage: python instance_segmentation.py [--input 0|FILE] [--output FILE] [--no-display] ...
(``python instance_segmentation.py --help`` lists every flag.)
"""

import sys

from privacy_filter.app import main

if __name__ == "__main__":
    sys.exit(main())
