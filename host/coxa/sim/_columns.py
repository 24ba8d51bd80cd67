"""Quaternion and vector arithmetic on separate component columns (the simulator's hot path).

The motion truth is evaluated at hundreds of thousands of times per board. ``coxa.geometry``
works on interleaved ``(N, 4)`` / ``(N, 3)`` arrays, which costs strided reads and a stacking
copy per operation; here a quaternion is a tuple of four contiguous ``(N,)`` columns (``w, x,
y, z``) and a vector a tuple of three. Every function performs the *same floating-point
operations in the same order* as its ``coxa.geometry`` counterpart (named in its docstring), so
results are bit-identical; ``tests/sim/test_columns.py`` checks that. A constant quaternion or
vector has columns of shape ``(1,)``, which broadcast.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from coxa.geometry import FloatArray

#: Quaternion ``(w, x, y, z)`` as columns.
QuatCols = tuple[FloatArray, FloatArray, FloatArray, FloatArray]
#: Vector ``(x, y, z)`` as columns.
VecCols = tuple[FloatArray, FloatArray, FloatArray]


def quat_cols(quat_wxyz: ArrayLike) -> QuatCols:
    """Contiguous float64 columns of ``(N, 4)`` quaternions (or one ``(4,)``: ``(1,)`` each)."""
    a = np.asarray(quat_wxyz, dtype=np.float64).reshape(-1, 4)
    w, x, y, z = (np.ascontiguousarray(a[:, k]) for k in range(4))
    return w, x, y, z


def vec_cols(vec: ArrayLike) -> VecCols:
    """Contiguous float64 columns of ``(N, 3)`` vectors (or one ``(3,)``: ``(1,)`` each)."""
    a = np.asarray(vec, dtype=np.float64).reshape(-1, 3)
    x, y, z = (np.ascontiguousarray(a[:, k]) for k in range(3))
    return x, y, z


def join(columns: tuple[FloatArray, ...], n: int) -> FloatArray:
    """Stack columns (``(1,)`` columns broadcast to ``n`` rows) into an ``(n, K)`` array."""
    out = np.empty((n, len(columns)), dtype=np.float64)
    for k, column in enumerate(columns):
        out[:, k] = column
    return out


def multiply(p: QuatCols, q: QuatCols) -> QuatCols:
    """Hamilton product ``p ⊗ q`` (:func:`coxa.geometry.quat_multiply`)."""
    pw, px, py, pz = p
    qw, qx, qy, qz = q
    return (
        pw * qw - px * qx - py * qy - pz * qz,
        pw * qx + px * qw + py * qz - pz * qy,
        pw * qy - px * qz + py * qw + pz * qx,
        pw * qz + px * qy - py * qx + pz * qw,
    )


def conjugate(q: QuatCols) -> QuatCols:
    """Conjugate (:func:`coxa.geometry.quat_conjugate`: a product with ``(1, -1, -1, -1)``)."""
    w, x, y, z = q
    return (w * 1.0, x * -1.0, y * -1.0, z * -1.0)


def from_axis_angle(axis: FloatArray, angle_rad: FloatArray) -> QuatCols:
    """Rotation by ``angle_rad`` about a constant ``axis`` of shape ``(3,)``
    (:func:`coxa.geometry.quat_from_axis_angle`)."""
    norm = np.linalg.norm(axis, axis=-1, keepdims=True)
    if np.any(norm < 1e-12):
        raise ValueError("rotation axis must not be zero")
    half = 0.5 * np.asarray(angle_rad, dtype=np.float64)
    sin_half = np.sin(half)
    return (
        np.asarray(np.cos(half), dtype=np.float64),
        sin_half * axis[0] / norm,
        sin_half * axis[1] / norm,
        sin_half * axis[2] / norm,
    )


_X_AXIS = np.array([1.0, 0.0, 0.0])
_Y_AXIS = np.array([0.0, 1.0, 0.0])
_Z_AXIS = np.array([0.0, 0.0, 1.0])


def from_cardan_zxy(alpha: FloatArray, beta: FloatArray, gamma: FloatArray) -> QuatCols:
    """``Rz(alpha) Rx(beta) Ry(gamma)`` (:func:`coxa.geometry.quat_from_cardan_zxy`)."""
    qz = from_axis_angle(_Z_AXIS, alpha)
    qx = from_axis_angle(_X_AXIS, beta)
    qy = from_axis_angle(_Y_AXIS, gamma)
    return multiply(multiply(qz, qx), qy)


def _cross(a: VecCols, b: VecCols) -> VecCols:
    """``a x b`` in the operation order of ``numpy.cross``."""
    a0, a1, a2 = a
    b0, b1, b2 = b
    return (a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0)


def rotate(q: QuatCols, v: VecCols) -> VecCols:
    """Rotate vectors by unit quaternions (:func:`coxa.geometry.quat_rotate`)."""
    w, x, y, z = q
    u = (x, y, z)
    c = _cross(u, v)
    t = (2.0 * c[0], 2.0 * c[1], 2.0 * c[2])
    d = _cross(u, t)
    return (v[0] + w * t[0] + d[0], v[1] + w * t[1] + d[1], v[2] + w * t[2] + d[2])
