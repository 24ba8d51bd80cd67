"""Closed-form leg solutions that keep the feet planted.

Angles here are the *rotation* Cardan angles of the femur in the pelvis (``Rz(flexion)
Rx(beta) Ry(gamma)``, radians), before the left-side mirroring of :func:`coxa.geometry.
hip_angles_deg`: anatomical adduction and internal rotation are ``side_sign`` times ``beta`` and
``gamma``. The knee is a hinge about the femur's Z axis; its axial (screw-home) rotation turns
the tibia about its own long axis and so never moves the ankle.

Vectors and angle triples are tuples of ``(N,)`` columns (see :mod:`coxa.sim._columns`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from coxa.geometry import FloatArray
from coxa.sim._columns import VecCols
from coxa.sim._skeleton import Anthropometry

_log = logging.getLogger(__name__)

#: A solved knee straightens smoothly to no less than this [assumption], radians.
_KNEE_MIN_RAD = np.radians(6.0)
_COS_KNEE_MIN = float(np.cos(_KNEE_MIN_RAD))
#: Width of the smooth saturation, in units of cos(knee flexion) [assumption].
_SATURATION_WIDTH = 0.005


def ankle_in_femur_m(body: Anthropometry, knee_flexion_rad: FloatArray) -> VecCols:
    """Ankle joint centre in the femur frame for a knee flexion (radians), ``(x, y, z)``.

    Knee flexion turns the tibia by ``-knee_flexion`` about the femur Z axis, so the ankle moves
    posterior (-X) of the knee.
    """
    k = knee_flexion_rad
    return (
        -body.shank_length_m * np.sin(k),
        -body.thigh_length_m - body.shank_length_m * np.cos(k),
        np.zeros_like(k),
    )


def _rotate_y(vec: VecCols, angle_rad: FloatArray) -> VecCols:
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    x, y, z = vec
    return (c * x + s * z, y, -s * x + c * z)


def adduction_for_lateral_rad(
    ankle_after_rotation_m: VecCols, lateral_target_m: FloatArray
) -> FloatArray:
    """Rotation angle ``beta`` about the pelvis X axis that puts the ankle at a lateral offset.

    Parameters
    ----------
    ankle_after_rotation_m : tuple of 3 ndarrays, each shape (N,)
        Ankle relative to the hip joint centre after the axial rotation ``Ry(gamma)``, metres.
        Its Z coordinate after ``Rx(beta)`` is ``sin(beta) y + cos(beta) z``; flexion about Z
        leaves it unchanged.
    lateral_target_m : ndarray, shape (N,)
        Wanted pelvis-frame Z of the ankle relative to the hip joint centre, metres.

    Returns
    -------
    ndarray, shape (N,)
        ``beta`` in radians, the root near zero for an ankle below the hip.
    """
    _, vy, vz = ankle_after_rotation_m
    rho = np.hypot(vy, vz)
    ratio = lateral_target_m / np.maximum(rho, 1e-9)
    if np.any(np.abs(ratio) > 1.0):
        _log.warning("lateral foot target out of reach; clamping the hip adduction")
    return np.arctan2(vy, vz) + np.arccos(np.clip(ratio, -1.0, 1.0))


def hip_rotation_angles_rad(
    body: Anthropometry,
    hip_flexion_rad: FloatArray,
    knee_flexion_rad: FloatArray,
    gamma_rad: FloatArray,
    lateral_target_m: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Rotation Cardan angles (flexion, beta, gamma) with the adduction solved for a lateral
    ankle offset, radians, each ``(N,)``."""
    v = _rotate_y(ankle_in_femur_m(body, knee_flexion_rad), gamma_rad)
    beta = adduction_for_lateral_rad(v, lateral_target_m)
    return hip_flexion_rad, beta, gamma_rad


@dataclass(frozen=True, eq=False)
class LegSolution:
    """A leg solved so that its ankle reaches a target.

    Attributes
    ----------
    hip_rotation_rad : tuple of 3 ndarrays, each shape (N,)
        Rotation Cardan angles (flexion, beta, gamma) of the femur in the pelvis, radians.
    knee_flexion_rad : ndarray, shape (N,)
        Knee flexion, radians.
    """

    hip_rotation_rad: tuple[FloatArray, FloatArray, FloatArray]
    knee_flexion_rad: FloatArray


def solve_leg_to_ankle(
    body: Anthropometry, ankle_from_hip_in_pelvis_m: VecCols, gamma_rad: FloatArray
) -> LegSolution:
    """Hip flexion, adduction and knee flexion that put the ankle at a pelvis-frame target.

    The axial rotation ``gamma_rad`` (shape ``(N,)``) is kept as commanded; the knee flexion
    follows from the hip-to-ankle distance (law of cosines), the adduction from the lateral
    coordinate and the flexion from the sagittal direction. Near full reach the knee flexion
    saturates smoothly at 6 deg (logged): the ankle then falls short of the target (the foot
    slides) but the solution stays finite and smooth. Far from full reach the saturation moves
    the ankle by less than 0.1 mm.

    Parameters
    ----------
    body : Anthropometry
        Segment dimensions.
    ankle_from_hip_in_pelvis_m : tuple of 3 ndarrays, each shape (N,)
        Target ankle relative to the hip joint centre, pelvis frame, metres.
    gamma_rad : ndarray, shape (N,)
        Axial rotation Cardan angle, radians.
    """
    g0, g1, g2 = ankle_from_hip_in_pelvis_m
    lf, ls = body.thigh_length_m, body.shank_length_m
    dist_sq = g0 * g0 + g1 * g1 + g2 * g2
    cos_knee = (dist_sq - lf * lf - ls * ls) / (2.0 * lf * ls)
    if np.any(cos_knee > _COS_KNEE_MIN):
        _log.warning(
            "planted foot nearly out of reach: knee kept above %.0f deg, the foot slides",
            np.degrees(_KNEE_MIN_RAD),
        )
    # Smooth saturation (softplus) instead of a hard clip keeps the motion C2 when it engages.
    excess = (cos_knee - _COS_KNEE_MIN) / _SATURATION_WIDTH
    cos_soft = cos_knee - _SATURATION_WIDTH * np.logaddexp(0.0, excess)
    knee = np.arccos(np.clip(cos_soft, -1.0, 1.0))
    v = _rotate_y(ankle_in_femur_m(body, knee), gamma_rad)
    beta = adduction_for_lateral_rad(v, np.asarray(g2, dtype=np.float64))
    cb, sb = np.cos(beta), np.sin(beta)
    w_x = v[0]
    w_y = cb * v[1] - sb * v[2]
    flexion = np.angle((g0 + 1j * g1) * (w_x - 1j * w_y))
    return LegSolution(hip_rotation_rad=(flexion, beta, gamma_rad), knee_flexion_rad=knee)
