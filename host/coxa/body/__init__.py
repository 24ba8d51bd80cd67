"""Body segments and the nominal placement of a board on each."""

from coxa.body._placement import NOMINAL_QUAT_SEGMENT_SENSOR_WXYZ
from coxa.body._segments import (
    SEGMENT_OF_PLACEMENT,
    SEGMENTS,
    BoardPlacementName,
    SegmentName,
)

__all__ = [
    "NOMINAL_QUAT_SEGMENT_SENSOR_WXYZ",
    "SEGMENTS",
    "SEGMENT_OF_PLACEMENT",
    "BoardPlacementName",
    "SegmentName",
]
