"""Unit quaternions, scalar first (``wxyz``), vectorised over leading axes.

A quaternion ``quat_wxyz`` of a frame B relative to a frame A rotates vectors expressed in B into A:
``v_A = quat_rotate(quat_a_b_wxyz, v_B)`` (Hamilton product, active rotation). Every function takes
arrays of shape ``(..., 4)`` for quaternions and ``(..., 3)`` for vectors and broadcasts the
leading axes. SciPy stores quaternions scalar last; :func:`quat_to_scipy` and
:func:`quat_from_scipy` are the only crossing points.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial.transform import Rotation

FloatArray = NDArray[np.float64]

QUAT_IDENTITY_WXYZ: FloatArray = np.array([1.0, 0.0, 0.0, 0.0])


def as_quat_array(quat_wxyz: ArrayLike) -> FloatArray:
    """Return ``quat_wxyz`` as a float64 array of shape ``(..., 4)``.

    Raises
    ------
    ValueError
        If the last axis does not have length 4.
    """
    arr = np.asarray(quat_wxyz, dtype=np.float64)
    if arr.ndim == 0 or arr.shape[-1] != 4:
        raise ValueError(f"quaternions need a last axis of length 4 (w, x, y, z), got {arr.shape}")
    return arr


def _as_vec_array(vec: ArrayLike) -> FloatArray:
    arr = np.asarray(vec, dtype=np.float64)
    if arr.ndim == 0 or arr.shape[-1] != 3:
        raise ValueError(f"vectors need a last axis of length 3 (x, y, z), got {arr.shape}")
    return arr


def quat_multiply(p_wxyz: ArrayLike, q_wxyz: ArrayLike) -> FloatArray:
    """Hamilton product ``p ⊗ q`` (apply ``q`` first, then ``p``), shape ``(..., 4)``."""
    p = as_quat_array(p_wxyz)
    q = as_quat_array(q_wxyz)
    pw, px, py, pz = p[..., 0], p[..., 1], p[..., 2], p[..., 3]
    qw, qx, qy, qz = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.stack(
        [
            pw * qw - px * qx - py * qy - pz * qz,
            pw * qx + px * qw + py * qz - pz * qy,
            pw * qy - px * qz + py * qw + pz * qx,
            pw * qz + px * qy - py * qx + pz * qw,
        ],
        axis=-1,
    )


def quat_conjugate(quat_wxyz: ArrayLike) -> FloatArray:
    """Conjugate (the inverse of a unit quaternion), shape ``(..., 4)``."""
    q = as_quat_array(quat_wxyz)
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def quat_normalize(quat_wxyz: ArrayLike) -> FloatArray:
    """Scale to unit norm, shape ``(..., 4)``.

    Raises
    ------
    ValueError
        If any quaternion has (near) zero norm and therefore no orientation.
    """
    q = as_quat_array(quat_wxyz)
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    if np.any(norm < 1e-12):
        raise ValueError("cannot normalise a zero quaternion")
    return q / norm


def quat_canonical(quat_wxyz: ArrayLike) -> FloatArray:
    """Pick the sign with ``w >= 0`` (``q`` and ``-q`` are the same rotation)."""
    q = as_quat_array(quat_wxyz)
    return np.where(q[..., :1] < 0.0, -q, q)


def quat_relative(quat_parent_wxyz: ArrayLike, quat_child_wxyz: ArrayLike) -> FloatArray:
    """Orientation of the child frame relative to the parent: ``conj(parent) ⊗ child``.

    Both inputs are relative to a common frame (e.g. the world); the result rotates child-frame
    vectors into the parent frame.
    """
    return quat_multiply(quat_conjugate(quat_parent_wxyz), quat_child_wxyz)


def quat_rotate(quat_wxyz: ArrayLike, vec: ArrayLike) -> FloatArray:
    """Rotate vectors by unit quaternions: ``q ⊗ (0, v) ⊗ conj(q)``, shape ``(..., 3)``."""
    q = as_quat_array(quat_wxyz)
    v = _as_vec_array(vec)
    w = q[..., :1]
    u = q[..., 1:]
    t = 2.0 * np.cross(u, v)
    return v + w * t + np.cross(u, t)


def quat_from_axis_angle(axis: ArrayLike, angle_rad: ArrayLike) -> FloatArray:
    """Quaternion of a rotation by ``angle_rad`` about ``axis`` (normalised here).

    Parameters
    ----------
    axis : array_like, shape (..., 3)
        Rotation axis; need not be unit length but must not be zero.
    angle_rad : array_like, shape (...)
        Rotation angle in radians, right-hand rule.
    """
    a = _as_vec_array(axis)
    norm = np.linalg.norm(a, axis=-1, keepdims=True)
    if np.any(norm < 1e-12):
        raise ValueError("rotation axis must not be zero")
    half = 0.5 * np.asarray(angle_rad, dtype=np.float64)[..., None]
    return np.concatenate([np.cos(half), np.sin(half) * a / norm], axis=-1)


def quat_from_rotvec(rotvec_rad: ArrayLike) -> FloatArray:
    """Quaternion from a rotation vector (axis times angle in radians), shape ``(..., 4)``."""
    r = _as_vec_array(rotvec_rad)
    angle: FloatArray = np.linalg.norm(r, axis=-1, keepdims=True)
    half = 0.5 * angle
    # sin(half)/angle, with its limit 1/2 for small angles (Taylor series to 4th order).
    small = angle < 1e-6
    safe: FloatArray = np.where(small, 1.0, angle)
    scale: FloatArray = np.where(small, 0.5 - angle * angle / 48.0, np.sin(half) / safe)
    return np.concatenate([np.cos(half), scale * r], axis=-1)


def quat_to_rotvec(quat_wxyz: ArrayLike) -> FloatArray:
    """Rotation vector (axis times angle in radians, angle in [0, pi]), shape ``(..., 3)``."""
    q = quat_canonical(as_quat_array(quat_wxyz))
    u = q[..., 1:]
    sin_half = np.linalg.norm(u, axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(sin_half, q[..., :1])
    small = sin_half < 1e-9
    scale = np.where(
        small, 2.0 / np.maximum(q[..., :1], 1e-12), angle / np.where(small, 1, sin_half)
    )
    return scale * u


def quat_angle_rad(quat_a_wxyz: ArrayLike, quat_b_wxyz: ArrayLike) -> FloatArray:
    """Smallest rotation angle (radians, in [0, pi]) between two orientations, shape ``(...)``."""
    rel = quat_relative(quat_a_wxyz, quat_b_wxyz)
    w = np.abs(rel[..., 0])
    vec = np.linalg.norm(rel[..., 1:], axis=-1)
    return 2.0 * np.arctan2(vec, w)


def quat_to_matrix(quat_wxyz: ArrayLike) -> FloatArray:
    """Rotation matrices of unit quaternions, shape ``(..., 3, 3)``."""
    q = as_quat_array(quat_wxyz)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        axis=-2,
    )


def quat_from_matrix(matrix: ArrayLike) -> FloatArray:
    """Unit quaternions (``w >= 0``) of rotation matrices, shape ``(..., 4)``.

    Shepperd's method (Shepperd 1978, Journal of Guidance and Control 1(3):223-224,
    doi:10.2514/3.55767b): of the four products ``4 q_k q`` that the matrix gives linearly, the
    one whose ``q_k`` is largest (largest of the trace and the diagonal) is normalised, so no
    division by a small number happens anywhere on the rotation group. A slightly non-orthogonal
    matrix gives the quaternion of a nearby rotation; NaN entries give NaN rows.

    Parameters
    ----------
    matrix : array_like, shape (..., 3, 3)
        Rotation matrices (columns are the rotated frame's axes in the reference frame, as
        :func:`quat_to_matrix` returns them).

    Raises
    ------
    ValueError
        If the last two axes are not 3 x 3.
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim < 2 or m.shape[-2:] != (3, 3):
        raise ValueError(f"rotation matrices need trailing axes (3, 3), got {m.shape}")
    r00, r01, r02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    r10, r11, r12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    r20, r21, r22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    # Row k is 4 q_k (w, x, y, z); its k-th entry is 4 q_k^2.
    candidates = np.stack(
        [
            np.stack([1.0 + r00 + r11 + r22, r21 - r12, r02 - r20, r10 - r01], axis=-1),
            np.stack([r21 - r12, 1.0 + r00 - r11 - r22, r01 + r10, r02 + r20], axis=-1),
            np.stack([r02 - r20, r01 + r10, 1.0 - r00 + r11 - r22, r12 + r21], axis=-1),
            np.stack([r10 - r01, r02 + r20, r12 + r21, 1.0 - r00 - r11 + r22], axis=-1),
        ],
        axis=-2,
    )
    largest = np.argmax(np.diagonal(candidates, axis1=-2, axis2=-1), axis=-1)
    q = np.take_along_axis(candidates, largest[..., None, None], axis=-2)[..., 0, :]
    return quat_canonical(q / np.linalg.norm(q, axis=-1, keepdims=True))


def quat_to_scipy(quat_wxyz: ArrayLike) -> Rotation:
    """SciPy ``Rotation`` from ``wxyz`` quaternions (the one crossing into scalar-last order)."""
    q = as_quat_array(quat_wxyz)
    return Rotation.from_quat(q[..., [1, 2, 3, 0]])


def quat_from_scipy(rotation: Rotation) -> FloatArray:
    """``wxyz`` quaternions from a SciPy ``Rotation``, shape ``(..., 4)``."""
    xyzw = np.asarray(rotation.as_quat(), dtype=np.float64)
    return xyzw[..., [3, 0, 1, 2]]


def quat_slerp(quat_a_wxyz: ArrayLike, quat_b_wxyz: ArrayLike, fraction: ArrayLike) -> FloatArray:
    """Spherical linear interpolation from ``a`` (fraction 0) to ``b`` (fraction 1)."""
    a = as_quat_array(quat_a_wxyz)
    rel = quat_relative(a, quat_b_wxyz)
    rotvec = quat_to_rotvec(rel)
    step = quat_from_rotvec(rotvec * np.asarray(fraction, dtype=np.float64)[..., None])
    return quat_multiply(a, step)


def angular_velocity_body_rad_s(quat_wxyz: ArrayLike, rate_hz: float) -> FloatArray:
    """Body-frame angular velocity between consecutive orientations, shape ``(N - 1, 3)``.

    Row ``i`` is the constant rate (rad/s, in the body frame) that turns sample ``i`` into
    sample ``i + 1`` over one period ``1 / rate_hz``: ``rotvec(conj(q_i) ⊗ q_{i+1}) * rate_hz``.
    This is what an ideal strapdown gyroscope integrates to between the two samples.
    """
    q = as_quat_array(quat_wxyz)
    if q.ndim != 2:
        raise ValueError(f"expected a series of quaternions with shape (N, 4), got {q.shape}")
    if rate_hz <= 0:
        raise ValueError(f"rate_hz must be positive, got {rate_hz}")
    return quat_to_rotvec(quat_relative(q[:-1], q[1:])) * rate_hz


def integrate_gyr_rad_s(
    quat_start_wxyz: ArrayLike, gyr_rad_s: ArrayLike, rate_hz: float
) -> FloatArray:
    """Strapdown integration of body-frame rates held constant over each period.

    Parameters
    ----------
    quat_start_wxyz : array_like, shape (4,)
        Orientation at the first sample.
    gyr_rad_s : array_like, shape (N, 3)
        Body-frame angular velocity, rad/s, row ``i`` acting from sample ``i`` to ``i + 1``.
    rate_hz : float
        Sample rate in Hz.

    Returns
    -------
    ndarray, shape (N + 1, 4)
        Orientations at every sample, starting with ``quat_start_wxyz``.
    """
    gyr = _as_vec_array(gyr_rad_s)
    steps = quat_from_rotvec(gyr / rate_hz)
    out = np.empty((gyr.shape[0] + 1, 4))
    out[0] = quat_normalize(quat_start_wxyz)
    for i in range(gyr.shape[0]):
        out[i + 1] = quat_multiply(out[i], steps[i])
    return out
