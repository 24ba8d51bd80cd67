"""The first host pipeline: decoded frames to calibrated ISB hip and knee angles."""

from coxa.pipeline._angles import AngleBlock, HipReference
from coxa.pipeline._calibration import (
    Calibration,
    CalibrationParams,
    SegmentCalibration,
    calibrate_segment,
    calibrate_standing,
    find_standing_rest,
)
from coxa.pipeline._frames import ReceivedFrame, frame_arrays
from coxa.pipeline._interpolate import interpolate_quat
from coxa.pipeline._pipeline import JointAnglePipeline, PipelineParams
from coxa.pipeline._track import BoardTrack

__all__ = [
    "AngleBlock",
    "BoardTrack",
    "Calibration",
    "CalibrationParams",
    "HipReference",
    "JointAnglePipeline",
    "PipelineParams",
    "ReceivedFrame",
    "SegmentCalibration",
    "calibrate_segment",
    "calibrate_standing",
    "find_standing_rest",
    "frame_arrays",
    "interpolate_quat",
]
