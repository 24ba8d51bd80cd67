"""Body segments, the boards worn on them, and which joints they form."""

from __future__ import annotations

from typing import Literal

SegmentName = Literal["pelvis", "femur_r", "femur_l", "tibia_r", "tibia_l"]
BoardPlacementName = Literal["pelvis", "thigh_r", "thigh_l", "shank_r", "shank_l"]

#: Segments the product models, proximal first.
SEGMENTS: tuple[SegmentName, ...] = ("pelvis", "femur_r", "femur_l", "tibia_r", "tibia_l")

#: Wire-protocol placement names (where the board is strapped) to the segment it follows.
SEGMENT_OF_PLACEMENT: dict[BoardPlacementName, SegmentName] = {
    "pelvis": "pelvis",
    "thigh_r": "femur_r",
    "thigh_l": "femur_l",
    "shank_r": "tibia_r",
    "shank_l": "tibia_l",
}
