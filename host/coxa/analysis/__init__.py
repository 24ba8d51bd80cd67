"""Exercise analysis: rep segmentation and per-rep values."""

from coxa.analysis._reps import LegRep, Rep, RepCounter, RepParams

__all__ = ["LegRep", "Rep", "RepCounter", "RepParams"]
