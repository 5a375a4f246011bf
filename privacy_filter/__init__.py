"""Real-time webcam privacy filter: keep the user sharp, hide everything else.

Pipeline stages, one module each:
source (``sources``) -> segmenter (``selfie``, ``mask_rcnn``) -> person selection (``selection``)
-> matte refinement (``matte``) -> background effect (``effects``) -> compositor (``compositor``)
-> sink (``sinks``), wired per frame by ``pipeline`` and driven by the loop in ``app``.
"""

__version__ = "0.1.0"
