"""Nominal board placements: how the strap holds each board on its segment.

Every board is worn with its face on the skin, the sensor Z axis pointing out of the body and the
sensor X axis pointing proximally (up the limb). The rotation from the sensor frame into the
segment frame (X anterior, Y proximal, Z right) is therefore fixed by the body site:

============  ===========================  ==============================================
segment       site                         sensor axes in the segment frame (x, y, z)
============  ===========================  ==============================================
pelvis        sacrum                       (+Y, -Z, -X): face out backwards
femur_r       lateral right thigh          (+Y, -X, +Z): face out to the right
femur_l       lateral left thigh           (+Y, +X, -Z): face out to the left
tibia_r/l     anterior shank (tibial face) (+Y, +Z, +X): face out forwards
============  ===========================  ==============================================

These are [assumption] values of the product's strap design: real straps sit several degrees off,
which the standing calibration corrects for inclination (and, from issue #4 on, functional
calibration for the rest).
"""

from __future__ import annotations

import numpy as np

from coxa.body._segments import SegmentName
from coxa.geometry import FloatArray, quat_canonical, quat_from_matrix


def _quat_from_axes(x_axis: list[float], y_axis: list[float], z_axis: list[float]) -> FloatArray:
    """Quaternion whose rotation matrix has the given columns (sensor axes in segment frame)."""
    matrix = np.array([x_axis, y_axis, z_axis], dtype=np.float64).T
    return quat_canonical(quat_from_matrix(matrix))


#: Nominal ``quat_segment_sensor_wxyz`` per segment (sensor frame in the segment frame).
NOMINAL_QUAT_SEGMENT_SENSOR_WXYZ: dict[SegmentName, FloatArray] = {
    "pelvis": _quat_from_axes([0, 1, 0], [0, 0, -1], [-1, 0, 0]),
    "femur_r": _quat_from_axes([0, 1, 0], [-1, 0, 0], [0, 0, 1]),
    "femur_l": _quat_from_axes([0, 1, 0], [1, 0, 0], [0, 0, -1]),
    "tibia_r": _quat_from_axes([0, 1, 0], [0, 0, 1], [1, 0, 0]),
    "tibia_l": _quat_from_axes([0, 1, 0], [0, 0, 1], [1, 0, 0]),
}
