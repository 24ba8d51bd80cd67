"""ISB joint angles from segment orientations (hip: Wu et al. 2002; knee: Grood & Suntay 1983).

Segment frames follow ISB / OpenSim: X anterior, Y proximal (up), Z to the right. A joint angle
set is the intrinsic Z-X'-Y'' Cardan decomposition of the distal segment relative to the proximal
one (SciPy ``'ZXY'``): the first angle about the proximal segment's medio-lateral axis, the second
about the floating axis, the third about the distal segment's long axis.

Signs are anatomical and equal on both sides: +flexion, +adduction, +internal rotation. On the
left the second and third Cardan angles are negated (mirrored). The knee's first Cardan angle is
negated too, so that knee flexion is positive (OpenSim Rajagopal ``knee_angle_r``).

References
----------
Wu G. et al. (2002) ISB recommendation on definitions of joint coordinate system of various
joints. J Biomech 35:543-548. doi:10.1016/S0021-9290(01)00222-6
Grood E.S., Suntay W.J. (1983) A joint coordinate system for the clinical description of
three-dimensional motions: application to the knee. J Biomech Eng 105:136-144.
doi:10.1115/1.3138397
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from coxa.geometry._quaternion import (
    FloatArray,
    as_quat_array,
    quat_from_axis_angle,
    quat_multiply,
    quat_relative,
)

Side = Literal["r", "l"]

HIP_ANGLE_NAMES: tuple[str, str, str] = ("hip_flexion", "hip_adduction", "hip_rotation")
KNEE_ANGLE_NAMES: tuple[str, str, str] = ("knee_angle", "knee_adduction", "knee_rotation")

_X_AXIS = np.array([1.0, 0.0, 0.0])
_Y_AXIS = np.array([0.0, 1.0, 0.0])
_Z_AXIS = np.array([0.0, 0.0, 1.0])


def cardan_zxy_rad(quat_wxyz: ArrayLike) -> FloatArray:
    """Intrinsic Z-X'-Y'' angles of unit quaternions, shape ``(..., 3)`` in radians.

    Returns ``(alpha, beta, gamma)`` with ``R = Rz(alpha) Rx(beta) Ry(gamma)``;
    ``beta`` in [-pi/2, pi/2] (gimbal lock at +-pi/2).
    """
    q = as_quat_array(quat_wxyz)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    r01 = 2 * (x * y - w * z)
    r11 = 1 - 2 * (x * x + z * z)
    r20 = 2 * (x * z - w * y)
    r21 = 2 * (y * z + w * x)
    r22 = 1 - 2 * (x * x + y * y)
    alpha = np.arctan2(-r01, r11)
    beta = np.arcsin(np.clip(r21, -1.0, 1.0))
    gamma = np.arctan2(-r20, r22)
    return np.stack([alpha, beta, gamma], axis=-1)


def quat_from_cardan_zxy(angles_rad: ArrayLike) -> FloatArray:
    """Inverse of :func:`cardan_zxy_rad`: ``Rz(alpha) Rx(beta) Ry(gamma)``, shape ``(..., 4)``."""
    a = np.asarray(angles_rad, dtype=np.float64)
    if a.ndim == 0 or a.shape[-1] != 3:
        raise ValueError(f"Cardan angles need a last axis of length 3, got {a.shape}")
    qz = quat_from_axis_angle(_Z_AXIS, a[..., 0])
    qx = quat_from_axis_angle(_X_AXIS, a[..., 1])
    qy = quat_from_axis_angle(_Y_AXIS, a[..., 2])
    return quat_multiply(quat_multiply(qz, qx), qy)


def _side_signs(side: Side) -> FloatArray:
    if side == "r":
        return np.array([1.0, 1.0, 1.0])
    if side == "l":
        return np.array([1.0, -1.0, -1.0])
    raise ValueError(f"side must be 'r' or 'l', got {side!r}")


def hip_angles_deg(
    quat_pelvis_wxyz: ArrayLike, quat_femur_wxyz: ArrayLike, side: Side
) -> FloatArray:
    """Hip flexion, adduction and internal rotation in degrees, shape ``(..., 3)``.

    Parameters
    ----------
    quat_pelvis_wxyz, quat_femur_wxyz : array_like, shape (..., 4)
        Pelvis and femur segment frames relative to one common frame (the world).
    side : {'r', 'l'}
        Leg; the left is mirrored so that +adduction and +internal rotation hold on both sides.
    """
    rel = quat_relative(quat_pelvis_wxyz, quat_femur_wxyz)
    return np.degrees(cardan_zxy_rad(rel) * _side_signs(side))


def knee_angles_deg(
    quat_femur_wxyz: ArrayLike, quat_tibia_wxyz: ArrayLike, side: Side
) -> FloatArray:
    """Knee flexion, adduction (varus) and tibial internal rotation in degrees, ``(..., 3)``.

    Grood & Suntay's joint coordinate system expressed as the Z-X'-Y'' Cardan sequence of the
    tibia relative to the femur; flexion is positive.
    """
    rel = quat_relative(quat_femur_wxyz, quat_tibia_wxyz)
    return np.degrees(cardan_zxy_rad(rel) * _side_signs(side) * np.array([-1.0, 1.0, 1.0]))


def quat_hip_from_angles_deg(angles_deg: ArrayLike, side: Side) -> FloatArray:
    """Femur-in-pelvis orientation from hip angles (inverse of :func:`hip_angles_deg`)."""
    return quat_from_cardan_zxy(
        np.radians(np.asarray(angles_deg, dtype=np.float64)) * _side_signs(side)
    )


def quat_knee_from_angles_deg(angles_deg: ArrayLike, side: Side) -> FloatArray:
    """Tibia-in-femur orientation from knee angles (inverse of :func:`knee_angles_deg`)."""
    signs = _side_signs(side) * np.array([-1.0, 1.0, 1.0])
    return quat_from_cardan_zxy(np.radians(np.asarray(angles_deg, dtype=np.float64)) * signs)
