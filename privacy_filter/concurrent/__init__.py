"""Overlap: run segmentation on a worker thread so that both cores of a small laptop work at once.

Both ways keep the ``PeopleFinder`` verb, ``find(frame) -> (people, grid)``, so ``FrameProcessor`` does not
change; OpenCV and numpy release the GIL in their loops, so Python threads do run in parallel here.

``Lookahead`` (the selfie backend; any backend writing a file headless)
    A worker thread reads the source and finds the people in frame N+1 while the caller refines, blends and
    encodes frame N (the source's own reader thread decodes N+2). Every frame gets its own segmentation: for
    a file, frames come out in order and none is dropped, the same outputs as the synchronous loop. For a
    live camera only the newest frame is kept at each step (a slow step drops frames, it never adds lag).

``LatestMask`` (Mask R-CNN in a window or on a camera)
    The model runs on its own worker at whatever rate it manages (seconds per frame on 2 cores); ``find``
    never waits for it: every frame is composited with the people of the most recent frame the model
    finished, optionally *followed* to the current frame by the fast selfie map (``follow_people``) so that
    edges move with the person between model updates. Privacy fails closed: before the first mask, after a
    failed model run and if the worker has died, ``find`` raises and the processor hides the whole frame.

``overlap.overlap(source, processor, realtime)`` picks one of them for the app and wires it in; ``threads``
holds what both workers share (the stop time-out, OpenCV's thread count).
"""
