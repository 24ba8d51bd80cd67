"""Joint angles from segment orientations in the common world frame.

:func:`joint_angles_deg` does the same arithmetic as composing
:func:`coxa.geometry.quat_relative`, :func:`coxa.geometry.cardan_zxy_rad`,
:func:`coxa.geometry.hip_angles_deg`, :func:`coxa.geometry.knee_angles_deg` and
:func:`femur_from_shank_pointer` (the tests hold the two to 1e-9 deg), in a few calls per block
whatever its length: one compiled pass over the rows (numba) computes the arguments of every
``atan2`` and ``asin``, and NumPy evaluates those for all columns at once (its vectorised
``arctan2``/``arcsin`` are about ten times faster here than scalar calls). A live chunk of two
rows costs tens of microseconds, an hour of rows a fraction of a second.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping

import numba
import numpy as np
from numpy.typing import NDArray

from coxa.geometry import (
    QUAT_WORLD_SEGMENT_NEUTRAL_WXYZ,
    FloatArray,
    quat_from_axis_angle,
    quat_from_matrix,
    quat_multiply,
    quat_rotate,
)

_Y = np.array([0.0, 1.0, 0.0])
_Z = np.array([0.0, 0.0, 1.0])
#: Knee flexion below which the shank is too short a pointer to read hip rotation, degrees.
POINTER_MIN_KNEE_DEG = 30.0
_SIN_POINTER_MIN = float(np.sin(np.radians(POINTER_MIN_KNEE_DEG)))
_DEG_PER_RAD = 180.0 / np.pi
_NEUTRAL = tuple(float(v) for v in QUAT_WORLD_SEGMENT_NEUTRAL_WXYZ)

#: Input segments, in the order of the kernel's ``present`` flags and quaternion planes.
_SEGMENTS = ("pelvis", "femur_r", "femur_l", "tibia_r", "tibia_l")
_SEGMENT_INDEX = {name: i for i, name in enumerate(_SEGMENTS)}
#: Rows of the angle arguments: atan2 numerators, atan2 denominators (12 each), asin (5).
_Y_ATAN, _X_ATAN, _S_ASIN, _N_ARGS = 0, 12, 24, 29


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
    usable = norm >= _SIN_POINTER_MIN
    out = np.full(femur_wxyz.shape, np.nan)
    usable &= np.isfinite(norm)
    if not np.any(usable):
        return out
    z_axis = z_axis[usable] / norm[usable, None]
    y_axis = y_femur[usable]
    x_axis = np.cross(y_axis, z_axis)
    out[usable] = quat_from_matrix(np.stack([x_axis, y_axis, z_axis], axis=2))
    return out


@numba.njit(cache=True, nogil=True)
def _multiply(
    pw: float, px: float, py: float, pz: float, qw: float, qx: float, qy: float, qz: float
) -> tuple[float, float, float, float]:
    """``p ⊗ q`` (the arithmetic of :func:`coxa.geometry.quat_multiply`)."""
    return (
        pw * qw - px * qx - py * qy - pz * qz,
        pw * qx + px * qw + py * qz - pz * qy,
        pw * qy - px * qz + py * qw + pz * qx,
        pw * qz + px * qy - py * qx + pz * qw,
    )


@numba.njit(cache=True, nogil=True)
def _relative(
    pw: float, px: float, py: float, pz: float, qw: float, qx: float, qy: float, qz: float
) -> tuple[float, float, float, float]:
    """``conj(p) ⊗ q`` (the arithmetic of :func:`coxa.geometry.quat_relative`)."""
    return _multiply(pw, -px, -py, -pz, qw, qx, qy, qz)


@numba.njit(cache=True, nogil=True)
def _cardan_arguments(
    w: float, x: float, y: float, z: float
) -> tuple[float, float, float, float, float]:
    """Arguments of the Z-X'-Y'' angles of a quaternion (the arithmetic of
    :func:`coxa.geometry.cardan_zxy_rad`): ``alpha = atan2(a0, a1)``, ``beta = asin(a2)``,
    ``gamma = atan2(a3, a4)``."""
    r21 = 2 * (y * z + w * x)
    # Clip with comparisons, so that NaN stays NaN.
    if r21 > 1.0:
        r21 = 1.0
    elif r21 < -1.0:
        r21 = -1.0
    return (
        -(2 * (x * y - w * z)),
        1 - 2 * (x * x + z * z),
        r21,
        -(2 * (x * z - w * y)),
        1 - 2 * (x * x + y * y),
    )


@numba.njit(cache=True, nogil=True)
def _long_axis(w: float, ux: float, uy: float, uz: float) -> tuple[float, float, float]:
    """The segment's Y axis in the world (the arithmetic of ``quat_rotate(q, (0, 1, 0))``)."""
    # t = 2 u x Y, result Y + w t + u x t.
    tx = 2.0 * (uy * 0.0 - uz * 1.0)
    ty = 2.0 * (uz * 0.0 - ux * 0.0)
    tz = 2.0 * (ux * 1.0 - uy * 0.0)
    return (
        0.0 + w * tx + (uy * tz - uz * ty),
        1.0 + w * ty + (uz * tx - ux * tz),
        0.0 + w * tz + (ux * ty - uy * tx),
    )


@numba.njit(cache=True, nogil=True)
def _pointer_femur(
    f: tuple[float, float, float, float], t: tuple[float, float, float, float]
) -> tuple[float, float, float, float]:
    """:func:`femur_from_shank_pointer` of one row (NaN where it is NaN)."""
    yx, yy, yz = _long_axis(f[0], f[1], f[2], f[3])
    tx, ty, tz = _long_axis(t[0], t[1], t[2], t[3])
    dx, dy, dz = -tx, -ty, -tz
    zx = yy * dz - yz * dy
    zy = yz * dx - yx * dz
    zz = yx * dy - yy * dx
    norm = math.sqrt(zx * zx + zy * zy + zz * zz)
    if not (norm >= _SIN_POINTER_MIN and math.isfinite(norm)):
        return np.nan, np.nan, np.nan, np.nan
    inverse = 1.0 / norm
    zx, zy, zz = zx * inverse, zy * inverse, zz * inverse
    xx = yy * zz - yz * zy
    xy = yz * zx - yx * zz
    xz = yx * zy - yy * zx
    # Matrix columns x, y, z; Shepperd's method as in coxa.geometry.quat_from_matrix.
    r00, r01, r02 = xx, yx, zx
    r10, r11, r12 = xy, yy, zy
    r20, r21, r22 = xz, yz, zz
    d0 = 1.0 + r00 + r11 + r22
    d1 = 1.0 + r00 - r11 - r22
    d2 = 1.0 - r00 + r11 - r22
    d3 = 1.0 - r00 - r11 + r22
    if d0 >= d1 and d0 >= d2 and d0 >= d3:
        w, x, y, z = d0, r21 - r12, r02 - r20, r10 - r01
    elif d1 >= d2 and d1 >= d3:
        w, x, y, z = r21 - r12, d1, r01 + r10, r02 + r20
    elif d2 >= d3:
        w, x, y, z = r02 - r20, r01 + r10, d2, r12 + r21
    else:
        w, x, y, z = r10 - r01, r02 + r20, r12 + r21, d3
    inverse = 1.0 / math.sqrt(w * w + x * x + y * y + z * z)
    if w < 0.0:
        inverse = -inverse
    return w * inverse, x * inverse, y * inverse, z * inverse


@numba.njit(cache=True, nogil=True)
def _neutral(args: FloatArray, atan_rows: range, asin_rows: range, k: int) -> None:
    """Arguments of zero angles (absent segments)."""
    for i in atan_rows:
        args[_Y_ATAN + i, k] = 0.0
        args[_X_ATAN + i, k] = 1.0
    for i in asin_rows:
        args[_S_ASIN + i, k] = 0.0


@numba.njit(cache=True, nogil=True)
def _joint_angle_arguments(
    quat: FloatArray,
    columns: NDArray[np.int64],
    cos_half_facing: FloatArray,
    sin_half_facing: FloatArray,
    args: FloatArray,
) -> None:
    """Arguments of every angle of every row into ``args`` (rows ``_Y_ATAN + i`` and
    ``_X_ATAN + i``: ``atan2`` of angle ``i`` of ``_ATAN_ROWS``; row ``_S_ASIN + i``: ``asin``
    of angle ``i`` of ``_ASIN_ROWS``); zero angles for absent segments. ``quat`` has shape
    ``(m, n, 4)``; ``columns`` holds the column of each of ``_SEGMENTS`` there (-1: absent)."""
    y, x, s = _Y_ATAN, _X_ATAN, _S_ASIN
    cp = columns[0]
    for k in range(cos_half_facing.size):
        # The room pelvis: Rz(facing) ⊗ neutral (room_pelvis_wxyz).
        ref = _multiply(cos_half_facing[k], 0.0, 0.0, sin_half_facing[k], *_NEUTRAL)
        if cp >= 0:
            pelvis = (quat[k, cp, 0], quat[k, cp, 1], quat[k, cp, 2], quat[k, cp, 3])
            a = _cardan_arguments(*_relative(*ref, *pelvis))
            args[y, k], args[x, k], args[s, k] = a[0], a[1], a[2]
            args[y + 1, k], args[x + 1, k] = a[3], a[4]
            ref = pelvis
        else:
            _neutral(args, range(2), range(1), k)
        for leg in range(2):
            i = 2 + 5 * leg
            j = 1 + 2 * leg
            cf = columns[1 + leg]
            ct = columns[3 + leg]
            if cf < 0:
                _neutral(args, range(i, i + 5), range(j, j + 2), k)
                continue
            f = (quat[k, cf, 0], quat[k, cf, 1], quat[k, cf, 2], quat[k, cf, 3])
            a = _cardan_arguments(*_relative(*ref, *f))
            args[y + i, k], args[x + i, k], args[s + j, k] = a[0], a[1], a[2]
            args[y + i + 1, k], args[x + i + 1, k] = a[3], a[4]
            if ct < 0:
                _neutral(args, range(i + 2, i + 5), range(j + 1, j + 2), k)
                continue
            t = (quat[k, ct, 0], quat[k, ct, 1], quat[k, ct, 2], quat[k, ct, 3])
            a = _cardan_arguments(*_relative(*f, *t))
            args[y + i + 2, k], args[x + i + 2, k], args[s + j + 1, k] = a[0], a[1], a[2]
            args[y + i + 3, k], args[x + i + 3, k] = a[3], a[4]
            a = _cardan_arguments(*_relative(*ref, *_pointer_femur(f, t)))
            args[y + i + 4, k], args[x + i + 4, k] = a[3], a[4]


#: Angles from atan2 (12 rows) and asin (5 rows): name and factor (side sign times degrees).
_ATAN_ROWS = (
    ("pelvis_tilt", 1.0),
    ("pelvis_rotation", 1.0),
    *(
        (name, factor)
        for side, mirror in (("r", 1.0), ("l", -1.0))
        for name, factor in (
            (f"hip_flexion_{side}", 1.0),
            (f"hip_rotation_{side}", mirror),
            (f"knee_angle_{side}", -1.0),
            (f"knee_rotation_{side}", mirror),
            (f"shank_rotation_{side}", mirror),
        )
    ),
)
_ASIN_ROWS = (
    ("pelvis_list", 1.0),
    *(
        (name, factor)
        for side, mirror in (("r", 1.0), ("l", -1.0))
        for name, factor in ((f"hip_adduction_{side}", mirror), (f"knee_adduction_{side}", mirror))
    ),
)
_ATAN_FACTORS = np.array([factor for _, factor in _ATAN_ROWS])[:, None] * _DEG_PER_RAD
_ASIN_FACTORS = np.array([factor for _, factor in _ASIN_ROWS])[:, None] * _DEG_PER_RAD
_PELVIS_COLUMNS = ("pelvis_tilt", "pelvis_list", "pelvis_rotation")
_HIP_COLUMNS = ("hip_flexion", "hip_adduction", "hip_rotation")
_KNEE_COLUMNS = ("knee_angle", "knee_adduction", "knee_rotation", "shank_rotation")


@functools.cache
def _columns(present: tuple[bool, ...]) -> tuple[tuple[str, bool, int], ...]:
    """Output columns of the segments present, in order: name, whether it comes from atan2
    (else asin), and its row there."""
    rows = {
        **{name: (True, i) for i, (name, _) in enumerate(_ATAN_ROWS)},
        **{name: (False, i) for i, (name, _) in enumerate(_ASIN_ROWS)},
    }
    names: list[str] = []
    if present[0]:
        names.extend(_PELVIS_COLUMNS)
    for leg, side in enumerate(("r", "l")):
        if present[1 + leg]:
            names.extend(f"{name}_{side}" for name in _HIP_COLUMNS)
        if present[1 + leg] and present[3 + leg]:
            names.extend(f"{name}_{side}" for name in _KNEE_COLUMNS)
    return tuple((name, *rows[name]) for name in names)


def joint_angles_deg(
    segments: Mapping[str, FloatArray], facing_rad: FloatArray
) -> dict[str, FloatArray]:
    """Rajagopal-named joint angles (plus knee and pointer extras), degrees.

    Parameters
    ----------
    segments : mapping of str to ndarray, shape (m, 4)
        ``quat_world_segment_wxyz`` of the segments present (``pelvis``, ``femur_r``,
        ``femur_l``, ``tibia_r``, ``tibia_l``), unit quaternions (NaN rows give NaN angles).
    facing_rad : ndarray, shape (m,)
        Room forward direction, rad: the reference of the pelvis angles, and of the hip angles
        when there is no pelvis board.

    Returns
    -------
    dict of str to ndarray, shape (m,)
        ``pelvis_tilt``, ``pelvis_list``, ``pelvis_rotation`` (with a pelvis);
        ``hip_flexion_*``, ``hip_adduction_*``, ``hip_rotation_*`` (with a femur);
        ``knee_angle_*``, ``knee_adduction_*``, ``knee_rotation_*`` and ``shank_rotation_*``
        (the shank as a pointer about the femoral axis; NaN under
        :data:`POINTER_MIN_KNEE_DEG` of knee flexion) with a femur and a tibia.

    Raises
    ------
    ValueError
        On an unknown segment name or an array that is not ``(m, 4)``.
    """
    facing = np.asarray(facing_rad, dtype=np.float64)
    if facing.ndim != 1:
        raise ValueError(f"facing_rad must have shape (m,), got {facing.shape}")
    m = facing.size
    quat = np.empty((m, len(segments), 4))
    columns = np.full(len(_SEGMENTS), -1, dtype=np.int64)
    for column, (name, value) in enumerate(segments.items()):
        i = _SEGMENT_INDEX.get(name)
        if i is None:
            raise ValueError(f"unknown segment {name!r}; expected one of {_SEGMENTS}")
        if value.shape != (m, 4):
            raise ValueError(f"segment {name!r} has shape {value.shape}, expected {(m, 4)}")
        quat[:, column] = value
        columns[i] = column
    return joint_angles_from_columns_deg(quat, columns, facing)


def joint_angles_from_columns_deg(
    quat_world_segment_wxyz: FloatArray, columns: NDArray[np.int64], facing_rad: FloatArray
) -> dict[str, FloatArray]:
    """:func:`joint_angles_deg` of segments held as the columns of one array (no copies).

    Parameters
    ----------
    quat_world_segment_wxyz : ndarray, shape (m, n, 4)
        Segment orientations in the common world frame, one segment per column.
    columns : ndarray of int64, shape (5,)
        Column of ``pelvis``, ``femur_r``, ``femur_l``, ``tibia_r`` and ``tibia_l`` (-1 where
        absent), each in ``range(n)`` and none twice.
    facing_rad : ndarray, shape (m,)
        Room forward direction, rad.

    Returns
    -------
    dict of str to ndarray, shape (m,)
        As :func:`joint_angles_deg`.
    """
    m = facing_rad.size
    args = np.empty((_N_ARGS, m))
    half = 0.5 * facing_rad
    _joint_angle_arguments(quat_world_segment_wxyz, columns, np.cos(half), np.sin(half), args)
    from_atan = np.arctan2(args[_Y_ATAN:_X_ATAN], args[_X_ATAN:_S_ASIN])
    from_atan *= _ATAN_FACTORS
    from_asin = np.arcsin(args[_S_ASIN:])
    from_asin *= _ASIN_FACTORS
    return {
        name: from_atan[row] if is_atan else from_asin[row]
        for name, is_atan, row in _columns(tuple((columns >= 0).tolist()))
    }
