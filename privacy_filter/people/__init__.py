"""The people stage: between the segmenter and the matte.

source -> segment (selfie map / Mask R-CNN instances) -> **people** -> matte -> effect -> compositor -> sink.

Here each person in the frame is found (faces), the selfie map's fused regions are split between them
(``split``), and *the user* is told apart from everyone else and tracked (``selection``); ``stage`` ties this
together as the ``PeopleFinder`` the pipeline calls.
"""
