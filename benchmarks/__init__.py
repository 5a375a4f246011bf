"""Benchmarks: scripts that print numbers (quality, speed).

Run them as modules, e.g. ``python -m benchmarks.quality``.
"""
