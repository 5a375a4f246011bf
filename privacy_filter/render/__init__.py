"""Rendering: the matte (``matte``: the person map refined to the frame's edges), the effect applied to what is
hidden (``effects``), and the compositor that blends the two (``compositor``); ``pyramid`` and ``downscale`` are
shared image helpers.

``alpha: HxW float32 in [0,1]`` and ``frame: HxWx3 uint8 BGR`` in, the filtered frame out. Imports nothing above.
"""
