"""The people stage: finding each person in a frame, telling whose pixels are whose, and tracking the user.

source -> segment (selfie map / Mask R-CNN instances) -> **people** -> matte -> effect -> compositor -> sink.

``faces`` finds faces (``anchors`` decodes the SSD detectors), ``multipose`` finds bodies with or without a
face (MoveNet MultiPose), ``bodies`` cuts one person's own mask (MediaPipe pose), ``split`` cuts the selfie
map's fused regions between faces and ``skeletons`` between bodies (``bodysplit`` decides when MoveNet runs),
``selection`` tells *the user* from everyone else and tracks them, ``floor`` hides every face that is not kept,
and ``stage`` ties this together as the ``PeopleFinder`` the pipeline calls.
"""
