"""``overlap``: put the processor's segmentation on a worker thread, ``Lookahead`` or ``LatestMask`` as the
backend and the output need (see the package's docstring)."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import numpy as np

from ..io.sources import ImageSource, Source
from ..pipeline import FrameProcessor, InstancePeople, checked_probability
from ..segment import runtime
from ..segment.selfie import SelfieSegmenter
from .latest import LatestMask
from .lookahead import Lookahead


def runs_on_litert(finder: object) -> bool:
    """True if the finder's segmenter runs on LiteRT (not on cv2.dnn, which spreads its own work over
    OpenCV's threads)."""
    return getattr(getattr(finder, "segmenter", None), "runtime", None) == runtime.LITERT


def overlap(
    source: Source,
    processor: FrameProcessor,
    realtime: bool,
    follow: bool = True,
    replay: bool = False,
    idle: Callable[[], bool] = lambda: False,
) -> Source:
    """Put the processor's segmentation on a worker thread; returns the source the loop should read.

    realtime: frames are consumed as they come (a window, a virtual camera); a live source always is.
    Mask R-CNN in real time: ``LatestMask`` (followed by the selfie model if ``follow``), the window never
    waits for the model. Otherwise (selfie, or Mask R-CNN writing a file headless, where every frame should
    get its own mask): ``Lookahead``. A still image is left alone (nothing to overlap).
    Stop the returned source, then ``processor.close()``, to end the threads. Called again for the next
    input it replaces (and closes) the previous input's workers; ``replay`` (the same input again, --loop)
    keeps a running ``LatestMask`` and its newest mask. ``idle()`` True (paused) stops the ``Lookahead``
    worker from segmenting frames ahead; a frame handed out meanwhile is segmented when it is filtered.
    While a ``Lookahead`` over LiteRT models runs, OpenCV works single-threaded (runtime.PIPELINE_OPENCV_THREADS).
    """
    finder = processor.finder
    if replay and isinstance(finder, LatestMask):
        return source
    if isinstance(finder, Lookahead | LatestMask):  # a previous input's worker: start afresh from its model
        finder.close()
        finder = finder.finder
        processor.finder = finder
    reset = getattr(finder, "reset", None)  # the people stage: a new input's first frame looks for faces afresh
    if reset is not None:
        reset()
    # Mask R-CNN, alone or inside the people stage (which then runs on the mask worker, at the model's rate).
    if isinstance(getattr(finder, "base", finder), InstancePeople) and (realtime or source.live):
        fast = None
        if follow:
            selfie = SelfieSegmenter()

            def fast(frame: np.ndarray) -> np.ndarray:
                return checked_probability(selfie.process(frame), selfie.output_size)

        processor.finder = LatestMask(finder, follow=fast)
        return source
    if isinstance(source, ImageSource):
        return source
    # idle (the window paused): a camera keeps delivering frames nobody shows; do not run the model on them.
    # Our own threads (reader, worker, this loop) fill the cores: OpenCV's pool would only spin (runtime.py).
    threads = runtime.PIPELINE_OPENCV_THREADS if runs_on_litert(finder) else None
    ahead = Lookahead(source, finder, wanted=lambda: not idle() and (processor.privacy or processor.want_alpha),
                      opencv_threads=threads)
    processor.finder = ahead
    return cast(Source, ahead.start())  # a stand-in for the source: its own verbs, the rest by __getattr__
