"""Frames in and out: sources (camera, video file, image, pipe), sinks (files, the window, the virtual camera),
PyAV for video files (``avfile``), publishing complete files only (``files``), progress lines.

Knows nothing of segmentation, people, the pipeline or the app: it moves BGR frames.
"""
