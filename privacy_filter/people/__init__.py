"""The people stage: finding each person in a frame, telling whose pixels are whose, and tracking the user.

source -> segment (selfie map / Mask R-CNN instances) -> **people** -> matte -> effect -> compositor -> sink.

``faces`` finds faces (``anchors`` decodes the SSD detectors), ``split`` cuts the selfie map's fused regions
between them, ``selection`` tells *the user* from everyone else and tracks them, and ``stage`` ties this
together as the ``PeopleFinder`` the pipeline calls.
"""
