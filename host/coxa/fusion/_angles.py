"""Joint angles from segment orientations in the common world frame."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.spatial.transform import Rotation

from coxa.geometry import (
    QUAT_WORLD_SEGMENT_NEUTRAL_WXYZ,
    FloatArray,
    Side,
    cardan_zxy_rad,
    hip_angles_deg,
    knee_angles_deg,
    quat_from_axis_angle,
    quat_from_scipy,
    quat_multiply,
    quat_relative,
    quat_rotate,
)

_Y = np.array([0.0, 1.0, 0.0])
_Z = np.array([0.0, 0.0, 1.0])
#: Knee flexion below which the shank is too short a pointer to read hip rotation, degrees.
POINTER_MIN_KNEE_DEG = 30.0


def room_pelvis_wxyz(facing_rad: FloatArray) -> FloatArray:
    """A pelvis in the neutral pose facing ``facing_rad``: the reference without a pelvis board."""
    return quat_multiply(quat_from_axis_angle(_Z, facing_rad), QUAT_WORLD_SEGMENT_NEUTRAL_WXYZ)


def femur_from_shank_pointer(femur_wxyz: FloatArray, tibia_wxyz: FloatArray) -> FloatArray:
    """A femur frame whose rotation about the long axis is set by the shank, shape ``(m, 4)``.

    The femur's long (Y) axis is kept; its medio-lateral (Z) axis is taken perpendicular to the
    plane of the femur and the shank, as a goniometer reads the shank as a pointer about the
    femoral axis (the clinical hip rotation tests). Rows whose knee flexion is under
    :data:`POINTER_MIN_KNEE_DEG` are NaN.
    """
    y_femur = quat_rotate(femur_wxyz, _Y)
    distal_tibia = -quat_rotate(tibia_wxyz, _Y)
    z_axis = np.cross(y_femur, distal_tibia)
    norm = np.linalg.norm(z_axis, axis=1)
    usable = norm >= np.sin(np.radians(POINTER_MIN_KNEE_DEG))
    out = np.full(femur_wxyz.shape, np.nan)
    usable &= np.isfinite(norm)
    if not np.any(usable):
        return out
    z_axis = z_axis[usable] / norm[usable, None]
    y_axis = y_femur[usable]
    x_axis = np.cross(y_axis, z_axis)
    matrices: FloatArray = np.stack([x_axis, y_axis, z_axis], axis=2).astype(np.float64)
    out[usable] = quat_from_scipy(Rotation.from_matrix(matrices))
    return out


def joint_angles_deg(
    segments: Mapping[str, FloatArray], facing_rad: FloatArray
) -> dict[str, FloatArray]:
    """Rajagopal-named joint angles (plus knee and pointer extras), degrees.

    Parameters
    ----------
    segments : mapping of str to ndarray, shape (m, 4)
        ``quat_world_segment_wxyz`` of the segments present (``pelvis``, ``femur_r``, ...).
    facing_rad : ndarray, shape (m,)
        Room forward direction, rad: the reference of the pelvis angles, and of the hip angles
        when there is no pelvis board.
    """
    room = room_pelvis_wxyz(facing_rad)
    pelvis = segments.get("pelvis")
    angles: dict[str, FloatArray] = {}
    if pelvis is not None:
        pelvis_zxy = np.degrees(cardan_zxy_rad(quat_relative(room, pelvis)))
        angles["pelvis_tilt"] = pelvis_zxy[:, 0]
        angles["pelvis_list"] = pelvis_zxy[:, 1]
        angles["pelvis_rotation"] = pelvis_zxy[:, 2]
    reference = room if pelvis is None else pelvis
    sides: tuple[Side, ...] = ("r", "l")
    for side in sides:
        femur = segments.get(f"femur_{side}")
        tibia = segments.get(f"tibia_{side}")
        if femur is not None:
            hip = hip_angles_deg(reference, femur, side)
            angles[f"hip_flexion_{side}"] = hip[:, 0]
            angles[f"hip_adduction_{side}"] = hip[:, 1]
            angles[f"hip_rotation_{side}"] = hip[:, 2]
        if femur is not None and tibia is not None:
            knee = knee_angles_deg(femur, tibia, side)
            angles[f"knee_angle_{side}"] = knee[:, 0]
            angles[f"knee_adduction_{side}"] = knee[:, 1]
            angles[f"knee_rotation_{side}"] = knee[:, 2]
            pointer = femur_from_shank_pointer(femur, tibia)
            angles[f"shank_rotation_{side}"] = hip_angles_deg(reference, pointer, side)[:, 2]
    return angles
