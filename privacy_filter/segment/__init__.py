"""Segmentation: model files and their checks (``models``), the model runtimes (``runtime``: LiteRT, cv2.dnn),
the selfie segmenter (``selfie``), the seed's Mask R-CNN (``mask_rcnn``) and its downloader (``download``).

``frame: HxWx3 uint8 BGR`` in; a person probability map (HxW float32 in [0,1]) or Mask R-CNN instances out.
"""
