"""The fusion core: clock alignment, calibration, magnetometer-free heading, ISB joint angles.

See ``docs/fusion.md`` for the method, its references and the measured accuracy and speed.
"""

from coxa.fusion._angles import POINTER_MIN_KNEE_DEG, femur_from_shank_pointer, joint_angles_deg
from coxa.fusion._calibration import (
    Calibration,
    CalibrationError,
    CalibrationParams,
    SegmentCalibration,
)
from coxa.fusion._clock import ClockParams, ClockState, ClockSync
from coxa.fusion._core import FusionCore, FusionParams, FusionStats
from coxa.fusion._heading import HeadingParams, HeadingState
from coxa.fusion._orientations import blocks_from_orientations
from coxa.fusion._refusion import RefusionParams, RefusionState, RefusionVariant, VqfRefusion
from coxa.fusion._samples import SampleBlock
from coxa.fusion._table import AngleTable, HipReference
from coxa.fusion._unpack import FrameUnpacker

__all__ = [
    "POINTER_MIN_KNEE_DEG",
    "AngleTable",
    "Calibration",
    "CalibrationError",
    "CalibrationParams",
    "ClockParams",
    "ClockState",
    "ClockSync",
    "FrameUnpacker",
    "FusionCore",
    "FusionParams",
    "FusionStats",
    "HeadingParams",
    "HeadingState",
    "HipReference",
    "RefusionParams",
    "RefusionState",
    "RefusionVariant",
    "SampleBlock",
    "SegmentCalibration",
    "VqfRefusion",
    "blocks_from_orientations",
    "femur_from_shank_pointer",
    "joint_angles_deg",
]
