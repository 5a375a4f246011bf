"""The program around the filter: flags (``cli``), keys (``controls``), text on the picture (``overlay``), stop
signals (``signals``), building the filter from the flags (``build``), planning the jobs (``jobs``), one job's
outputs (``outputs``), the per-frame loop (``loop``) and the entry point (``main``).

app -> io -> segment -> people -> render: this is the top; nothing below imports it.
"""
